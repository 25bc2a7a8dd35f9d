"""Our Redis, from REDIS_URL: one server, or the Sentinels that name its master.

Every part that uses our Redis (sessions, caches and locks, the feed, displays, throttles, the
limiter, the Socket.IO message queue, the bridge) is built from here. With Sentinels, a
connection asks them for the master whenever it (re)connects, and drops itself when the server
it reaches has become a replica, so after a failover no part keeps talking to the old master.

    redis+sentinel://[[user]:password@]host1:port1,host2:port2/db/service_name

is the form python-socketio's RedisManager reads; the limiter (the `limits` package) wants the
service name as the whole path, so it gets its own URI built from the same parts.
"""

import redis
from redis.sentinel import Sentinel, SentinelConnectionPool

from .config import SENTINEL_SCHEME, sentinels_of

# A Sentinel that does not answer within this is passed over for the next one.
SENTINEL_TIMEOUT = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
# A master that does not accept a connection within this counts as gone (a dead host sends
# no refusal: without it a request would hang for minutes).
CONNECT_TIMEOUT = 2.0


class BlockingSentinelPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """The master's connections, waiting for a free one at the limit as BlockingConnectionPool
    does (a burst of browsers under gevent would otherwise get "Too many connections")."""


def connect(url: str, max_connections: int | None = None, **options) -> redis.Redis:
    """A client of our Redis (its current master, when `url` names Sentinels). With
    `max_connections`, a request waits up to 10 s for a free connection at that limit."""
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT)
    sentinels = sentinels_of(url)
    if sentinels is None:
        if max_connections is None:
            return redis.Redis.from_url(url, **options)
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=10, **options
        )
        return redis.Redis(connection_pool=pool)
    manager = Sentinel(sentinels.hosts, sentinel_kwargs={**SENTINEL_TIMEOUT, **sentinels.auth()})
    if max_connections is not None:
        options.update(connection_pool_class=BlockingSentinelPool,
                       max_connections=max_connections, timeout=10)  # fmt: skip
    return manager.master_for(sentinels.service, db=sentinels.db, **sentinels.auth(), **options)


def socketio_options(url: str, max_connections: int) -> dict:
    """RedisManager's redis_options: it reads `url` itself and passes these on."""
    options = {"max_connections": max_connections}
    if sentinels := sentinels_of(url):
        options["sentinel_kwargs"] = {**SENTINEL_TIMEOUT, **sentinels.auth()}
    return options


def limiter_storage(url: str, max_connections: int) -> tuple[str, dict]:
    """Flask-Limiter's storage URI and options for our Redis."""
    sentinels = sentinels_of(url)
    if sentinels is None:
        return url, {"max_connections": max_connections}
    hosts = ",".join(f"{host}:{port}" for host, port in sentinels.hosts)
    options = {
        "service_name": sentinels.service,
        "db": sentinels.db,
        "use_replicas": False,  # a replica is behind by a moment: counts must be exact
        "sentinel_kwargs": dict(SENTINEL_TIMEOUT),  # and the password, which limits adds
        "max_connections": max_connections,
        **sentinels.auth(),
    }
    return f"{SENTINEL_SCHEME}://{hosts}", options
