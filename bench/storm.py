"""Scenario 2, reconnect storm: clients of one outlet drop and reconnect within a few seconds
(a mall's Wi-Fi comes back). Frappe calls made, time until every client has its snapshot,
and events missed (sales published before and during the storm, replayed from the feed).
"""

import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .harness import ROOT, Stack, cell, login_cookie, publish_sales, summarise

OUTLET = "BENCH-0000"
KEYS = ["frappe_calls", "p50_ms", "p99_ms", "max_ms", "all_done_ms", "missed", "resynced_pct"]


def one_run(clients: int, window: float, mode: str, tmp: Path, web_processes: int = 1) -> dict:
    with Stack(mode, tmp, outlets=1, web_processes=web_processes) as stack:
        storm = subprocess.Popen(
            ["node", str(ROOT / "bench" / "storm.mjs"), json.dumps(
                {"url": stack.web_url, "cookie": login_cookie(stack.web_url), "clients": clients,
                 "outlet": OUTLET, "window_ms": window * 1000})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        json.loads(storm.stdout.readline())
        published = invoices(stack, 5, 5.0)  # before the storm
        time.sleep(1)
        before = calls(stack)
        during: list[str] = []
        publisher = threading.Thread(target=lambda: during.extend(invoices(stack, 10, window)))
        storm.stdin.write(json.dumps({"storm": True}) + "\n")
        storm.stdin.flush()
        publisher.start()
        result = json.loads(storm.stdout.readline())
        publisher.join()
        time.sleep(1)
        result["frappe_calls"] = calls(stack) - before
        storm.stdin.write(json.dumps({"expected": published + during}) + "\n")
        storm.stdin.flush()
        result.update(json.loads(storm.stdout.readline()))
        storm.wait(timeout=30)
        result["resynced_pct"] = 100.0 * result["snapshots"] / clients
        return result


def invoices(stack, count: int, seconds: float) -> list[str]:
    """Publish sales and return their invoice names (read back from the feed's stream)."""
    import redis

    client = redis.Redis.from_url(stack.redis_url)
    last = client.xrevrange(f"feed:{OUTLET}", count=1)
    publish_sales(stack.frappe_redis_url, [OUTLET], count / seconds, seconds)
    time.sleep(0.5)
    start = f"({last[0][0].decode()}" if last else "-"
    entries = client.xrange(f"feed:{OUTLET}", min=start)
    return [json.loads(fields[b"event"])["invoice"] for _, fields in entries]


def calls(stack) -> int:
    counted = stack.frappe_calls()
    return sum(n for path, n in counted.items() if "/api/" in path and "login" not in path)


def scenario(clients: int, window: float, runs: int, mode: str, web_processes: int = 1) -> dict:
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(one_run(clients, window, mode, Path(tmp), web_processes))
    return {"runs": results, "summary": summarise(results, KEYS)}


def markdown(table: dict, title: str) -> str:
    s = table["summary"]
    return "\n".join([
        f"**{title}**", "",
        "| Frappe calls | reconnect→snapshot p50 ms | p99 ms | max ms | all resynced after ms "
        "| resynced % | events missed |",
        "|---|---|---|---|---|---|---|",
        f"| {cell(s.get('frappe_calls'), 0)} | {cell(s.get('p50_ms'), 0)} | "
        f"{cell(s.get('p99_ms'), 0)} | {cell(s.get('max_ms'), 0)} | "
        f"{cell(s.get('all_done_ms'), 0)} | {cell(s.get('resynced_pct'))} "
        f"| {cell(s.get('missed'), 0)} |",
    ])  # fmt: skip
