"""What an idle socket holds: `python -m bench.socket_memory [sockets]`.

Serves the app in this process (gevent, as the Procfile's worker does) beside a benchmark stack,
connects that many sockets of one outlet from the Node load generator, and compares tracemalloc
snapshots taken before and after: bytes per socket by file and by line, the resident memory
per socket, and the greenlets per socket. A profile for docs/benchmarks.md, not a scenario.
"""

from gevent import monkey

monkey.patch_all()

import gc  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import greenlet  # noqa: E402
import psutil  # noqa: E402

from devtools.redis_server import free_port  # noqa: E402

from .fanout import finish_loadgen, run_loadgen  # noqa: E402
from .harness import Stack, login_cookie  # noqa: E402

PACKAGES = str(Path(psutil.__file__).parent.parent) + "/"


def connect(url: str, cookie: str, clients: int):
    config = {"url": url, "cookie": cookie, "clients": clients, "outlets": ["BENCH-0000"],
              "mode": "rooms", "extra_all": 0}  # fmt: skip
    return run_loadgen(config)[0]


def main(sockets: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, Stack("gevent", Path(tmp), outlets=1) as stack:
        os.environ.update(stack.env())
        from dashboard import create_app
        from dashboard.extensions import socketio

        app, port = create_app(), free_port()
        socketio.start_background_task(socketio.run, app, port=port, log_output=False)
        time.sleep(1)
        url = f"http://127.0.0.1:{port}"
        cookie = login_cookie(url)
        finish_loadgen(connect(url, cookie, 20))  # lazy imports and caches, before measuring
        gc.collect()
        tracemalloc.start(8)
        before, rss = tracemalloc.take_snapshot(), psutil.Process().memory_info().rss
        loadgen = connect(url, cookie, sockets)
        time.sleep(3)
        gc.collect()
        after = tracemalloc.take_snapshot()
        grown = psutil.Process().memory_info().rss - rss
        traced = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        greenlets = sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet))
        print(f"{sockets} sockets: resident {grown / sockets / 1024:.1f} KiB each (tracemalloc's "
              f"own bookkeeping included), traced {traced / sockets / 1024:.1f} KiB each, "
              f"{greenlets / sockets:.1f} greenlets each")  # fmt: skip
        for key in ("filename", "lineno"):
            print(f"\nbytes per socket by {key}:")
            for stat in after.compare_to(before, key)[:15]:
                frame = stat.traceback[0]
                where = frame.filename.replace(PACKAGES, "")
                where += f":{frame.lineno}" if key == "lineno" else ""
                print(f"{stat.size_diff / sockets:8.0f}  {where}")
        finish_loadgen(loadgen)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
