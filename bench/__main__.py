"""python -m bench: run the scenarios, print their tables, save the raw numbers."""

import argparse
import json
import tempfile
import time
from pathlib import Path

from . import capacity, fanout, pace, pages, queue, replay, storm
from .harness import machine, save


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    scenarios = ["fanout", "storm", "pages", "pace", "queue", "capacity", "replay"]
    parser.add_argument("scenarios", nargs="*", default=scenarios)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--head-office", type=int, default=0,
                        help="clients subscribed to every outlet")  # fmt: skip
    parser.add_argument("--modes", default="eventlet,gevent,threading,baseline")
    parser.add_argument("--storm-clients", type=int, default=1000)
    parser.add_argument("--storm-window", type=float, default=5.0, help="seconds")
    parser.add_argument("--page-users", type=int, default=50)
    parser.add_argument("--page-seconds", type=int, default=10)
    parser.add_argument("--think-ms", type=int, default=1000,
                        help="pages: a thinking user's pause between requests")  # fmt: skip
    parser.add_argument("--pages", default=",".join(pages.PAGES),
                        help="pages: which of them, comma-separated")  # fmt: skip
    parser.add_argument("--page-outlets", type=int, default=1,
                        help="pages: outlets besides the demo site's 14")  # fmt: skip
    parser.add_argument("--pace-outlets", type=int, default=500)
    parser.add_argument("--queue-seconds", type=float, default=5.0)
    parser.add_argument("--capacity-clients", type=int, default=1000,
                        help="capacity: sockets, all in one outlet's room")  # fmt: skip
    parser.add_argument("--replay-sales", type=int, default=500)
    parser.add_argument("--replay-screens", type=int, default=50)
    parser.add_argument("--server", default="gevent", help="async mode for storm and pages")
    parser.add_argument("--web-processes", type=int, default=1,
                        help="web processes on one Redis, behind nginx")  # fmt: skip
    args = parser.parse_args()
    if unknown := set(args.pages.split(",")) - set(pages.PAGES):
        parser.error(f"--pages: no page called {', '.join(sorted(unknown))}; {list(pages.PAGES)}")
    info = machine()
    print("machine:", json.dumps(info))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    where = f"{args.web_processes} web processes behind nginx" if args.web_processes > 1 else ""

    def record(scenario, table):
        return save(f"{scenario}-{stamp}", {"args": vars(args), "machine": info, "table": table})

    def report(scenario, table, title):
        """Print a scenario's table (scenario: its module) and save its numbers."""
        print(scenario.markdown(table, title))
        print("saved", record(scenario.__name__.removeprefix("bench."), table))

    if "fanout" in args.scenarios:
        table = fanout.scenario(
            args.modes.split(","), args.clients, args.rooms, args.rate, args.seconds, args.runs,
            args.head_office, progress=lambda partial: record("fanout", partial),
            web_processes=args.web_processes,
        )  # fmt: skip
        title = (f"Live fan-out: {args.clients} clients, {args.rooms} rooms, {args.rate:g} "
                 f"events/s for {args.seconds:g} s, head office {args.head_office} {where}; median "
                 f"(min–max) of {args.runs} runs")  # fmt: skip
        report(fanout, table, title)
    if "storm" in args.scenarios:
        table = storm.scenario(
            args.storm_clients, args.storm_window, args.runs, args.server, args.web_processes
        )
        title = (
            f"Reconnect storm: {args.storm_clients} clients of one outlet reconnect within "
            f"{args.storm_window:g} s ({args.server} {where}); median (min–max) of {args.runs} runs"
        )
        report(storm, table, title)
    if "pages" in args.scenarios:
        table = pages.scenario(
            args.server,
            args.page_users,
            args.page_seconds,
            args.runs,
            args.think_ms,
            args.web_processes,
            args.pages.split(","),
            args.page_outlets,
        )
        title = (
            f"Pages: {args.page_users} concurrent users for {args.page_seconds} s each, "
            f"{args.page_outlets + 14} outlets "
            f"({args.server} {where}); median (min–max) of {args.runs} runs"
        )
        report(pages, table, title)
    if "pace" in args.scenarios:
        with tempfile.TemporaryDirectory() as tmp:
            table = pace.scenario(args.pace_outlets, Path(tmp))
        title = (f"Pace and quiet marks: what {args.pace_outlets} outlets cost Frappe in a day "
                 "(gevent)")  # fmt: skip
        report(pace, table, title)
    if "queue" in args.scenarios:
        rows = queue.scenario(args.queue_seconds)
        title = f"The Redis message queue: {args.queue_seconds:g} s of sales, as fast as they go"
        report(queue, rows, title)
    if "capacity" in args.scenarios:
        table = capacity.scenario(args.capacity_clients, args.seconds)
        title = (f"Capacity: {args.capacity_clients} sockets in one room, sales/s raised until "
                 f"p99 passes {capacity.LIMIT_MS:g} ms, {args.seconds:g} s a step")  # fmt: skip
        report(capacity, table, title)

    if "replay" in args.scenarios:
        with tempfile.TemporaryDirectory() as tmp:
            table = replay.scenario(args.replay_sales, args.replay_screens, Path(tmp))
        title = (f"Replay of large sales: {args.replay_screens} screens ask for a feed of "
                 f"{args.replay_sales} sales of ~220 KB at once (gevent)")  # fmt: skip
        report(replay, table, title)


if __name__ == "__main__":
    main()
