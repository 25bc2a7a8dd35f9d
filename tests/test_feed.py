"""Checking Frappe's realtime messages (the captured bytes) and the per-outlet feed in Redis."""

import json

import pytest
import redis

from dashboard.events import CHANGE, DAILY, SALE, BadEvent, check_event, parse_channel_message
from dashboard.feed import ACCEPTED, DUPLICATE, STALE, Feed

from .conftest import SAMPLES

REALTIME = SAMPLES / "realtime"
SITE = "franchise.localhost"


def channel_messages() -> list[str]:
    """Every message body of the `redis-cli SUBSCRIBE events` capture, verbatim."""
    lines = (REALTIME / "events-channel-one-pos-submit.txt").read_text().splitlines()
    bodies, current = [], None
    for previous, line in zip(["", *lines], lines, strict=False):
        if line == "events" and previous == "message":
            current = []
            bodies.append(current)
        elif current is not None and line != "message":
            current.append(line)
        elif line == "message":
            current = None
    return ["\n".join(body) for body in bodies]


def test_capture_keeps_only_our_two_events_and_pos_invoice_changes():
    events = [parse_channel_message(raw, SITE) for raw in channel_messages()]
    # Each submit's list_update of its POS Invoice comes before its sale (a change the bridge
    # has not carried yet, so nothing to it); Version and Activity Log updates are dropped.
    changes = [event for event in events if event is not None and event["kind"] == CHANGE]
    assert changes == [{"kind": CHANGE, "invoice": f"POSINV-000{n}"} for n in (14, 15, 16)]
    kept = [event for event in events if event is not None and event["kind"] != CHANGE]
    assert [event["kind"] for event in kept] == [SALE, DAILY] * 3
    assert [e["outlet"] for e in kept[::2]] == ["Downtown Outlet", "Airport Outlet", "Mall Outlet"]
    sale, daily = kept[:2]
    assert sale == {
        "kind": SALE,
        "outlet": "Downtown Outlet",
        "invoice": "POSINV-00014",
        "grand_total": 300.0,
        "items": [{"item": "BURGER-01", "qty": 2, "amount": 300}],
        "timestamp": "2026-11-23T07:00:20.986979",
    }
    assert daily == {"kind": DAILY, "outlet": "Downtown Outlet", "daily_total": 1500.0}


def test_capture_from_another_site_is_ignored():
    assert all(parse_channel_message(raw, "demo.localhost") is None for raw in channel_messages())


def test_every_submit_path_variant_is_accepted():
    published = json.loads((REALTIME / "payload-variants-by-submit-path.json").read_text())
    published = published["published"]
    events = [check_event(message["event"], message["message"]) for message in published]
    stamps = [e["timestamp"] for e in events if e["kind"] == SALE]
    # "6:57:00.092364" and "6:57:0.722067": unpadded hours and seconds, read the same way.
    assert stamps[0] == "2026-11-23T06:57:00.092364"
    assert stamps[1] == "2026-11-23T06:57:00.722067"
    assert all(e["items"][0]["qty"] == 2 for e in events if e["kind"] == SALE)


def test_socketio_frame_payload_is_accepted():
    frame = (REALTIME / "socketio-frames-manager1.txt").read_text().splitlines()[3]
    name, message = json.loads(frame.split(",", 1)[1])
    event = check_event(name, message)
    assert event["outlet"] == "Airport Outlet" and len(event["items"]) == 2


def test_unknown_keys_are_dropped_and_text_stays_text():
    event = check_event(
        SALE,
        {
            "outlet": "OUTLET-001",
            "invoice": "INV-1",
            "grand_total": 10,
            "items": [{"item": "<img src=x onerror=alert(1)>", "qty": 1, "amount": 10, "x": 1}],
            "timestamp": "not a time",
            "extra": {"nested": True},
        },
    )
    assert "extra" not in event and event["timestamp"] is None  # kept, without a time
    assert event["items"] == [{"item": "<img src=x onerror=alert(1)>", "qty": 1, "amount": 10}]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"invoice": "I", "grand_total": 1, "items": []}, "outlet missing"),
        ({"outlet": "O", "grand_total": 1, "items": []}, "invoice missing"),
        ({"outlet": "O", "invoice": "I", "grand_total": "1", "items": []},
         "grand_total not a number"),
        ({"outlet": "O", "invoice": "I", "grand_total": float("nan"), "items": []},
         "grand_total out of range"),
        ({"outlet": "O", "invoice": "I", "grand_total": 1, "items": {}}, "items is not a list"),
        ({"outlet": "O" * 141, "invoice": "I", "grand_total": 1, "items": []}, "outlet malformed"),
    ],
)  # fmt: skip
def test_bad_sales_say_why(message, reason):
    with pytest.raises(BadEvent) as caught:
        check_event(SALE, message)
    assert caught.value.reason == reason


def test_non_utf8_and_non_json_are_bad_events():
    with pytest.raises(BadEvent, match="not JSON"):
        parse_channel_message(b'\xff\xfe"live_pos_sale"', SITE)


@pytest.fixture
def feed(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return Feed(client, max_len=5, time_zone="Asia/Kolkata")


def sale(invoice, outlet="OUTLET-001"):
    return {
        "kind": SALE,
        "outlet": outlet,
        "invoice": invoice,
        "grand_total": 10.0,
        "items": [],
        "timestamp": None,
    }


def test_feed_gives_ids_and_stores_a_sale_once(feed):
    outcome, first = feed.append(sale("INV-1"))
    assert outcome == ACCEPTED and first["id"] and first["event"] == SALE and "kind" not in first
    assert feed.append(sale("INV-1")) == (DUPLICATE, None)
    assert feed.append(sale("INV-1", outlet="OUTLET-002"))[0] == ACCEPTED  # another outlet's
    events, complete = feed.since("OUTLET-001", None, 50)
    assert [e["invoice"] for e in events] == ["INV-1"] and complete
    assert feed.today("OUTLET-001")["sales"] == 1


def test_feed_is_capped_and_replays_after_an_id(feed):
    sent = [feed.append(sale(f"INV-{n}"))[1] for n in range(8)]
    events, _ = feed.since("OUTLET-001", None, 50)
    assert [e["invoice"] for e in events] == [f"INV-{n}" for n in range(3, 8)]
    after, complete = feed.since("OUTLET-001", sent[5]["id"], 50)
    assert [e["invoice"] for e in after] == ["INV-6", "INV-7"] and complete
    # An id from before the cap: what is left comes back, marked incomplete.
    older, complete = feed.since("OUTLET-001", sent[0]["id"], 50)
    assert len(older) == 5 and not complete


def test_feed_drops_yesterday(feed):
    feed.redis.xadd("feed:OUTLET-001", {"event": json.dumps(sale("OLD"))}, id="1000-0")
    feed.append(sale("NEW"))
    events, _ = feed.since("OUTLET-001", None, 50)
    assert [e["invoice"] for e in events] == ["NEW"]


def test_daily_total_is_kept_beside_the_feed(feed):
    def daily(total):
        return feed.append({"kind": DAILY, "outlet": "OUTLET-001", "daily_total": total})

    assert daily(1234.5)[0] == ACCEPTED
    assert feed.today("OUTLET-001") == {"sales": 0, "daily_total": 1234.5, "last_sale": None}
    assert daily(1234.5) == (DUPLICATE, None)


def test_a_daily_total_below_the_days_highest_is_set_aside(feed):
    """Concurrent submits on Frappe publish totals that miss each other's sales."""

    def daily(total):
        return feed.append({"kind": DAILY, "outlet": "OUTLET-001", "daily_total": total})[0]

    assert [daily(500.0), daily(320.0), daily(640.0), daily(600.0)] == [
        ACCEPTED, STALE, ACCEPTED, STALE
    ]  # fmt: skip
    assert feed.today("OUTLET-001")["daily_total"] == 640.0
    events, _ = feed.since("OUTLET-001", None, 50)
    assert [e["daily_total"] for e in events] == [500.0, 640.0]
