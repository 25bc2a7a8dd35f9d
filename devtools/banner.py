"""Waits for the web app to answer, then prints where to log in; stays up so honcho keeps going."""

import sys
import threading
import time

import requests

LOGINS = [
    ("manager1@example.com", "manager1", "OUTLET-001 only"),
    ("manager2@example.com", "manager2", "OUTLET-002 and OUTLET-003"),
    ("Administrator", "admin", "every outlet"),
    ("otp@example.com", "otp", "OUTLET-003, two-factor: code 123456"),
    ("website@example.com", "website", "nothing (a Website User)"),
]
AGAIN_AFTER = 30  # seconds: once more when the first sales have scrolled it away
REMIND_EVERY = 180  # then a line now and then


def main(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:  # Redis, Frappe and the bridge up
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    else:
        print(f"The web app did not come up at {url}; see the web lines above.", flush=True)
    rows = "\n".join(f"    {user:<24} {pwd:<10} {what}" for user, pwd, what in LOGINS)
    banner = (
        f"\n  Franchise Dashboard is up: open {url}/login\n\n"
        f"  Demo logins (user, password, sees):\n{rows}\n\n  Ctrl-C stops everything.\n"
    )
    print(banner, flush=True)
    stop = threading.Event()
    stop.wait(AGAIN_AFTER)
    print(banner, flush=True)
    while not stop.wait(REMIND_EVERY):
        print(f"  Franchise Dashboard: {url}/login (manager1 / manager1, ...; Ctrl-C stops)",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1])
