"""Scenario 4, pace and quiet: what they cost Frappe for 500 outlets over a day.

Head office (two people, each in two browsers) opens every outlet's daily summary three times,
as the overview does through the day, 20 at a time; the bridge meanwhile learns every outlet's
usual hours for the quiet marks. Counted at the demo Frappe: Sales Invoice lists asked with a
person's sid (pace: last week's day) and with the API key (the bridge: four past weekdays).
Targets: one of each per outlet per day, however many page views, and for pace one more
per person and outlet per permission time (whether Frappe lets that person read the outlet's
Sales Invoices).
"""

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from frappe_sim.data import OUTLETS

from .harness import Stack, login_cookie, wait_until

INVOICES = "GET /api/resource/Sales Invoice"
FIGURES = "GET /api/method/franchise_management.api.get_outlet_dashboard_data"


def scenario(outlets: int, tmp, rounds: int = 3, browsers: int = 4) -> dict:
    with Stack("gevent", tmp, outlets=outlets) as stack:
        cookies = [login_cookie(stack.web_url) for _ in range(browsers // 2)] * 2
        names = [f"BENCH-{i:04d}" for i in range(outlets)]
        started = time.monotonic()

        def summary(job):
            cookie, outlet = job
            url = f"{stack.web_url}/api/outlets/{outlet}/summary?period=daily"
            answer = requests.get(url, headers={"Cookie": cookie}, timeout=30)
            return answer.ok and answer.json().get("pace") is not None

        jobs = [(cookie, name) for _ in range(rounds) for cookie in cookies for name in names]
        with ThreadPoolExecutor(20) as pool:
            paced = sum(pool.map(summary, jobs))
        seconds = time.monotonic() - started
        # The bridge learns every active outlet of the site, five a second: wait for them all.
        site_outlets = outlets + sum(1 for outlet in OUTLETS if outlet[4] == "Active")
        wait_until(
            lambda: stack.frappe_calls().get(f"{INVOICES} (token)", 0) >= site_outlets,
            timeout=site_outlets / 5 + 120, what="the bridge learning every outlet's hours",
        )  # fmt: skip
        time.sleep(5)  # a repeat would show by now
        calls = stack.frappe_calls()
        by_bridge = calls.get(f"{INVOICES} (token)", 0)
        return {
            "outlets": outlets,
            "site_outlets": site_outlets,
            "summaries": len(jobs),
            "with_pace": paced,
            "seconds": round(seconds, 1),
            "pace_calls": calls.get(INVOICES, 0) - by_bridge,
            "quiet_calls": by_bridge,
            "figures_calls": calls.get(FIGURES, 0),
        }


def markdown(table: dict, title: str) -> str:
    return "\n".join([
        f"**{title}**", "",
        "| outlets opened | daily summaries asked | with pace | Sales Invoice lists for pace "
        "(sid) | active outlets on the site | Sales Invoice lists for quiet marks (bridge) "
        "| figures calls | seconds |",
        "|---|---|---|---|---|---|---|---|",
        f"| {table['outlets']} | {table['summaries']} | {table['with_pace']} "
        f"| {table['pace_calls']} | {table['site_outlets']} | {table['quiet_calls']} "
        f"| {table['figures_calls']} | {table['seconds']} |",
    ])  # fmt: skip
