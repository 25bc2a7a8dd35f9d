"""gunicorn's settings for `bench.socket_memory`: the project's own, and on SIGUSR2 the worker
writes where its memory is to SNAPSHOTS (N.json) and, with SOCKET_MEMORY_TRACE=1, a tracemalloc
snapshot (N.snapshot; the first signal starts tracing)."""

import ctypes
import importlib.util
import json
import os
import re
import sys
import tempfile
from pathlib import Path

# The Procfile's settings first (worker connections, GC thresholds, the settings check).
_path = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
_spec = importlib.util.spec_from_file_location("project_gunicorn_conf", _path)
_project = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_project)
globals().update({k: v for k, v in vars(_project).items() if not k.startswith("__")})

SNAPSHOTS = Path(os.environ["SOCKET_MEMORY_SNAPSHOTS"])
TRACE = os.environ.get("SOCKET_MEMORY_TRACE") == "1"


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]  # fmt: skip


def glibc_heap() -> dict:
    """glibc's malloc, which serves every block over 512 bytes (greenlet stacks, buffers)."""
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return {"in_use": info.uordblks, "mmapped": info.hblkhd, "free": info.fordblks}


def pymalloc() -> dict:
    """Python's small-object allocator (blocks up to 512 bytes in 1 MiB arenas)."""
    with tempfile.TemporaryFile("w+") as out:
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()

    def number(label):  # 0 where pymalloc is off (PYTHONMALLOC=malloc)
        found = re.search(label + r"\s*=\s*([\d,]+)", text)
        return int(found.group(1).replace(",", "")) if found else 0

    free = number("# bytes in available blocks") + number(r"unused pools \* 16384 bytes")
    in_use = number("# bytes in allocated blocks")
    return {"arenas": number(r"arenas \* 1048576 bytes/arena"), "in_use": in_use, "free": free}


def resident() -> dict:
    """Resident bytes of the process by kind of mapping, from /proc/self/smaps."""
    kinds, kind = {"heap": 0, "anonymous": 0, "files": 0, "stacks": 0}, "files"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            name = fields[5] if len(fields) > 5 else ""
            kind = {"[heap]": "heap", "": "anonymous", "[stack]": "stacks"}.get(name, "files")
        elif fields[0] == "Rss:":
            kinds[kind] += int(fields[1]) * 1024
    return kinds


def accounting() -> dict:
    return {"resident": resident(), "glibc": glibc_heap(), "pymalloc": pymalloc()}


def post_worker_init(worker):
    import gc
    import signal
    import tracemalloc

    import gevent

    taken = []

    def snapshot():
        uncollected = sum(resident().values())
        gc.collect()
        if TRACE and not taken:
            tracemalloc.start(8)
        taken.append(tracemalloc.take_snapshot() if TRACE else None)
        if TRACE:
            taken[-1].dump(str(SNAPSHOTS / f"{len(taken)}.snapshot"))
        (SNAPSHOTS / f"{len(taken)}.json").write_text(
            json.dumps({**accounting(), "uncollected": uncollected})
        )

    gevent.signal_handler(signal.SIGUSR2, snapshot)
