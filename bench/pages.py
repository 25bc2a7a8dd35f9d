"""Scenario 3, pages: the outlet page and its JSON, the overview and the locator under 50
concurrent users (wrk), with a warm cache and with a cold one (figures cached for 1 ms):
requests/s, latency percentiles, and Frappe calls per 1,000 requests.

Each page is loaded twice: by users with no think time (a closed loop: the server at
saturation, where latency is mostly queueing) and by users who wait about a second between
requests (people clicking around, or scripts polling every second).
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .harness import ROOT, Stack, cell, login_cookie, summarise

SCRIPT = ROOT / "bench" / "users.lua"

PAGES = {
    "outlet page": "/outlets/BENCH-0000",
    "outlet JSON": "/api/outlets/BENCH-0000/summary",
    "overview": "/",
    "locator": "/locator",
}
KEYS = ["rps", "p50", "p95", "p99", "frappe_per_1000", "errors",
        "think_rps", "think_p50", "think_p95", "think_p99"]  # fmt: skip


def wrk(url: str, cookie: str, connections: int, seconds: int, think_ms: int = 0) -> dict:
    """One wrk run: `connections` users, each waiting about `think_ms` between requests."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed for the pages scenario: apt-get install wrk")
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(SCRIPT),
         "-H", f"Cookie: {cookie}", url],
        capture_output=True, text=True, check=True,
        env={**os.environ, "WRK_THINK_MS": str(think_ms)},
    ).stdout  # fmt: skip
    us = {int(p): int(v) for p, v in re.findall(r"^percentile (\d+) (\d+)$", out, re.M)}
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        **{f"p{p}": us[p] / 1000 for p in (50, 95, 99)},
        "requests": total,
        "errors": int(bad.group(1)) if bad else 0,
    }


def one_run(mode: str, cold: bool, users: int, seconds: int, think_ms: int, tmp: Path,
            web_processes: int, pages: list[str], outlets: int = 1) -> dict:  # fmt: skip
    settings = {"FIGURES_CACHE_SECONDS": "0.001"} if cold else {}
    with Stack(mode, tmp, outlets=outlets, web_processes=web_processes, **settings) as stack:
        cookie = login_cookie(stack.web_url)
        results = {}
        for name in pages:
            path = PAGES[name]
            before = stack.frappe_requests()
            result = wrk(stack.web_url + path, cookie, users, seconds)
            calls = stack.frappe_requests() - before
            result["frappe_per_1000"] = 1000.0 * calls / max(result["requests"], 1)
            thinking = wrk(stack.web_url + path, cookie, users, seconds, think_ms)
            result.update({f"think_{key}": thinking[key] for key in ("rps", "p50", "p95", "p99")})
            results[name] = result
        return results


def scenario(mode: str, users: int, seconds: int, runs: int, think_ms: int = 1000,
             web_processes: int = 1, pages: list[str] | None = None,
             outlets: int = 1) -> dict:  # fmt: skip
    pages = pages or list(PAGES)
    table = {}
    for cold in (False, True):
        runs_out = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                runs_out.append(
                    one_run(
                        mode,
                        cold,
                        users,
                        seconds,
                        think_ms,
                        Path(tmp),
                        web_processes,
                        pages,
                        outlets,
                    )
                )
        for name in pages:
            rows = [run[name] for run in runs_out]
            table[f"{name} ({'cold' if cold else 'warm'})"] = summarise(rows, KEYS)
    return table


def markdown(table: dict, title: str) -> str:
    lines = [f"**{title}**", "",
             "| page | no think time: requests/s | p50 ms | p95 ms | p99 ms "
             "| Frappe calls / 1,000 requests | thinking users: requests/s | p50 ms | p95 ms "
             "| p99 ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, s in table.items():
        lines.append(
            f"| {name} | {cell(s.get('rps'), 0)} | {cell(s.get('p50'))} | {cell(s.get('p95'))} "
            f"| {cell(s.get('p99'))} | {cell(s.get('frappe_per_1000'))} "
            f"| {cell(s.get('think_rps'), 0)} | {cell(s.get('think_p50'))} "
            f"| {cell(s.get('think_p95'))} | {cell(s.get('think_p99'))} |"
        )
    return "\n".join(lines)
