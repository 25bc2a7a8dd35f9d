"""Scenario 3, pages: the outlet page and its JSON, the overview and the locator under 50
concurrent users (wrk), with a warm cache and with a cold one (figures cached for 1 ms):
requests/s, latency percentiles, and Frappe calls per 1,000 requests.
"""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .harness import Stack, cell, login_cookie, summarise

PAGES = {
    "outlet page": "/outlets/BENCH-0000",
    "outlet JSON": "/api/outlets/BENCH-0000/summary",
    "overview": "/",
    "locator": "/locator",
}
KEYS = ["rps", "p50", "p95", "p99", "frappe_per_1000", "errors"]


def wrk(url: str, cookie: str, connections: int, seconds: int) -> dict:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed for the pages scenario: apt-get install wrk")
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Cookie: {cookie}",
         url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ms = {}
    for pct, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        ms[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms.get("50"),
        "p95": ms.get("90"),  # wrk prints 50/75/90/99: its 90th stands in for the 95th
        "p99": ms.get("99"),
        "requests": total,
        "errors": int(bad.group(1)) if bad else 0,
    }


def one_run(mode: str, cold: bool, connections: int, seconds: int, tmp: Path) -> dict:
    settings = {"FIGURES_CACHE_SECONDS": "0.001"} if cold else {}
    with Stack(mode, tmp, outlets=1, **settings) as stack:
        cookie = login_cookie(stack.web_url)
        results = {}
        for name, path in PAGES.items():
            before = sum(stack.frappe_calls().values())
            result = wrk(stack.web_url + path, cookie, connections, seconds)
            calls = sum(stack.frappe_calls().values()) - before
            result["frappe_per_1000"] = 1000.0 * calls / max(result["requests"], 1)
            results[name] = result
        return results


def scenario(mode: str, connections: int, seconds: int, runs: int) -> dict:
    table = {}
    for cold in (False, True):
        runs_out = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                runs_out.append(one_run(mode, cold, connections, seconds, Path(tmp)))
        for name in PAGES:
            rows = [run[name] for run in runs_out]
            table[f"{name} ({'cold' if cold else 'warm'})"] = summarise(rows, KEYS)
    return table


def markdown(table: dict, title: str) -> str:
    lines = [f"**{title}**", "",
             "| page | requests/s | p50 ms | p90 ms | p99 ms | Frappe calls / 1,000 requests |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, s in table.items():
        lines.append(
            f"| {name} | {cell(s.get('rps'), 0)} | {cell(s.get('p50'))} | {cell(s.get('p95'))} "
            f"| {cell(s.get('p99'))} | {cell(s.get('frappe_per_1000'))} |"
        )
    return "\n".join(lines)
