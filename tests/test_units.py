"""Unit tests of the small shared parts, on the session's real Redis: the shared cache
(cache.py), the attempt throttle (throttle.py), our own absolute links (links.py), the bridges'
lease (lease.py), the franchisor's arithmetic (network.py), the Socket.IO frame check
(frames.py) and the page formats (formats.py)."""

import threading
import time
import uuid
from datetime import date

import pytest
import redis
from socketio import packet

from dashboard import network
from dashboard.cache import SharedCache
from dashboard.frames import BAD_FRAME, CheckedPacket
from dashboard.frappe import FrappeUnavailable
from dashboard.lease import Lease
from dashboard.links import external_url
from dashboard.throttle import Throttle


@pytest.fixture
def client(redis_url):
    return redis.Redis.from_url(redis_url)


def cache_on(client, answer_within=1.0) -> SharedCache:
    return SharedCache(client, keep_for=60, lock_timeout=5, wait=3, answer_within=answer_within)


def key() -> str:
    return f"unit:{uuid.uuid4().hex}"


def test_a_fresh_entry_is_served_without_asking_again(client):
    cache, name, asked = cache_on(client), key(), []
    first = cache.get(name, lambda: asked.append(1) or {"n": 1}, fresh_for=60)
    again = cache.get(name, lambda: asked.append(1) or {"n": 2}, fresh_for=60)
    assert first.value == again.value == {"n": 1} and asked == [1] and not again.stale


def test_concurrent_lookups_ask_once(client):
    """Twenty requests for a cold key, at once: one fetch, one answer for all."""
    cache, name, asked = cache_on(client), key(), []

    def slow():
        asked.append(1)
        time.sleep(0.3)
        return "figures"

    answers = []
    threads = [threading.Thread(target=lambda: answers.append(cache.get(name, slow, 60).value))
               for _ in range(20)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["figures"] * 20 and asked == [1]


def test_frappe_down_serves_the_last_value_marked_stale(client):
    cache, name = cache_on(client), key()
    cache.get(name, lambda: "old", fresh_for=60)

    def down():
        raise FrappeUnavailable()

    stale = cache.get(name, down, fresh_for=0)
    assert stale.value == "old" and stale.stale
    with pytest.raises(FrappeUnavailable):
        cache.get(key(), down, fresh_for=60)  # nothing to fall back on


def test_a_slow_frappe_is_not_waited_for_past_the_budget(client):
    cache, name = cache_on(client, answer_within=0.2), key()
    cache.get(name, lambda: "old", fresh_for=60)
    started = time.monotonic()
    answer = cache.get(name, lambda: time.sleep(2) or "new", fresh_for=0)
    assert answer.value == "old" and answer.stale and time.monotonic() - started < 1.5


def test_keep_for_shortens_a_values_life(client):
    cache, name = cache_on(client), key()
    cache.get(name, lambda: "refused", fresh_for=60, keep_for=lambda value: 1)
    assert 0 < client.ttl(f"cache:{name}") <= 1


def test_the_throttle_refuses_past_the_limit_and_gives_back(client):
    throttle, who = Throttle(client), uuid.uuid4().hex
    limit = ("login", who, "3 per minute")
    attempts = [throttle.attempt(limit) for _ in range(3)]
    assert not any(a.refused for a in attempts)
    refused = throttle.attempt(limit)
    assert refused.refused and 1 <= refused.retry_after <= 60
    attempts[0].give_back()  # that one worked: it does not count
    assert not throttle.attempt(limit).refused


def test_the_throttle_counts_concurrent_attempts_before_they_are_tried(client):
    throttle, who, results = Throttle(client), uuid.uuid4().hex, []
    threads = [threading.Thread(target=lambda: results.append(
        throttle.attempt(("login", who, "5 per minute")).refused)) for _ in range(40)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(False) == 5


def test_links_come_from_public_url_never_the_host_header(make_app):
    app = make_app(PUBLIC_URL="https://dashboard.example.com")
    with app.test_request_context("/", headers={"Host": "evil.example"}):
        link = external_url("locator.store_page", slug="cafe-central")
    assert link == "https://dashboard.example.com/locator/cafe-central"


@pytest.fixture
def lease_redis(redis_url):
    """A database of its own: the session's bridge holds the lease in the usual one."""
    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/9")
    client.flushdb()
    return client


def test_one_bridge_leads_and_a_standby_takes_over_when_it_stops_or_dies(lease_redis):
    first, second = Lease(lease_redis, 0.3), Lease(lease_redis, 0.3)
    assert first.hold() and not second.hold()
    assert first.hold() and not second.hold()  # renewing keeps it
    first.release()  # stopping on purpose: at once
    assert second.hold() and not first.hold()
    time.sleep(0.4)  # the leader died without a word: its lease runs out
    assert first.hold() and not second.hold()
    second.release()  # a standby's release leaves the leader's lease alone
    assert not Lease(lease_redis, 0.3).hold()


@pytest.mark.parametrize(
    ("sales", "rate", "royalty"),
    [
        (100.5, 5.0, 5.03),  # 5.025: halves go up, as on screen
        (1000.0, 0.0, 0.0),
        (80.1, 4.5, 3.6),  # 3.6045
        (-250.0, 5.0, -12.5),  # a day of returns
        (12345678.9, 7.25, 895061.72),
    ],
)
def test_royalty_is_to_the_paisa_halves_up(sales, rate, royalty):
    assert network.royalty(sales, rate) == royalty


@pytest.mark.parametrize("sent", [None, True, "5", float("nan"), float("inf"), -1, 100.5])
def test_a_royalty_percentage_frappe_did_not_send_usably_is_none(sent):
    assert network.royalty_rate({"custom_royalty_percentage": sent}) is None
    assert "royalty_rate" not in network.terms({"custom_royalty_percentage": sent})


def test_what_needs_attention_and_in_which_order():
    today = date(2026, 12, 7)

    def outlet(name, end, status="Active"):
        return {"name": name, "agreement_end": end, "status": status}

    found = network.needing_attention(
        [
            outlet("in 91 days", "2027-03-08"),
            outlet("in 90 days", "2027-03-07"),
            outlet("today", "2026-12-07"),
            outlet("ended", "2026-12-06"),
            outlet("closed and ended", "2026-01-01", "Closed"),
            outlet("suspended", None, "Suspended"),
            outlet("no agreement", None),
        ],  # fmt: skip
        today,
    )
    assert [(o["name"], o["why"], o.get("days")) for o in found] == [
        ("ended", "ended", 1), ("suspended", "suspended", None),
        ("today", "ending", 0), ("in 90 days", "ending", 90),
    ]  # fmt: skip


def test_territories_group_only_when_a_territory_holds_two():
    alone = [{"name": "a", "territory": "North"}, {"name": "b", "territory": "South"}]
    assert network.territories(alone) == [("", alone)]
    rows = [*alone, {"name": "c", "territory": "North"}, {"name": "d", "territory": ""}]
    assert [(t, [o["name"] for o in members]) for t, members in network.territories(rows)] == [
        ("No territory", ["d"]), ("North", ["a", "c"]), ("South", ["b"]),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("frame", "refused"),
    [
        ('2["subscribe",{"outlet":"OUTLET-001"}]', None),
        ('21["subscribe",{"outlet":"OUTLET-001"}]', None),
        ('2["disconnect"]', "reserved name"),
        ('2["bad_frame","x"]', "reserved name"),
        ("2[", "not JSON"),
        ("2" + "[" * 5000 + "]" * 5000, "nested too deeply"),
        ('2{"a":1}', "not an event"),
        ("2[1]", "not an event"),
        ("31[]", "unexpected ack"),
        ('51-["subscribe",{"_placeholder":true,"num":0}]', "binary"),
        ("9", "unknown type"),
    ],
)
def test_every_client_frame_is_checked_before_a_handler_sees_it(frame, refused):
    decoded = CheckedPacket(encoded_packet=frame)
    if refused is None:
        assert decoded.packet_type == packet.EVENT and decoded.data[0] == "subscribe"
    else:
        assert decoded.data == [BAD_FRAME, refused]


def test_pages_write_money_and_times_as_the_site_does(make_app):
    filters = make_app().jinja_env.filters
    assert filters["money"](12345678.5) == "₹1,23,45,678.50"  # en_IN groups by lakh and crore
    assert filters["quantity"](1234567) == "12,34,567"
    assert filters["clock"]("2026-12-07T08:00:00+00:00", "Asia/Kolkata") == "13:30:00"
    assert (
        filters["day"]("2026-12-07") == "7 Dec"
        and filters["full_day"]("2026-12-07") == "7 Dec 2026"
    )
    assert [filters["since"](0, now) for now in (59, 60, 7200, 86400 * 3)] == [
        "just now", "1 min ago", "2 h ago", "3 days ago",
    ]  # fmt: skip
