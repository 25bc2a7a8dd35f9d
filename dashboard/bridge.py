"""python -m dashboard.bridge: forwards Frappe's realtime sales to the allowed browsers.

Not built yet: it comes with the live-sales issue. Until then it says so and exits.
"""

import sys

from . import config


def main() -> int:
    config.load_or_exit()
    print("dashboard.bridge: the live bridge is not built yet; nothing to run.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
