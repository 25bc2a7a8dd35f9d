"""The operator's kit: alert rules that promtool accepts and whose unit tests pass, and alerts
and a Grafana dashboard that ask only for metrics the dashboard exports, each alert with its
runbook."""

import json
import re
import shutil
import subprocess
import time

import pytest
import requests

from .conftest import ROOT

RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
GRAFANA = ROOT / "deploy" / "grafana" / "dashboard.json"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
METRIC = re.compile(r"\b(dashboard_[a-z_]+)")


def promtool(*args) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, "promtool is needed: apt-get install prometheus (.ci/run installs it)"
    return subprocess.run([tool, *args], capture_output=True, text=True, cwd=RULES.parent)


def test_the_alert_rules_are_valid_and_their_unit_tests_pass():
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_runbook_and_a_unit_test():
    rules = RULES.read_text()
    alerts = re.findall(r"- alert: (\w+)", rules)
    headings = set(re.findall(r"^## (\w+)$", RUNBOOKS.read_text(), re.M))
    assert alerts and set(alerts) == headings
    for alert in alerts:
        assert f'runbook_url: "docs/runbooks.md#{alert.lower()}"' in rules, alert
        assert f"alertname: {alert}" in RULE_TESTS.read_text(), alert


def exported(web_server) -> set[str]:
    """Metric families /metrics declares (a histogram's and a counter's own names)."""
    text = requests.get(web_server + "/metrics", timeout=10).text
    return set(re.findall(r"^# TYPE (\w+) ", text, re.M))


def family(name: str) -> str:
    """The family a PromQL series name belongs to."""
    return re.sub(r"_(bucket|sum|count|created)$", "", name).removesuffix("_total")


@pytest.mark.parametrize("source", ["alerts", "grafana"])
def test_every_query_names_a_metric_the_dashboard_exports(web_server, bridge, source):
    if source == "alerts":
        queries = re.findall(r"expr: (.+)", RULES.read_text())
    else:
        panels = json.loads(GRAFANA.read_text())["panels"]
        queries = [target["expr"] for panel in panels for target in panel["targets"]]
    named = {family(name) for query in queries for name in METRIC.findall(query)}
    # The heartbeat's age is exported once the bridge has beaten (every 2 s) since a test
    # elsewhere emptied our Redis.
    deadline = time.monotonic() + 10
    while not named <= (have := {family(name) for name in exported(web_server)}):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert named and named <= have, sorted(named - have)
