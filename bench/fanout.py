"""Scenario 1, live fan-out: N clients over M outlet rooms, Frappe-format sales at R/s for T s.

For each async mode and for a Node baseline that does what Frappe's realtime server does (every
event to every client): end-to-end latency from PUBLISH to receipt, delivered/expected,
misrouted (an event at a client of another outlet), server CPU, peak RSS, memory per client.
"""

import json
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil

from devtools.redis_server import free_port, start_redis

from .harness import (
    ROOT,
    Sampler,
    Stack,
    login_cookie,
    publish_sales,
    rss,
    stop,
    summarise,
)

KEYS = ["p50", "p95", "p99", "max", "delivered_pct", "misrouted", "cpu_s", "peak_rss_mb",
        "kib_per_client", "msgs_per_client", "bytes_per_client"]  # fmt: skip


def outlets(rooms: int) -> list[str]:
    """Outlet names the benchmark's demo Frappe knows (started with --extra-outlets)."""
    return [f"BENCH-{i:04d}" for i in range(rooms)]


def run_loadgen(config: dict) -> tuple[subprocess.Popen, dict]:
    process = subprocess.Popen(
        ["node", str(ROOT / "bench" / "loadgen.mjs"), json.dumps(config)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    ready = json.loads(process.stdout.readline())
    return process, ready


def finish_loadgen(process: subprocess.Popen) -> dict:
    process.stdin.write("done\n")
    process.stdin.flush()
    result = json.loads(process.stdout.readline())
    process.wait(timeout=30)
    return result


def one_run(mode: str, clients: int, rooms: list[str], rate: float, seconds: float,
            head_office: int, tmp: Path, web_processes: int = 1) -> dict:  # fmt: skip
    if mode == "baseline":
        return baseline_run(clients, rooms, rate, seconds, tmp)
    with Stack(mode, tmp, web_processes=web_processes) as stack:
        cookie = login_cookie(stack.web_url)
        workers = stack.web_workers()
        idle_rss = rss(workers)
        config = {"url": stack.web_url, "cookie": cookie, "clients": clients, "outlets": rooms,
                  "mode": "rooms", "extra_all": head_office}  # fmt: skip
        loadgen, ready = run_loadgen(config)
        connected_rss = rss(workers)
        return measure(loadgen, ready, workers, idle_rss, connected_rss, stack.frappe_redis_url,
                       clients, rooms, rate, seconds, head_office)  # fmt: skip


def baseline_run(clients, rooms, rate, seconds, tmp: Path) -> dict:
    port, redis_port = free_port(), free_port()
    frappe_redis = start_redis(redis_port, tmp / "baseline")
    url = f"redis://127.0.0.1:{redis_port}/0"
    server = subprocess.Popen(
        ["node", str(ROOT / "bench" / "baseline_server.mjs"), str(port), url],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        server.stdout.readline()
        workers = [psutil.Process(server.pid)]
        idle_rss = rss(workers)
        config = {"url": f"http://127.0.0.1:{port}", "cookie": None, "clients": clients,
                  "outlets": rooms, "mode": "broadcast"}  # fmt: skip
        loadgen, ready = run_loadgen(config)
        connected_rss = rss(workers)
        return measure(loadgen, ready, workers, idle_rss, connected_rss, url, clients, rooms,
                       rate, seconds, 0, broadcast=True)  # fmt: skip
    finally:
        stop(server)
        stop(frappe_redis)


def measure(loadgen, ready, workers, idle_rss, connected_rss, frappe_redis_url, clients, rooms,
            rate, seconds, head_office, broadcast=False) -> dict:  # fmt: skip
    sampler = Sampler(workers)
    sampler.start()
    sent = publish_sales(frappe_redis_url, rooms, rate, seconds)
    time.sleep(2)  # let the last events drain
    usage = sampler.finish()
    result = finish_loadgen(loadgen)
    per_outlet = Counter(sent)
    if broadcast:
        expected = clients * len(sent)
    else:
        # Each client watches one outlet; head-office clients watch every outlet.
        watchers = Counter(rooms[i % len(rooms)] for i in range(head_office, clients))
        expected = sum(per_outlet[o] * watchers[o] for o in per_outlet) + head_office * len(sent)
    result.update(usage)
    result.update({
        "expected": expected,
        "delivered_pct": 100.0 * result["delivered"] / expected if expected else 0.0,
        "kib_per_client": (connected_rss - idle_rss) / 1024 / max(ready["connected"], 1),
        "msgs_per_client": result["delivered"] / max(clients, 1),
        "bytes_per_client": result["bytes"] / max(clients, 1),
        "setup_s": ready["setup_s"],
    })  # fmt: skip
    # In broadcast mode "misrouted" counts what a one-outlet manager gets of other outlets.
    return result


def scenario(modes, clients, rooms, rate, seconds, runs, head_office=0, progress=None,
             web_processes=1) -> dict:  # fmt: skip
    """Every mode's runs and summary; `progress(table)` after each mode keeps partial results."""
    room_names = outlets(rooms)
    table = {}
    for mode in modes:
        results = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                results.append(one_run(mode, clients, room_names, rate, seconds, head_office,
                                       Path(tmp), web_processes))  # fmt: skip
        table[mode] = {"runs": results, "summary": summarise(results, KEYS)}
        if progress:
            progress(table)
    return table


def markdown(table: dict, title: str) -> str:
    from .harness import cell

    lines = [f"**{title}**", "",
             "| server | p50 ms | p95 ms | p99 ms | max ms | delivered % | misrouted | CPU s "
             "| peak RSS MB | KiB/client | msgs/client | bytes/client |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for mode, data in table.items():
        s = data["summary"]
        lines.append(
            f"| {mode} | {cell(s.get('p50'))} | {cell(s.get('p95'))} | {cell(s.get('p99'))} "
            f"| {cell(s.get('max'))} | {cell(s.get('delivered_pct'))} "
            f"| {cell(s.get('misrouted'), 0)} | {cell(s.get('cpu_s'))} "
            f"| {cell(s.get('peak_rss_mb'))} | {cell(s.get('kib_per_client'))} "
            f"| {cell(s.get('msgs_per_client'), 0)} | {cell(s.get('bytes_per_client'), 0)} |"
        )
    return "\n".join(lines)
