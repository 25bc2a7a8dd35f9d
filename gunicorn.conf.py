"""Read by gunicorn from the working directory: check the settings before any worker starts.

Without this, a bad setting would make every worker fail to boot and gunicorn respawn them.
config.py is loaded on its own, not through the dashboard package, so that the master imports
no Flask before a gevent or eventlet worker monkey-patches.
"""

import importlib.util
from pathlib import Path

# Connections one gevent (or eventlet) worker holds at once; gunicorn's default is 1,000, and
# every open browser or TV holds one. An idle socket costs about 73 KiB (docs/benchmarks.md):
# 10,000 are about 730 MiB. `--worker-connections N` on the command line overrides this.
worker_connections = 10_000


def on_starting(server):
    path = Path(__file__).resolve().parent / "dashboard" / "config.py"
    spec = importlib.util.spec_from_file_location("dashboard_settings_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.load_or_exit()
