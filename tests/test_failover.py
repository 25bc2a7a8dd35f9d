"""Our Redis behind Sentinel: the master dies under live traffic and a replica takes over.

A master, a replica and three Sentinels on loopback (real redis-server processes, with a
password), the web process and the bridge on REDIS_URL=redis+sentinel://..., a manager's page
and a paired TV in Chromium. Times are printed (`pytest -s tests/test_failover.py`);
docs/operations.md quotes them.
"""

import subprocess
import time

import pytest
import redis
import requests
from playwright.sync_api import expect

from dashboard import redis_client
from devtools.redis_server import free_port, redis_binary

from .conftest import crash, start_bridge, start_web, stop
from .test_browser import submit
from .test_faults import cookies_of, live_outlet_page, sale_row
from .test_tv import pair_in_browser

pytestmark = pytest.mark.slow

OUTLET = "OUTLET-001"
SERVICE = "dashboard"
PASSWORD = "failover-test-password"


class SentinelGroup:
    """A master, a replica and three Sentinels watching them, each its own redis-server."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://:{PASSWORD}@{hosts}/0/{SERVICE}"

    def start(self):
        self.server(self.master_port)
        self.server(self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port))
        for port in self.sentinel_ports:
            self.sentinel(port)
        replica = self.client(self.replica_port)
        self.wait(lambda: replica.info("replication")["master_link_status"] == "up", "replica")
        for port in self.sentinel_ports:  # each knows the replica and the two other Sentinels
            watcher = self.client(port)
            self.wait(lambda w=watcher: len(w.sentinel_sentinels(SERVICE)) == 2
                      and len(w.sentinel_slaves(SERVICE)) == 1, "sentinels")  # fmt: skip
        return self

    def server(self, port, *extra):
        where = self.tmp / str(port)
        where.mkdir()
        command = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(where), "--logfile", str(where / "log"),
                   "--requirepass", PASSWORD, "--masterauth", PASSWORD, *extra]  # fmt: skip
        self.processes[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        self.wait(lambda: self.client(port).ping(), f"redis on {port}")

    def sentinel(self, port):
        where = self.tmp / str(port)
        where.mkdir()
        # Down after 1 s unanswered, and a failover may be retried 5 s on: quick, for a test.
        (where / "sentinel.conf").write_text(f"""
port {port}
bind 127.0.0.1
dir {where}
logfile {where / "log"}
requirepass {PASSWORD}
sentinel sentinel-pass {PASSWORD}
sentinel monitor {SERVICE} 127.0.0.1 {self.master_port} 2
sentinel auth-pass {SERVICE} {PASSWORD}
sentinel down-after-milliseconds {SERVICE} 1000
sentinel failover-timeout {SERVICE} 5000
sentinel parallel-syncs {SERVICE} 1
""")
        command = [redis_binary(), str(where / "sentinel.conf"), "--sentinel"]
        self.processes[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        self.wait(lambda: self.client(port).ping(), f"sentinel on {port}")

    def caught_up(self, master: int) -> None:
        """Wait until the replica holds every write the master has taken so far (the replica
        lags by a moment: a session written just before a crash may be lost, not one older)."""
        written = self.client(master).info("replication")["master_repl_offset"]
        replica = self.client(next(port for port in (self.master_port, self.replica_port)
                                   if port != master))  # fmt: skip
        self.wait(lambda: replica.info("replication")["slave_repl_offset"] >= written, "replica")

    def client(self, port) -> redis.Redis:
        return redis.Redis(port=port, password=PASSWORD, socket_timeout=1)

    def master(self) -> int:
        """The master's port, as the first Sentinel that answers says."""
        for port in self.sentinel_ports:
            try:
                return int(self.client(port).sentinel_get_master_addr_by_name(SERVICE)[1])
            except redis.RedisError:
                continue
        raise AssertionError("no Sentinel answers")

    def wait(self, check, what, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                if check():
                    return
            except redis.RedisError:
                pass
            assert time.monotonic() < deadline, f"{what} not ready in {timeout} s"
            time.sleep(0.05)

    def close(self):
        for process in self.processes.values():
            if process.poll() is None:
                stop(process)


@pytest.fixture
def sentinel_group(tmp_path):
    group = SentinelGroup(tmp_path).start()
    yield group
    group.close()


def poll(check, timeout, step=0.05):
    """When `check()` first held (monotonic seconds), waiting up to `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(step)
    return time.monotonic()


def test_the_master_dies_and_a_replica_takes_over_with_nothing_lost(
    browser, sentinel_group, frappe_url, frappe_redis_url, frappe_http
):
    url = sentinel_group.url
    web_url, web = start_web(frappe_url, url, LIVE_RECHECK_SECONDS="2")
    bridge = start_bridge(frappe_url, url, frappe_redis_url)
    try:
        page = live_outlet_page(browser, web_url)
        tv = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
        pair_in_browser(page, tv, web_url)
        page.goto(f"{web_url}/outlets/{OUTLET}")
        expect(page.locator("#live-badge")).to_have_attribute("data-state", "live")
        first = submit(frappe_http, OUTLET, [{"item_code": "COFFEE-02", "qty": 1}])
        expect(sale_row(page, first)).to_be_visible(timeout=5000)
        expect(tv.locator(f'[data-invoice="{first}"]')).to_have_count(1, timeout=5000)
        cookies = cookies_of(page)
        assert limiter_counts_in_redis(web_url, url)
        old = sentinel_group.master()
        sentinel_group.caught_up(old)  # what was written before the crash is on the replica

        crash(sentinel_group.processes[old])
        killed = time.monotonic()
        held = [submit(frappe_http, OUTLET, [{"item_code": "TEA-01", "qty": 1}])]
        no_master = poll(lambda: "redis" in health(web_url).get("failing", []), 10)
        held.append(submit(frappe_http, OUTLET, [{"item_code": "MUFFIN-01", "qty": 1}]))
        promoted = poll(lambda: sentinel_group.master() != old, 30)
        held.append(submit(frappe_http, OUTLET, [{"item_code": "COFFEE-02", "qty": 2}]))

        def page_answers():
            answer = requests.get(f"{web_url}/outlets/{OUTLET}", cookies=cookies, timeout=5)
            assert "/login" not in answer.url, "the manager was logged out"
            return answer.status_code == 200

        answering = poll(page_answers, 10, step=0.1)
        for invoice in [first, *held]:  # every sale, once, on both screens
            expect(sale_row(page, invoice)).to_have_count(1, timeout=20_000)
            expect(tv.locator(f'[data-invoice="{invoice}"]')).to_have_count(1, timeout=20_000)
        delivered = time.monotonic()
        healthy = poll(lambda: health(web_url).get("ok") is True, 20)
        after = submit(frappe_http, OUTLET, [{"item_code": "TEA-01", "qty": 2}])
        expect(sale_row(page, after)).to_be_visible(timeout=5000)
        assert "/login" not in page.url
        assert limiter_counts_in_redis(web_url, url)  # on the new primary
        print(
            f"\nSentinel failover: /healthz named redis {no_master - killed:.1f} s after the "
            f"master died, a replica was promoted after {promoted - killed:.1f} s, pages "
            f"answered {answering - promoted:.1f} s after the promotion, the sales held "
            f"meanwhile were on screen {delivered - promoted:.1f} s after it, /healthz 200 "
            f"{healthy - promoted:.1f} s after it"
        )
        assert web.poll() is None and bridge.poll() is None
        assert page.dialogs == []
    finally:
        stop(bridge)
        stop(web)


def limiter_counts_in_redis(web_url, url) -> bool:
    """The public pages' limiter counts in our Redis (not in its in-memory fallback)."""
    ours = redis_client.connect(url)
    for key in ours.scan_iter("LIMITS*"):
        ours.delete(key)
    assert requests.get(f"{web_url}/api/locations", timeout=5).status_code == 200
    return any(ours.scan_iter("LIMITS*"))


def health(web_url) -> dict:
    try:
        return requests.get(web_url + "/healthz", timeout=5).json()
    except (requests.RequestException, ValueError):
        return {}


def test_the_bridge_retries_its_source_within_seconds_however_long_it_was_down():
    """Seen on a real site: Frappe's realtime server down 14 s, the next try 29 s later. After
    any outage the wait before the next try stays within a few seconds (with jitter)."""
    import random

    from dashboard.sources import Backoff

    random.seed(7)
    backoff = Backoff()
    waits = [backoff.next() for _ in range(60)]  # a long outage: every try refused
    assert max(waits) <= 5.0
    assert max(waits[10:]) > 2.5  # still backing off, not hammering
    assert len({round(wait, 3) for wait in waits[10:]}) > 40  # jittered, never in step
