"""`make demo`: the whole system on this machine with the demo Frappe, run by honcho.

Starts a private Redis for us (unless REDIS_URL is set) and one standing in for Frappe's, both
under ./var/ (their logs too), then, under honcho, the demo Frappe with a sales generator, the
web app, the bridge, and prints where to log in. Ctrl-C stops everything, the Redis servers last:
stopped first, they made the others log their loss.
"""

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import redis

from .redis_server import free_port, start_redis

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
SITE = "demo.localhost"
SILENT_OUTLET = "Station Road Express"  # trades at every hour, but not today: it goes quiet


def redis_servers(env: dict) -> list[subprocess.Popen]:
    """Ours (unless REDIS_URL is set) and Frappe's, their URLs set in `env`."""
    servers = []
    wanted = [("FRAPPE_REDIS_URL", 6391, "frappe-redis")]
    if "REDIS_URL" not in os.environ:
        wanted.append(("REDIS_URL", 6390, "redis"))
    for name, preferred, directory in wanted:
        port = free_port(preferred)
        # Ours keeps sessions and paired TVs across demo restarts (var/redis/); Frappe's
        # carries only its realtime messages.
        persist = name == "REDIS_URL"
        servers.append(start_redis(port, VAR / directory, own_session=True, persist=persist))
        env[name] = f"redis://127.0.0.1:{port}/0"
        if persist:
            forget_the_last_frappe(env[name])
    return servers


# What a demo restart keeps of our Redis: paired TVs and their kiosk links. Everything else
# (the live feed, cached figures, pace baselines, quiet marks, sessions) was the previous demo
# Frappe's, which starts afresh with new invoices: kept, it would show sales Frappe never had.
KEPT_ACROSS_RESTARTS = ("display:", "displays:", "pair:link:")


def forget_the_last_frappe(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    stale = [key for key in client.scan_iter(count=1000)
             if not key.decode().startswith(KEPT_ACROSS_RESTARTS)]  # fmt: skip
    for start in range(0, len(stale), 1000):
        client.delete(*stale[start : start + 1000])


def procfile(web_port: int, frappe_port: int, env: dict) -> str:
    python = shlex.quote(sys.executable)
    lines = {}
    lines["frappe"] = (
        f"{python} -m frappe_sim --host 127.0.0.1 --port {frappe_port} --site {SITE}"
        f" --redis-url {env['FRAPPE_REDIS_URL']} --sales-per-minute 12"
        f" --pos-mode {env['FRAPPE_POS_MODE']}"
        f" --silent-outlet {shlex.quote(SILENT_OUTLET)}"
    )
    lines["web"] = (
        f"{shlex.quote(str(Path(sys.executable).parent / 'gunicorn'))} -k gevent -w 1"
        # Ctrl-C stops it at once (stop()); a plain SIGTERM gives connections 2 s, not 30.
        f" --pid {shlex.quote(str(web_pid(web_port)))} --graceful-timeout 2"
        f" -b 127.0.0.1:{web_port} 'dashboard:create_app()'"
    )
    frappe = f"http://127.0.0.1:{frappe_port}/"
    lines["bridge"] = f"{python} -m devtools.after {frappe} {python} -m dashboard.bridge"
    # The banner polls /healthz, which asks Frappe: not before it answers (or the web warns).
    lines["banner"] = (
        f"{python} -m devtools.after {frappe} {python} -m devtools.banner http://127.0.0.1:{web_port}"
    )
    return "".join(f"{name}: {command}\n" for name, command in lines.items())


def web_pid(web_port: int) -> Path:
    """Gunicorn's pid file, one per port: a second demo (PORT=5050) has its own."""
    return VAR / f"web-{web_port}.pid"


def stop(processes: subprocess.Popen, web_port: int, number: int) -> None:
    """Ctrl-C: gunicorn first, told to stop now (SIGINT: its workers exit at once). honcho's
    SIGTERM alone would be a graceful stop, which waits for every open browser and TV and
    then kills the worker, printing "[ERROR] ... SIGKILL! Perhaps out of memory?"."""
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(web_pid(web_port).read_text()), signal.SIGINT)
    processes.send_signal(number)


def main() -> int:
    VAR.mkdir(exist_ok=True)
    wanted = int(os.environ.get("PORT", 5000))
    web_port = free_port(wanted)
    if web_port != wanted:  # most likely a demo already running: don't start a second one
        print(
            f"Something already listens on port {wanted} (a demo started earlier?): open "
            f"http://127.0.0.1:{wanted}/login, or stop it, or run PORT=5050 make demo.",
            file=sys.stderr,
        )
        return 1
    frappe_port = free_port(8000)
    env = {
        "DASHBOARD_DEMO": "1",
        "PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "FRAPPE_URL": f"http://127.0.0.1:{frappe_port}",
        "FRAPPE_SITE": SITE,
        "FRAPPE_API_KEY": "demo_api_key",
        "FRAPPE_API_SECRET": "demo_api_secret",
        "FRAPPE_BRIDGE_USER": "Administrator",
        "FRAPPE_BRIDGE_PASSWORD": "admin",
        # The station kiosk, which trades at every hour, goes quiet a few minutes in.
        "QUIET_MIN_SECONDS": "120",
        # ERPNext's default POS flow; FRAPPE_POS_MODE=sales-invoice make demo shows the other.
        "FRAPPE_POS_MODE": os.environ.get("FRAPPE_POS_MODE", "consolidated"),
        "PYTHONUNBUFFERED": "1",
        # Eventlet and gunicorn's eventlet worker announce their deprecation at every start.
        "PYTHONWARNINGS": "ignore",
    }
    servers = redis_servers(env)
    try:
        (VAR / "Procfile.demo").write_text(procfile(web_port, frappe_port, env))
        honcho = str(Path(sys.executable).parent / "honcho")
        command = [honcho, "-f", str(VAR / "Procfile.demo"), "-d", str(ROOT), "start"]
        processes = subprocess.Popen(command, env={**os.environ, **env})
        # Passed on to honcho, which stops its processes (a second Ctrl-C changes nothing);
        # the Redis servers go once it is done.
        for name in (signal.SIGINT, signal.SIGTERM):
            signal.signal(name, lambda number, _frame: stop(processes, web_port, number))
        processes.wait()
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
