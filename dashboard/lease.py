"""Which of several bridges stores and sends events: a lease in our Redis, held by one."""

import contextlib
import uuid

import redis

from .channel import LEADER_KEY


class Lease:
    """Which of several bridges stores and sends events: one at a time. Two that both sent
    would each send some of an outlet's sales, and one's could overtake the other's; pages
    would then drop a sale whose id is below one they have seen."""

    TAKE_OR_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
    RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

    def __init__(self, client: redis.Redis, seconds: float):
        self.id, self.millis = uuid.uuid4().hex, int(seconds * 1000)
        self.take_script = client.register_script(self.TAKE_OR_RENEW)
        self.release_script = client.register_script(self.RELEASE)

    def hold(self) -> bool:
        """Take the lease or renew it: whether this bridge leads now."""
        return bool(self.take_script(keys=[LEADER_KEY], args=[self.id, self.millis]))

    def release(self) -> None:
        """Stopping on purpose: let a standby take over at once."""
        with contextlib.suppress(redis.RedisError):
            self.release_script(keys=[LEADER_KEY], args=[self.id])
