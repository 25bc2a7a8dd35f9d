"""What an idle socket holds: `python -m bench.socket_memory [sockets]`.

Runs a benchmark stack whose gunicorn worker is the Procfile's (`-k gevent`, gunicorn.conf.py)
with tracemalloc snapshots on a signal (bench/socket_memory_config.py), connects that many
sockets of one outlet from the Node load generator, and compares the snapshots taken before and
after: bytes per socket by file and by line, and the worker's resident memory per socket. A
profile for docs/benchmarks.md, not a scenario.
"""

import os
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil

from .fanout import finish_loadgen, run_loadgen
from .harness import Stack, login_cookie, wait_until

PACKAGES = str(Path(psutil.__file__).parent.parent) + "/"
CONFIG = Path(__file__).with_name("socket_memory_config.py")


def connect(url: str, cookie: str, clients: int):
    config = {"url": url, "cookie": cookie, "clients": clients, "outlets": ["BENCH-0000"],
              "mode": "rooms", "extra_all": 0}  # fmt: skip
    return run_loadgen(config)[0]


def snapshot(worker: psutil.Process, folder: Path, number: int) -> tracemalloc.Snapshot:
    worker.send_signal(signal.SIGUSR2)
    path = folder / f"{number}.snapshot"
    wait_until(lambda: path.exists() and path.stat().st_size > 0, what="the worker's snapshot")
    time.sleep(0.5)  # the dump's last write
    return tracemalloc.Snapshot.load(str(path))


def main(sockets: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GUNICORN_CMD_ARGS"] = f"--config {CONFIG}"
        os.environ["SOCKET_MEMORY_SNAPSHOTS"] = tmp
        with Stack("gevent", Path(tmp), outlets=1) as stack:
            worker, url = stack.web_workers()[0], stack.web_url
            cookie = login_cookie(url)
            finish_loadgen(connect(url, cookie, 20))  # lazy imports and caches, before measuring
            before, rss = snapshot(worker, Path(tmp), 1), worker.memory_info().rss
            loadgen = connect(url, cookie, sockets)
            time.sleep(3)
            after, grown = snapshot(worker, Path(tmp), 2), worker.memory_info().rss - rss
            report(before, after, grown, sockets)
            finish_loadgen(loadgen)


def report(before, after, grown: int, sockets: int) -> None:
    traced = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    print(f"{sockets} sockets: resident {grown / sockets / 1024:.1f} KiB each (tracemalloc's "
          f"own bookkeeping included), traced {traced / sockets / 1024:.1f} KiB each")  # fmt: skip
    for key in ("filename", "lineno"):
        print(f"\nbytes per socket by {key}:")
        for stat in after.compare_to(before, key)[:15]:
            frame = stat.traceback[0]
            where = frame.filename.replace(PACKAGES, "")
            where += f":{frame.lineno}" if key == "lineno" else ""
            print(f"{stat.size_diff / sockets:8.0f}  {where}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
