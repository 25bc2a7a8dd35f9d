"""Scenario 7, capacity: how many deliveries a second one web process makes before it falls behind.

Every socket in one outlet's room (the heaviest fan-out: each sale goes to all of them), the
sale rate raised step by step until the p99 from PUBLISH to receipt passes 100 ms or a delivery
is lost, twice in a row, for our server and for the Node socket.io baseline in the same run.
Reported at the fastest step that kept up: deliveries per second, per CPU second of the server
process, the CPU each delivery cost, and the memory each socket holds.
"""

import tempfile
from pathlib import Path

from . import fanout

RATES = (5, 10, 20, 30, 45, 60, 90, 120, 180)  # sales a second
LIMIT_MS = 100.0


def scenario(clients: int = 1000, seconds: float = 10.0, modes=("gevent", "baseline"),
             rates=RATES) -> dict:  # fmt: skip
    table = {}
    for mode in modes:
        steps = []
        for rate in rates:
            with tempfile.TemporaryDirectory() as tmp:
                run = fanout.one_run(mode, clients, fanout.outlets(1), rate, seconds, 0, Path(tmp))
            steps.append(step_of(run, rate, seconds))
            if len(steps) >= 2 and not any(kept_up(step) for step in steps[-2:]):
                break  # two steps in a row fell behind: one alone may be a hiccup
        within = [step for step in steps if kept_up(step)]
        table[mode] = {"steps": steps, "capacity": within[-1] if within else None}
    return table


def step_of(run: dict, rate: float, seconds: float) -> dict:
    delivered, cpu = run["delivered"], run.get("cpu_s")  # None: the server died mid-step
    return {
        "rate": rate,
        "p99": run["p99"],
        "delivered_pct": round(run["delivered_pct"], 2),
        "deliveries": delivered,
        "deliveries_per_s": round(delivered / seconds),
        "deliveries_per_core_s": round(delivered / cpu) if cpu else None,
        "cpu_us_per_delivery": (
            round(cpu / delivered * 1e6, 1) if delivered and cpu is not None else None
        ),
        "kib_per_client": round(run["kib_per_client"], 1),
    }


def kept_up(step: dict) -> bool:
    return step["p99"] is not None and step["p99"] <= LIMIT_MS and step["delivered_pct"] >= 99.9


def markdown(table: dict, title: str) -> str:
    lines = [f"**{title}**", "",
             "| server | sales/s | p99 ms | delivered % | deliveries/s | deliveries per CPU "
             "second | CPU µs per delivery | KiB per socket |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for mode, data in table.items():
        for step in data["steps"]:
            mark = " (capacity)" if step is data["capacity"] else ""
            lines.append(
                f"| {mode}{mark} | {step['rate']:g} | {step['p99']} | {step['delivered_pct']} "
                f"| {step['deliveries_per_s']} | {step['deliveries_per_core_s']} "
                f"| {step['cpu_us_per_delivery']} | {step['kib_per_client']} |"
            )
    return "\n".join(lines)
