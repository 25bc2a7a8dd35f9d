"""Unit tests of the small shared parts, on the session's real Redis: the shared cache
(cache.py), the attempt throttle (throttle.py) and our own absolute links (links.py)."""

import threading
import time
import uuid

import pytest
import redis

from dashboard.cache import SharedCache
from dashboard.frappe import FrappeUnavailable
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
