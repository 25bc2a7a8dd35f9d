"""Store TVs: paired once by a manager, then showing one outlet's day for weeks.

A TV shows a pairing code; a manager who may read the outlet types it in; the TV then holds a
long-lived display token (only its hash is stored) that reads that one outlet and nothing else.
A head-office TV is paired the same way to every outlet its pairer may read at that moment (the
list is kept with the display: a TV has no Frappe session to ask again), and reads those only.
Figures for TVs are fetched with the service account through the same cache as the pages.
"""

import hashlib
import json
import re
import secrets
import time
from dataclasses import asdict, dataclass

import redis

DISPLAY_COOKIE = "fd_display"
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off a TV across a room
CODE_LENGTH = 6
CODE_TTL = 600
KIOSK_LINK_TTL = 7 * 86400
MAX_LABEL = 60
DISPLAY_ID = re.compile(r"[0-9a-f]{16}")  # secrets.token_hex(8)
ONLINE_TTL = 30  # a display counts as online while its socket pings within this
NETWORK_MOST = 200  # outlets a head-office TV may follow: one socket's subscribe cap (live.py)
NETWORK_INDEX = "displays:network"


@dataclass
class Display:
    id: str
    outlet: str
    label: str
    paired_by: str
    paired_at: float
    public_safe: bool
    outlet_label: str = ""
    last_seen: float | None = None
    app_version: str | None = None
    # A head-office TV: [{"name", "label", "territory"}] of the outlets it shows; None for a
    # store TV of `outlet`.
    outlets: list | None = None

    def labels(self) -> dict[str, str]:
        """The outlets this display may show, with the names to show them by."""
        if self.outlets is None:
            return {self.outlet: self.outlet_label or self.outlet}
        return {row["name"]: row["label"] for row in self.outlets}

    def only_shows(self, readable: set[str]) -> bool:
        """Whether every outlet it shows is one of `readable` (who may see or revoke it)."""
        return self.labels().keys() <= readable

    def index_key(self) -> str:
        return NETWORK_INDEX if self.outlets is not None else f"displays:outlet:{self.outlet}"


def public_summary(figures: dict) -> dict:
    """Figures for a customer-facing screen: counts and items, never money."""
    keep = ("outlet", "label", "period", "invoice_count", "day", "feed_id", "as_of", "stale")
    items = [
        {"item_code": i["item_code"], "item_name": i["item_name"], "total_qty": i["total_qty"]}
        for i in figures["top_items"]
    ]
    public = {**{key: figures[key] for key in keep if key in figures}, "top_items": items}
    if figures.get("pace"):  # the percentage only: last week's amounts are money too
        public["pace"] = {"ratio": figures["pace"]["ratio"], "early": figures["pace"].get("early")}
    return public


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def clean_label(label: str) -> str | None:
    label = " ".join(label.split())
    return label[:MAX_LABEL] if label else None


def valid_code(code: str) -> str | None:
    """The code as we show it (spaces, dashes and case forgiven), or None if we never could."""
    code = "".join(code.split()).upper().replace("-", "")
    return code if len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET) else None


class Displays:
    def __init__(self, client: redis.Redis):
        self.redis = client

    # -- pairing codes ------------------------------------------------------------------------

    def new_code(self) -> tuple[str, str]:
        """A fresh single-use code and the secret the waiting TV keeps to collect its token."""
        waiting = secrets.token_urlsafe(24)
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if self.redis.set(f"pair:code:{code}", waiting, nx=True, ex=CODE_TTL):
                self.redis.set(f"pair:wait:{digest(waiting)}", code, ex=CODE_TTL)
                return code, waiting

    def waiting_code(self, waiting: str) -> tuple[str | None, int]:
        """The code a waiting TV shows, and its seconds left; (None, 0) once gone."""
        key = f"pair:wait:{digest(waiting)}"
        code = self.redis.get(key)
        return (code.decode(), max(self.redis.ttl(key), 0)) if code else (None, 0)

    def collect(self, waiting: str) -> str | None:
        """The display token for a TV whose code was paired, handed over once."""
        token = self.redis.getdel(f"pair:done:{digest(waiting)}")
        return token.decode() if token else None

    def pair(self, code: str, outlet: dict, label: str, manager: str, public_safe: bool,
             network: list | None = None):  # fmt: skip
        """Pair the TV showing `code` with `outlet` (or, for head office, the outlets of
        `network`); the display, or None for an unknown code."""
        code = valid_code(code)
        if code is None:
            return None  # not a code we could have shown
        waiting = self.redis.getdel(f"pair:code:{code}")
        if waiting is None:
            return None
        self.redis.delete(f"pair:wait:{digest(waiting.decode())}")
        display, token = self.create(outlet, label, manager, public_safe, network)
        self.redis.set(f"pair:done:{digest(waiting.decode())}", token, ex=CODE_TTL)
        return display

    def kiosk_link(self, outlet: dict, label: str, manager: str, public_safe: bool):
        """A display and a one-time link that pairs whichever browser opens it."""
        display, token = self.create(outlet, label, manager, public_safe)
        link = secrets.token_urlsafe(32)
        self.redis.set(f"pair:link:{digest(link)}", token, ex=KIOSK_LINK_TTL)
        self.redis.sadd(f"display:links:{display.id}", digest(link))
        return display, link

    def open_link(self, link: str) -> str | None:
        token = self.redis.getdel(f"pair:link:{digest(link)}")
        return token.decode() if token else None

    # -- displays -----------------------------------------------------------------------------

    def create(self, outlet: dict, label: str, manager: str, public_safe: bool, network=None):
        """A new display of `outlet` ({"name", "label"}), or of the outlets of `network`, and
        its token, shown to no one else."""
        display = Display(
            outlets=network,
            id=secrets.token_hex(8),
            outlet=outlet["name"],
            outlet_label=outlet["label"],
            label=label,
            paired_by=manager,
            paired_at=time.time(),
            public_safe=public_safe,
        )
        token = secrets.token_urlsafe(32)  # 256 bits
        pipe = self.redis.pipeline()
        pipe.set(f"display:{display.id}", json.dumps(asdict(display)))
        pipe.set(f"display:token:{digest(token)}", display.id)
        pipe.set(f"display:tokenof:{display.id}", digest(token))
        pipe.sadd(display.index_key(), display.id)
        pipe.execute()
        return display, token

    def get(self, display_id: str) -> Display | None:
        # Ids become key names: `tokenof:<id>` must not read another key as a display.
        if not isinstance(display_id, str) or not DISPLAY_ID.fullmatch(display_id):
            return None
        raw = self.redis.get(f"display:{display_id}")
        return Display(**json.loads(raw)) if raw else None

    def for_token(self, token: str | None) -> Display | None:
        if not token or len(token) > 100:
            return None
        display_id = self.redis.get(f"display:token:{digest(token)}")
        return self.get(display_id.decode()) if display_id else None

    def of_outlet(self, outlet: str) -> list[Display]:
        return self.listed(f"displays:outlet:{outlet}")

    def of_network(self) -> list[Display]:
        """Every head-office TV."""
        return self.listed(NETWORK_INDEX)

    def listed(self, key: str) -> list[Display]:
        ids = sorted(i.decode() for i in self.redis.smembers(key))
        displays = [self.get(i) for i in ids]
        return sorted((d for d in displays if d), key=lambda d: d.paired_at)

    def rename(self, display: Display, label: str) -> None:
        display.label = label
        self.save(display)

    def seen(self, display: Display, app_version: str | None) -> None:
        display.last_seen = time.time()
        if app_version:
            display.app_version = app_version[:40]
        self.save(display)
        self.redis.set(f"display:online:{display.id}", "1", ex=ONLINE_TTL)

    def offline(self, display_id: str) -> None:
        self.redis.delete(f"display:online:{display_id}")

    def online(self, display_id: str) -> bool:
        return bool(self.redis.exists(f"display:online:{display_id}"))

    def save(self, display: Display) -> None:
        self.redis.set(f"display:{display.id}", json.dumps(asdict(display)), xx=True)

    def revoke(self, display: Display) -> None:
        """Forget the display: its token and any unused kiosk link stop working at once."""
        token_digest = self.redis.get(f"display:tokenof:{display.id}")
        links = self.redis.smembers(f"display:links:{display.id}")
        pipe = self.redis.pipeline()
        if token_digest:
            pipe.delete(f"display:token:{token_digest.decode()}")
        for link in links:
            pipe.delete(f"pair:link:{link.decode()}")
        pipe.delete(
            f"display:{display.id}",
            f"display:tokenof:{display.id}",
            f"display:links:{display.id}",
            f"display:online:{display.id}",
        )
        pipe.srem(display.index_key(), display.id)
        pipe.execute()
