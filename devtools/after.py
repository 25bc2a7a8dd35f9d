"""`python -m devtools.after URL COMMAND...`: once URL answers, become COMMAND (same process, so
honcho's signals reach it). The demo starts the bridge and the banner (whose /healthz probes
make the web ask Frappe) after the demo Frappe this way, so their first questions to Frappe are
answered instead of logged as warnings."""

import os
import sys
import time

import requests


def main(url: str, command: list[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.2)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
