"""`make demo`: the whole system on this machine with the demo Frappe, run by honcho.

Starts a private Redis for us (unless REDIS_URL is set) and one standing in for Frappe's, both
under ./var/, the demo Frappe with a sales generator, the web app, the bridge, and prints where
to log in. Ctrl-C stops everything.
"""

import os
import shlex
import sys
from pathlib import Path

from .redis_server import free_port, redis_command

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
SITE = "demo.localhost"


def procfile(web_port: int, frappe_port: int, env: dict) -> str:
    python = shlex.quote(sys.executable)
    lines = {}
    if "REDIS_URL" not in os.environ:
        port = free_port(6390)
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        lines["redis"] = shlex.join(redis_command(port, VAR / "redis"))
    frappe_redis_port = free_port(6391)
    env["FRAPPE_REDIS_URL"] = f"redis://127.0.0.1:{frappe_redis_port}/0"
    lines["frappe-redis"] = shlex.join(redis_command(frappe_redis_port, VAR / "frappe-redis"))
    lines["frappe"] = (
        f"{python} -m frappe_sim --host 127.0.0.1 --port {frappe_port} --site {SITE}"
        f" --redis-url {env['FRAPPE_REDIS_URL']} --sales-per-minute 12"
    )
    lines["web"] = (
        f"{shlex.quote(str(Path(sys.executable).parent / 'gunicorn'))} -k gevent -w 1"
        f" -b 127.0.0.1:{web_port} 'dashboard:create_app()'"
    )
    lines["bridge"] = f"{python} -m dashboard.bridge"
    lines["banner"] = f"{python} -m devtools.banner http://127.0.0.1:{web_port}"
    return "".join(f"{name}: {command}\n" for name, command in lines.items())


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
        "PYTHONUNBUFFERED": "1",
        # Eventlet and gunicorn's eventlet worker announce their deprecation at every start.
        "PYTHONWARNINGS": "ignore",
    }
    (VAR / "Procfile.demo").write_text(procfile(web_port, frappe_port, env))
    env = {**os.environ, **env}
    honcho = str(Path(sys.executable).parent / "honcho")
    command = [honcho, "-f", str(VAR / "Procfile.demo"), "-d", str(ROOT), "start"]
    os.execve(honcho, command, env)


if __name__ == "__main__":
    sys.exit(main())
