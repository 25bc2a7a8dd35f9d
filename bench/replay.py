"""Scenario 7, replay of large sales: what a web process holds while screens catch up.

Any Frappe user who names items can make a sale of ~220 KB (500 items of emoji, under the
bridge's 256 KiB message limit). One outlet's feed is filled with such sales, then `screens`
browsers reconnect at once, each asking for everything after the feed's first id. Reported: the
bytes an outlet's feed holds in our Redis, the bytes of one replay, and the web worker's resident
memory before, at its peak and after.
"""

import json
import threading
import time

import redis
import socketio

from .harness import SITE, Sampler, Stack, login_cookie, rss, wait_until

OUTLET = "BENCH-0000"


def large_sale(seq: int) -> bytes:
    items = [{"item": "🍕" * 100 + f" {n}", "qty": 1, "amount": 1} for n in range(500)]
    message = {"outlet": OUTLET, "invoice": f"R-{time.time_ns()}-{seq}", "grand_total": 500,
               "items": items, "timestamp": "2026-11-23 9:00:00.000001"}  # fmt: skip
    body = {"event": "live_pos_sale", "message": message, "namespace": SITE, "room": "all"}
    return json.dumps(body, ensure_ascii=False).encode()


def scenario(sales: int, screens: int, tmp) -> dict:
    with Stack("gevent", tmp, outlets=1) as stack:
        ours, theirs = (redis.Redis.from_url(u) for u in (stack.redis_url, stack.frappe_redis_url))
        sale_bytes = len(large_sale(0))
        for seq in range(sales):
            # At a pace: a burst of 100 MB would pass Redis's output buffer limit for the
            # bridge's subscription (32 MB), which then drops the bridge.
            theirs.publish("events", large_sale(seq))
            time.sleep(0.02)
        feed = f"feed:{OUTLET}"
        wait_until(lambda: ours.xlen(feed) >= min(sales, 500), what="the feed")
        first = ours.xrange(feed, count=1)[0][0].decode()
        workers = stack.web_workers()
        cookie = login_cookie(stack.web_url)
        time.sleep(1)
        before = rss(workers)
        sampler = Sampler(workers)
        sampler.start()
        sizes, clients, connected, start = [], [], [], threading.Barrier(screens)

        def screen():
            client = socketio.Client(reconnection=False)
            client.connect(stack.web_url, headers={"Cookie": cookie}, transports=["websocket"])
            clients.append(client)
            if start.wait() == 0:
                connected.append(rss(workers))
            ack = client.call("subscribe", {"outlet": OUTLET, "after": first}, timeout=60)
            sizes.append(len(json.dumps(ack["events"], ensure_ascii=False).encode()))

        threads = [threading.Thread(target=screen) for _ in range(screens)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(2)
        after = rss(workers)
        used = sampler.finish()
        for client in clients:
            client.disconnect()
        return {
            "sales": sales,
            "screens": screens,
            "message_kb": round(sale_bytes / 1024, 1),
            "feed_kb": round(ours.memory_usage(feed) / 1024, 1),
            "replay_kb": round(max(sizes) / 1024, 1),
            "rss_before_mb": round(before / 2**20, 1),
            "rss_connected_mb": round(connected[0] / 2**20, 1),
            "rss_peak_mb": used["peak_rss_mb"],
            "rss_after_mb": round(after / 2**20, 1),
        }


def markdown(table: dict, title: str) -> str:
    return "\n".join([
        f"**{title}**", "",
        "| sales in the feed | screens replaying | one message (KiB) | the feed in Redis (KiB) "
        "| one replay (KiB) | worker RSS before / screens connected / peak / after (MiB) |",
        "|---|---|---|---|---|---|",
        f"| {table['sales']} | {table['screens']} | {table['message_kb']} | {table['feed_kb']} "
        f"| {table['replay_kb']} | {table['rss_before_mb']} / {table['rss_connected_mb']} / "
        f"{table['rss_peak_mb']} / "
        f"{table['rss_after_mb']} |",
    ])  # fmt: skip
