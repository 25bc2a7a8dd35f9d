"""A cache in our Redis, shared by every web process, that asks Frappe once at a time.

Each entry keeps its value and when it was fetched. A fresh entry is served as it is. Otherwise
one process (the one that takes the Redis lock) asks Frappe while the others wait a little for
its answer. When Frappe cannot be reached, the last value is served marked stale.

Within a process, requests for the same key share one lookup: a crowd (a reconnect storm, a
page everyone opens at nine) costs Redis one lock and one poll, not one per request. No request
waits on Frappe longer than `answer_within`: pages answer in time even when Frappe hangs.
"""

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field

import redis
from flask import g, has_request_context

from .frappe import FrappeUnavailable
from .metrics import CACHE_LOOKUPS

POLL_INTERVAL = 0.05
UNREAD = object()  # get(): the entry is to be read now


@dataclass(frozen=True)
class Cached:
    value: object
    fetched_at: float  # epoch seconds
    stale: bool = False


@dataclass
class Flight:
    """One lookup in progress in this process, and what it came to."""

    done: threading.Event = field(default_factory=threading.Event)
    result: Cached | None = None
    error: Exception | None = None


def redis_key(key: str) -> str:
    return f"cache:{key}"


def entry_of(raw: bytes | None) -> Cached | None:
    if raw is None:
        return None
    stored = json.loads(raw)
    return Cached(stored["value"], stored["at"])


class SharedCache:
    def __init__(self, client: redis.Redis, *, keep_for: int, lock_timeout: float, wait: float,
                 answer_within: float):  # fmt: skip
        self.redis = client
        self.keep_for = keep_for  # how long a value stays for the stale fallback
        self.lock_timeout = lock_timeout  # frees the lock of a process that died mid-fetch
        self.wait = wait  # how long a waiter waits for the fetching process
        self.answer_within = answer_within  # how long a request waits before going without
        self.flights: dict[str, Flight] = {}

    @classmethod
    def for_settings(cls, client: redis.Redis, settings) -> "SharedCache":
        """The cache as every process of ours keeps it: web processes and the bridge."""
        return cls(
            client,
            keep_for=86400,  # the last figures stay a day, for when Frappe is down
            lock_timeout=settings.frappe_connect_timeout + settings.frappe_read_timeout + 5,
            wait=settings.frappe_connect_timeout + settings.frappe_read_timeout + 1,
            answer_within=settings.frappe_wait_seconds,
        )

    def get(self, key: str, fetch, fresh_for: float, keep_for=None, entry=UNREAD) -> Cached:
        """The cached value of `key`, fetched with `fetch()` by one process at a time;
        `keep_for(value)` may give a fetched value a shorter life than the cache's own;
        `entry` is the entry when it was just read (read_many), else it is read now.

        The fetch runs on its own: a request waits `answer_within` for it, then takes the last
        value marked stale (or FrappeUnavailable when there is none) while the fetch goes on
        and fills the cache for the next one.
        """
        entry = self.read(key) if entry is UNREAD else entry
        if entry and time.time() - entry.fetched_at < fresh_for:
            CACHE_LOOKUPS.labels("hit").inc()
            return entry
        flight, mine = self.flights.get(key), False
        if flight is None:
            flight, mine = self.take_off(key, fetch, fresh_for, entry, keep_for), True
        if not flight.done.wait(self.budget()):
            CACHE_LOOKUPS.labels("stale").inc()
            if entry:
                return Cached(entry.value, entry.fetched_at, stale=True)
            raise FrappeUnavailable("Frappe is not answering in time.")
        if flight.error is None:
            return flight.result
        if mine or isinstance(flight.error, FrappeUnavailable):
            raise flight.error
        # Something about the asker (an expired session, say): ask for ourselves.
        return self.get(key, fetch, fresh_for, keep_for)

    def budget(self) -> float:
        """How much longer this request may wait: `answer_within` in all, however many
        lookups it makes (a page checks the permission, then reads the figures)."""
        if not has_request_context():
            return self.answer_within
        deadline = g.setdefault("frappe_deadline", time.monotonic() + self.answer_within)
        return max(0.0, deadline - time.monotonic())

    def take_off(self, key, fetch, fresh_for, entry, keep_for) -> Flight:
        flight = self.flights[key] = Flight()

        def fly():
            try:
                flight.result = self.lookup(key, fetch, fresh_for, entry, keep_for)
            except Exception as error:  # handed to whoever waits for this flight
                flight.error = error
            finally:
                del self.flights[key]
                flight.done.set()

        threading.Thread(target=fly, daemon=True).start()
        return flight

    def lookup(self, key, fetch, fresh_for, entry, keep_for) -> Cached:
        deadline = time.monotonic() + self.wait
        while True:
            lock = self.redis.lock(f"lock:{key}", timeout=self.lock_timeout)
            if lock.acquire(blocking=False):
                try:
                    # Another process may have fetched it between our read and our lock.
                    entry = self.read(key)
                    if entry and time.time() - entry.fetched_at < fresh_for:
                        return entry
                    CACHE_LOOKUPS.labels("fetched").inc()
                    return self.refresh(key, fetch, entry, keep_for)
                finally:
                    with contextlib.suppress(redis.exceptions.LockError):
                        lock.release()  # already gone if the fetch outlived lock_timeout
            newer = self.read(key)
            if newer and (entry is None or newer.fetched_at > entry.fetched_at):
                CACHE_LOOKUPS.labels("waited").inc()
                return newer
            if time.monotonic() > deadline:
                CACHE_LOOKUPS.labels("stale").inc()
                if entry:
                    return Cached(entry.value, entry.fetched_at, stale=True)
                raise FrappeUnavailable("Frappe is not answering in time.")
            time.sleep(POLL_INTERVAL)

    def refresh(self, key: str, fetch, entry: Cached | None, keep_for=None) -> Cached:
        try:
            value = fetch()
        except FrappeUnavailable:
            if entry is None:
                raise
            return Cached(entry.value, entry.fetched_at, stale=True)
        seconds = keep_for(value) if keep_for else None
        return Cached(value, self.write_many({key: value}, seconds))

    def read(self, key: str) -> Cached | None:
        return entry_of(self.redis.get(redis_key(key)))

    def read_many(self, keys: list[str], others: list[str]) -> list:
        """The entries of `keys`, then the values of other Redis keys, in one round trip."""
        values = self.redis.mget([*map(redis_key, keys), *others])
        return [*map(entry_of, values[: len(keys)]), *values[len(keys) :]]

    def write(self, key: str, value) -> Cached:
        return Cached(value, self.write_many({key: value}))

    def write_many(self, values: dict, keep_for: float | None = None) -> float:
        """Several entries in one round trip (a user's outlet list grants each outlet)."""
        now, pipe = time.time(), self.redis.pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(
                redis_key(key),
                json.dumps({"value": value, "at": now}),
                ex=max(1, int(keep_for or self.keep_for)),
            )
        pipe.execute()
        return now
