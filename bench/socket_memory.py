"""What an idle socket holds: `python -m bench.socket_memory [sockets] [--trace] [--batch N]`.

Runs a benchmark stack whose gunicorn worker is the Procfile's (`-k gevent`, gunicorn.conf.py)
with a memory account on a signal (bench/socket_memory_config.py), connects that many sockets of
one outlet from the Node load generator (N at a time, 200 by default), and compares the accounts
taken before and after, per socket: resident memory by kind of mapping, and what glibc's malloc
and Python's pymalloc hold in use and free. With --trace, tracemalloc runs too and the bytes per
socket by file and by line are printed (tracemalloc's own bookkeeping then adds to resident).
A profile for docs/benchmarks.md, not a scenario.
"""

import argparse
import json
import os
import signal
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil

from .fanout import finish_loadgen, run_loadgen
from .harness import Stack, login_cookie, wait_until

PACKAGES = str(Path(psutil.__file__).parent.parent) + "/"
CONFIG = Path(__file__).with_name("socket_memory_config.py")


def connect(url: str, cookie: str, clients: int, batch: int = 200):
    config = {"url": url, "cookie": cookie, "clients": clients, "outlets": ["BENCH-0000"],
              "mode": "rooms", "extra_all": 0, "batch": batch,
              "pause_ms": 0 if batch >= 200 else 50}  # fmt: skip
    return run_loadgen(config)[0]


def account(worker: psutil.Process, folder: Path, number: int, trace: bool):
    """The worker's memory account, and its tracemalloc snapshot when tracing."""
    worker.send_signal(signal.SIGUSR2)
    path = folder / f"{number}.json"
    wait_until(lambda: path.exists() and path.stat().st_size > 0, what="the worker's account")
    time.sleep(0.5)  # the last write
    snapshot = tracemalloc.Snapshot.load(str(folder / f"{number}.snapshot")) if trace else None
    return json.loads(path.read_text()), snapshot


def main(sockets: int, trace: bool, batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GUNICORN_CMD_ARGS"] = f"--config {CONFIG}"
        os.environ["SOCKET_MEMORY_SNAPSHOTS"] = tmp
        os.environ["SOCKET_MEMORY_TRACE"] = "1" if trace else "0"
        with Stack("gevent", Path(tmp), outlets=1) as stack:
            worker, url = stack.web_workers()[0], stack.web_url
            cookie = login_cookie(url)
            finish_loadgen(connect(url, cookie, 20))  # lazy imports and caches, before measuring
            before = account(worker, Path(tmp), 1, trace)
            loadgen = connect(url, cookie, sockets, batch)
            # Past the 5 s a new connection has to send CONNECT (SOCKET_CONNECT_SECONDS), whose
            # timer each connection starts: only what an idle socket keeps is counted.
            time.sleep(8)
            after = account(worker, Path(tmp), 2, trace)
            report_account(before[0], after[0], sockets)
            if trace:
                report_trace(before[1], after[1], sockets)
            finish_loadgen(loadgen)


def report_account(before: dict, after: dict, sockets: int) -> None:
    def each(grown: int) -> str:
        return f"{grown / sockets / 1024:6.1f}"

    print(f"{sockets} sockets, KiB per socket:")
    print(
        f"{each(after['uncollected'] - before['uncollected'])}  resident, before collecting garbage"
    )
    grown = {kind: after["resident"][kind] - before["resident"][kind] for kind in after["resident"]}
    print(
        f"{each(sum(grown.values()))}  resident: "
        + ", ".join(f"{kind} {each(size).strip()}" for kind, size in grown.items())
    )
    for allocator in ("glibc", "pymalloc"):
        fields = {
            field: after[allocator][field] - before[allocator][field] for field in after[allocator]
        }
        print(
            f"{'':6}  {allocator}: "
            + ", ".join(f"{field} {each(size).strip()}" for field, size in fields.items())
        )


def report_trace(before, after, sockets: int) -> None:
    traced = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    print(f"traced {traced / sockets / 1024:.1f} KiB each")
    for key in ("filename", "lineno"):
        print(f"\nbytes per socket by {key}:")
        for stat in after.compare_to(before, key)[:15]:
            frame = stat.traceback[0]
            where = frame.filename.replace(PACKAGES, "")
            where += f":{frame.lineno}" if key == "lineno" else ""
            print(f"{stat.size_diff / sockets:8.0f}  {where}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.socket_memory")
    parser.add_argument("sockets", type=int, nargs="?", default=1000)
    parser.add_argument("--trace", action="store_true", help="tracemalloc by file and line")
    parser.add_argument("--batch", type=int, default=200, help="sockets connecting at once")
    arguments = parser.parse_args()
    main(arguments.sockets, arguments.trace, arguments.batch)
