"""Scenario 5, the message queue: how many Socket.IO messages one Redis carries a second.

Every web process subscribes to the one channel the bridge publishes on (python-socketio's
RedisManager), so each sale is one PUBLISH and as many deliveries as there are web processes.
Publishers emit a sale-sized message to an outlet room as the bridge does, as fast as they
can, while subscriber processes (standing in for web processes) count what arrives. Reported:
messages published and delivered per second, and what our Redis itself spent.
"""

import multiprocessing
import tempfile
import time
from pathlib import Path

import redis
import socketio

from dashboard.channel import MESSAGE_QUEUE_CHANNEL
from devtools.redis_server import free_port, start_redis

from .harness import stop

SALE = {"id": "1764000000000-0", "event": "live_pos_sale", "outlet": "OUTLET-001",
        "invoice": "POSINV-00001", "grand_total": 250.0, "timestamp": "2026-12-02T14:05:01",
        "items": [{"item": "Espresso", "qty": 1.0, "amount": 250.0}]}  # fmt: skip


def publish(url: str, seconds: float, sent) -> None:
    emitter = socketio.RedisManager(url, channel=MESSAGE_QUEUE_CHANNEL, write_only=True)
    count, until = 0, time.monotonic() + seconds
    while time.monotonic() < until:
        emitter.emit("live_pos_sale", SALE, room="outlet:OUTLET-001", namespace="/")
        count += 1
    with sent.get_lock():
        sent.value += count


def subscribe(url: str, ready, received) -> None:
    pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(MESSAGE_QUEUE_CHANNEL)
    ready.release()
    count = 0
    for message in pubsub.listen():
        if message["data"] == b"stop":
            break
        count += 1
    with received.get_lock():
        received.value += count


def started(count: int, target, *args) -> list[multiprocessing.Process]:
    processes = [multiprocessing.Process(target=target, args=args) for _ in range(count)]
    for process in processes:
        process.start()
    return processes


def one_run(publishers: int, subscribers: int, seconds: float, tmp: Path) -> dict:
    port = free_port()
    server = start_redis(port, tmp)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        sent, received = multiprocessing.Value("q", 0), multiprocessing.Value("q", 0)
        ready = multiprocessing.Semaphore(0)
        listeners = started(subscribers, subscribe, url, ready, received)
        for _ in listeners:
            ready.acquire()
        client = redis.Redis.from_url(url)
        cpu_before = client.info("cpu")
        for talker in started(publishers, publish, url, seconds, sent):
            talker.join()
        client.publish(MESSAGE_QUEUE_CHANNEL, b"stop")
        for listener in listeners:
            listener.join(timeout=60)
        cpu = client.info("cpu")
        redis_cpu = sum(cpu[k] - cpu_before[k] for k in ("used_cpu_sys", "used_cpu_user"))
        return {
            "publishers": publishers,
            "subscribers": subscribers,
            "published_per_s": round(sent.value / seconds),
            "delivered_per_s": round(received.value / seconds),
            "lost": sent.value * subscribers - received.value,
            "redis_cpu_share": round(redis_cpu / seconds, 2),
        }
    finally:
        stop(server)


def scenario(seconds: float = 5.0, layouts=((1, 1), (1, 4), (2, 4))) -> list[dict]:
    rows = []
    for publishers, subscribers in layouts:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(one_run(publishers, subscribers, seconds, Path(tmp)))
    return rows


def markdown(rows: list[dict], title: str) -> str:
    lines = [f"**{title}**", "",
             "| publishers (bridges) | subscribers (web processes) | messages published / s "
             "| deliveries / s | lost | our Redis's CPU (cores) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        lines.append(
            f"| {row['publishers']} | {row['subscribers']} | {row['published_per_s']:,} "
            f"| {row['delivered_per_s']:,} | {row['lost']} | {row['redis_cpu_share']} |"
        )
    return "\n".join(lines)
