"""Logging for the web and the bridge: one JSON object per line by default (LOG_FORMAT=json),
plain text for a person at a terminal (LOG_FORMAT=text). Nothing logged carries a sid, password
or API secret: the code never passes them to a logger."""

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

TEXT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def configure(settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(name)s %(levelname)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
