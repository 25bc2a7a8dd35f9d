"""Each outlet's live feed in our Redis, shared by the bridge (writes) and the web (reads).

A capped stream per outlet gives every event an id, so a browser that reconnects can ask for
what it missed. Entries older than the site's midnight are trimmed too. A sale seen twice (two
bridges, or Frappe publishing again) is stored and sent once: the check and the append happen in
one Lua script, so two bridges cannot both win. The bridge↔web names live in channel.py.
"""

import json
import math
import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

import redis

from .events import CANCEL, SALE, compact

FEED_ID = re.compile(r"\d{1,20}-\d{1,20}")
REPLAY_PAGE = 50  # entries read from Redis at a time while replaying, newest first
ENVELOPE_BYTES = 64  # what a stored event gains on the wire: its id, and room to spare
SALE_SEEN_FOR = 2 * 86400  # invoices are unique: remember them past any replay
DAILY_SEEN_FOR = 10  # the same daily total twice within seconds is the same message

# Outcomes of Feed.append.
ACCEPTED, DUPLICATE, STALE = "accepted", "duplicate", "stale_daily_total"

# One script, so that two bridges cannot both store a sale, and the day's highest daily total
# is compared and kept in the same step. A daily total below it is stale (concurrent submits on
# Frappe each miss the others' sales): set aside, never sent.
APPEND = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[4]) == false then
  return 'duplicate'
end
if redis.call('HGET', KEYS[3], 'date') ~= ARGV[5] then
  redis.call('DEL', KEYS[3])
  redis.call('HSET', KEYS[3], 'date', ARGV[5], 'sales', 0, 'total', 0)
end
redis.call('EXPIRE', KEYS[3], 172800)
if ARGV[6] == 'sale' then
  redis.call('HINCRBY', KEYS[3], 'sales', 1)
  redis.call('HSET', KEYS[3], 'last_sale', ARGV[8])
elseif ARGV[7] ~= '' then
  if tonumber(ARGV[7]) < tonumber(redis.call('HGET', KEYS[3], 'total')) then
    return 'stale_daily_total'
  end
  redis.call('HSET', KEYS[3], 'total', ARGV[7])
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'event', ARGV[1])
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[3])
if ARGV[6] == 'sale' then
  redis.call('SET', KEYS[4], id .. ' ' .. ARGV[9], 'EX', ARGV[4])
end
return id
"""


STREAM_ID_MOST = 2**64 - 1  # each half of a Redis stream id is a 64-bit number


def valid_feed_id(value) -> bool:
    """A stream id Redis accepts as the exclusive start of a range."""
    if not isinstance(value, str) or FEED_ID.fullmatch(value) is None:
        return False
    millis, sequence = stream_id(value)
    return (
        millis <= STREAM_ID_MOST
        and sequence <= STREAM_ID_MOST
        and (
            (millis, sequence) != (STREAM_ID_MOST, STREAM_ID_MOST)  # nothing can come after it
        )
    )


class Feed:
    def __init__(self, client: redis.Redis, max_len: int = 500, time_zone: str = "UTC"):
        self.redis = client
        self.max_len = max_len
        self.zone = ZoneInfo(time_zone)
        self.append_script = client.register_script(APPEND)

    def append(self, event: dict) -> tuple[str, dict | None]:
        """Store a checked event: ACCEPTED and the payload to send (with its id), or DUPLICATE
        (seen already) or STALE (a daily total below one seen today) and None."""
        outlet, kind = event["outlet"], event["kind"]
        if kind in (SALE, CANCEL):
            marker = event["invoice"] if kind == SALE else f"cancel:{event['invoice']}"
            seen, seen_for = f"feed:seen:{outlet}:{marker}", SALE_SEEN_FOR
            total = ""
        else:
            seen, seen_for = f"feed:seen:{outlet}:daily:{event['daily_total']}", DAILY_SEEN_FOR
            total = "" if event["daily_total"] is None else repr(event["daily_total"])
        body = compact(event)
        now = datetime.now(self.zone)
        midnight = datetime.combine(now.date(), time(), self.zone)
        entry_id = self.append_script(
            keys=[
                f"feed:{outlet}",
                seen,
                f"feed:today:{outlet}",
                carried_key(event.get("invoice")),
            ],
            args=[
                body,
                self.max_len,
                int(midnight.timestamp() * 1000),
                seen_for,
                midnight.date().isoformat(),
                {SALE: "sale", CANCEL: "cancel"}.get(kind, "daily"),
                total,
                int(now.timestamp() * 1000),
                outlet,
            ],
        )
        if entry_id in (DUPLICATE.encode(), STALE.encode()):
            return entry_id.decode(), None
        return ACCEPTED, payload(entry_id.decode(), body)

    def since(
        self, outlet: str, after: str | None, limit: int, most_bytes: float = math.inf
    ) -> tuple[list[dict], bool]:
        """The newest events after `after` (or the latest, without it), oldest first: at most
        `limit` of them and about `most_bytes` of JSON. Also whether none between `after` and
        the newest were left out (cut by those bounds, trimmed, or lost)."""
        key, low, high = f"feed:{outlet}", f"({after}" if after else "-", "+"
        kept, size, cut = [], 0, False
        while not cut:
            count = min(REPLAY_PAGE if most_bytes < math.inf else limit, limit - len(kept))
            page = self.redis.xrevrange(key, max=high, min=low, count=count)
            for entry_id, fields in page:
                size += len(fields[b"event"]) + ENVELOPE_BYTES
                if size > most_bytes or len(kept) == limit:
                    cut = True
                    break
                kept.append(payload(entry_id.decode(), fields[b"event"]))
            if len(page) < count:
                break
            cut = cut or len(kept) == limit
            high = f"({page[-1][0].decode()}"
        if after is None:
            return kept[::-1], True
        first = self.redis.xrange(key, count=1)
        # Complete when the feed still reaches back to `after` (not trimmed, not lost).
        reaches = bool(first) and stream_id(first[0][0].decode()) <= stream_id(after)
        return kept[::-1], reaches and not cut

    def carried(self, invoice: str) -> dict | None:
        """The sale of `invoice` as this feed stored and sent it, while the feed still holds
        it (today's); None for an invoice it never carried."""
        stored = self.redis.get(carried_key(invoice))
        if stored is None:
            return None
        entry_id, _, outlet = stored.decode().partition(" ")
        entries = self.redis.xrange(f"feed:{outlet}", min=entry_id, max=entry_id)
        return payload(entries[0][0].decode(), entries[0][1][b"event"]) if entries else None

    def sales_since(self, outlet: str, since: datetime) -> list[dict]:
        """The sales stored since `since` (ids are the times they were stored), and the
        cancellations that take some of them off again."""
        entries = self.redis.xrange(f"feed:{outlet}", min=str(int(since.timestamp() * 1000)))
        events = (payload(i.decode(), f[b"event"]) for i, f in entries)
        return [event for event in events if event["event"] in (SALE, CANCEL)]

    def last_id(self, outlet: str) -> str | None:
        last = self.redis.xrevrange(f"feed:{outlet}", count=1)
        return last[0][0].decode() if last else None

    def today(self, outlet: str) -> dict:
        """What the bridge has seen today: sales counted, Frappe's highest daily total, and
        when the last sale was stored (epoch seconds)."""
        return self.todays([outlet])[outlet]

    def todays(self, outlets: list[str]) -> dict[str, dict]:
        """`today` of several outlets, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for outlet in outlets:
            pipe.hgetall(f"feed:today:{outlet}")
        day = datetime.now(self.zone).date().isoformat()
        answers = zip(outlets, pipe.execute(), strict=True)
        return {outlet: today_of(stored, day) for outlet, stored in answers}


def carried_key(invoice: str | None) -> str:
    """Where the feed notes which outlet and entry carried an invoice's sale."""
    return f"feed:invoice:{invoice or ''}"


def today_of(stored: dict, day: str) -> dict:
    if stored.get(b"date", b"").decode() != day:
        return {"sales": 0, "daily_total": None, "last_sale": None}
    last_sale = stored.get(b"last_sale")
    return {
        "sales": int(stored.get(b"sales", 0)),
        "daily_total": float(stored.get(b"total", b"0").decode()),
        "last_sale": int(last_sale) / 1000 if last_sale else None,
    }


def stream_id(value: str) -> tuple[int, int]:
    millis, _, sequence = value.partition("-")
    return int(millis), int(sequence or 0)


def payload(entry_id: str, body) -> dict:
    """The event as browsers get it: its feed id, its kind as `event`, then its fields."""
    event = json.loads(body)
    return {"id": entry_id, "event": event.pop("kind"), **event}
