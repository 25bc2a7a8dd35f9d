"""Read by gunicorn from the working directory: check the settings before any worker starts.

Without this, a bad setting would make every worker fail to boot and gunicorn respawn them.
(Module-level names here are gunicorn settings, hence the unusual import name.)
"""

from dashboard.config import load_or_exit as check_dashboard_settings


def on_starting(server):
    check_dashboard_settings()
