"""Read by gunicorn from the working directory: check the settings before any worker starts.

Without this, a bad setting would make every worker fail to boot and gunicorn respawn them.
config.py is loaded on its own, not through the dashboard package, so that the master imports
no Flask before a gevent or eventlet worker monkey-patches.
"""

import importlib.util
from pathlib import Path

# Connections one gevent (or eventlet) worker holds at once; gunicorn's default is 1,000, and
# every open browser or TV holds one. An idle socket costs about 40 KiB, 60 right after a
# reconnect burst (docs/benchmarks.md, section 7): 10,000 are about 400-600 MiB.
# `--worker-connections N` on the command line overrides this.
worker_connections = 10_000

# On SIGTERM gunicorn lets requests in flight finish for this long, then stops the worker. A page
# answers within FRAPPE_WAIT_SECONDS (1.5 s) and a render; an open socket never "finishes" and
# only held a restart for gunicorn's 30 s (measured) before being cut anyway: browsers and TVs
# reconnect and replay what they missed from the feed. `--graceful-timeout N` overrides this.
graceful_timeout = 5

# Gunicorn 25's control socket is one path per user (~/.gunicorn/gunicorn.ctl): several web
# processes on one host (deploy/systemd's web@PORT) would take it from each other, and nothing
# of ours uses it. Older gunicorns (the eventlet extra holds <26) ignore the setting.
control_socket_disable = True


def on_starting(server):
    path = Path(__file__).resolve().parent / "dashboard" / "config.py"
    spec = importlib.util.spec_from_file_location("dashboard_settings_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.load_or_exit()


def post_fork(server, worker):
    # Python collects its youngest objects every 700 allocations and, now and then, walks the
    # whole heap: with thousands of sockets that heap is large and the walk stops every socket
    # for a few hundred ms. Collecting less often cut the fan-out's p99 at 1,000 sockets from
    # 449 ms to 105 ms (docs/benchmarks.md, "Capacity"); cycles are still collected.
    import gc

    gc.set_threshold(50_000, 20, 100)
