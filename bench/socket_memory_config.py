"""gunicorn's settings for `bench.socket_memory`: the project's own, and tracemalloc snapshots
in the worker on SIGUSR2 (the first starts tracing, the second writes both to SNAPSHOTS)."""

import importlib.util
import os
from pathlib import Path

# The Procfile's settings first (worker connections, GC thresholds, the settings check).
_path = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
_spec = importlib.util.spec_from_file_location("project_gunicorn_conf", _path)
_project = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_project)
globals().update({k: v for k, v in vars(_project).items() if not k.startswith("__")})

SNAPSHOTS = Path(os.environ["SOCKET_MEMORY_SNAPSHOTS"])


def post_worker_init(worker):
    import gc
    import signal
    import tracemalloc

    import gevent

    taken = []

    def snapshot():
        gc.collect()
        if not taken:
            tracemalloc.start(8)
        taken.append(tracemalloc.take_snapshot())
        taken[-1].dump(str(SNAPSHOTS / f"{len(taken)}.snapshot"))

    gevent.signal_handler(signal.SIGUSR2, snapshot)
