"""Failed attempts (passwords, two-factor codes, pairing codes), counted before they are tried.

Flask-Limiter's `deduct_when` checks a limit before the view and counts after it, so a burst of
concurrent attempts all pass the check: 40 wrong passwords at once reached Frappe 16 times and
locked the account there. Here an attempt first takes a slot, in one atomic step in our Redis,
and only then goes to Frappe; one that did not fail (it worked, or Frappe was unreachable) gives
its slot back.
"""

import contextlib
from dataclasses import dataclass, field

import redis
from limits import parse

TAKE = """
local taken = redis.call('INCR', KEYS[1])
if taken == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {taken, redis.call('TTL', KEYS[1])}
"""


@dataclass
class Attempt:
    """Slots taken for one attempt; `retry_after` is set when a limit refused it."""

    throttle: "Throttle"
    keys: list = field(default_factory=list)
    retry_after: int = 0

    @property
    def refused(self) -> bool:
        return self.retry_after > 0

    def give_back(self) -> None:
        """The attempt did not fail: it does not count."""
        with contextlib.suppress(redis.RedisError):
            pipe = self.throttle.redis.pipeline(transaction=False)
            for key in self.keys:
                pipe.decr(key)
            pipe.execute()
        self.keys = []


class Throttle:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self.take_script = client.register_script(TAKE)

    def attempt(self, *limits: tuple[str, str, str]) -> Attempt:
        """Take a slot under each (kind, who, "N per period") limit; refused if any is full."""
        attempt = Attempt(self)
        for kind, who, limit in limits:
            item = parse(limit)
            key = f"attempts:{kind}:{who}"
            taken, ttl = self.take_script(keys=[key], args=[item.get_expiry()])
            attempt.keys.append(key)
            if taken > item.amount:
                attempt.retry_after = max(attempt.retry_after, int(ttl), 1)
        if attempt.refused:
            attempt.give_back()  # refused here, never tried: it costs no slot
        return attempt
