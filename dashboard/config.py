"""Every setting, read from the environment once and checked at start.

Missing or malformed settings stop the process with one line naming each variable and what it
expects (exit status 2), never a traceback.
"""

import os
import sys
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import babel
import babel.numbers
from limits import parse_many

ASYNC_MODES = ("eventlet", "gevent", "threading")
REALTIME_SOURCES = ("redis", "socketio")
# How the site's POS sells (frappe-contract.md, "How ERPNext sites really sell"): a Sales
# Invoice per sale, or POS Invoices merged into Sales Invoices at the POS closing.
POS_MODES = ("sales-invoice", "consolidated")


class ConfigError(Exception):
    def __init__(self, name: str, expected: str):
        super().__init__(f"{name}: {expected}")
        self.name = name


class ConfigErrors(ConfigError):
    """Every bad setting of one start, in one line: nobody should need five runs to find them."""

    def __init__(self, errors: list[ConfigError]):
        Exception.__init__(self, "; ".join(str(error) for error in errors))
        self.name = errors[0].name
        self.names = [error.name for error in errors]


@dataclass(frozen=True)
class Settings:
    frappe_url: str
    frappe_site: str
    redis_url: str
    secret_key: str
    demo: bool = False
    public_url: str = ""  # where people reach us: absolute links are built from it
    frappe_redis_url: str | None = None
    frappe_realtime: str = "redis"
    frappe_pos_mode: str = "sales-invoice"
    frappe_realtime_url: str = ""  # Frappe's realtime server; load() makes it FRAPPE_URL
    frappe_api_key: str | None = None
    frappe_api_secret: str | None = None
    frappe_bridge_user: str | None = None
    frappe_bridge_password: str | None = None
    frappe_connect_timeout: float = 3.0
    frappe_read_timeout: float = 10.0
    frappe_wait_seconds: float = 1.5  # how long a page waits for Frappe before going without
    async_mode: str = "gevent"
    login_limit_per_address: str = "8 per minute"
    login_limit_per_user: str = "5 per minute"
    cookie_secure: bool = True
    proxy_hops: int = 0
    log_level: str = "INFO"
    log_format: str = "json"
    figures_cache_seconds: float = 10.0
    permission_cache_seconds: float = 60.0
    currency: str = "INR"
    locale: str = "en_IN"
    time_zone: str | None = None  # None: the site's, as Frappe tells it
    feed_max_len: int = 500
    locator_cache_seconds: float = 300.0
    locator_rate_limit: str = "120 per minute"
    locator_frame_origins: tuple = ()
    directions_url: str = "https://www.google.com/maps/dir/?api=1&destination={lat},{lng}"
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "© OpenStreetMap contributors"
    redis_max_connections: int = 1000
    socket_origins: tuple = ()
    metrics_token: str | None = None
    app_version: str | None = None  # None: the package version and a digest of the front end
    pairing_codes_per_address: str = "30 per hour"
    pairing_codes_total: str = "1000 per 10 minutes"  # every address together
    pairing_attempts_per_user: str = "10 per 10 minutes"
    subscribes_per_user: str = (
        "600 per minute"  # over every login and socket of a person or display
    )
    subscribes_per_address: str = "6000 per minute"  # over everyone behind one address
    live_recheck_seconds: float = 180.0
    request_body_seconds: float = 10.0  # a request's body is read whole within this, or 408
    # After an outlet's last sale, this long without another before the bridge re-reads its
    # figures from Frappe, for screens to show Frappe's own once a rush is over.
    live_reconcile_seconds: float = 5.0
    # An outlet is quiet after at least this long without a sale in its usual hours (quiet.py).
    quiet_min_seconds: float = 900.0
    sockets_per_session: int = 20  # WebSockets one session or display may hold in a web process
    sockets_per_address: int = 200  # ... and one address (a franchise office behind one NAT)
    socket_connect_seconds: float = 5.0  # to complete Socket.IO's CONNECT, or be closed
    socket_ping_seconds: float = 25.0  # between the server's pings: under a proxy's idle timeout

    def __repr__(self) -> str:
        # Secrets stay out of logs and tracebacks.
        return f"Settings(frappe_url={self.frappe_url!r}, site={self.frappe_site!r})"

    @property
    def till_doctype(self) -> str:
        """The doctype holding each sale the tills made, as it was made."""
        return "POS Invoice" if self.frappe_pos_mode == "consolidated" else "Sales Invoice"

    @property
    def has_service_account(self) -> bool:
        return bool(self.frappe_api_key and self.frappe_api_secret)


def load(environ=None) -> Settings:
    """Settings from the environment; raises ConfigError naming every bad variable."""
    env = Reader(os.environ if environ is None else environ, collect=True)
    demo = env.flag("DASHBOARD_DEMO", False)
    frappe_url = env.url("FRAPPE_URL", ("http", "https"), "https://erp.example.com")
    secret_key = env.text("SECRET_KEY", None if not demo else "demo-only-secret-key-change-me")
    if len(secret_key) < 16:
        env.fail(ConfigError("SECRET_KEY", "at least 16 random characters"))
    api_key, api_secret = env.optional("FRAPPE_API_KEY"), env.optional("FRAPPE_API_SECRET")
    if bool(api_key) != bool(api_secret):
        env.fail(
            ConfigError("FRAPPE_API_SECRET", "FRAPPE_API_KEY and FRAPPE_API_SECRET go together")
        )
    frappe_redis_url = env.optional("FRAPPE_REDIS_URL")
    if frappe_redis_url:
        env.url("FRAPPE_REDIS_URL", ("redis", "rediss", "unix"), "redis://127.0.0.1:11000")
    public_url = ""  # the demo may go without: its links then name the request's address
    if env.optional("PUBLIC_URL") or not demo:
        public_url = env.url("PUBLIC_URL", ("http", "https"), "https://dashboard.example.com")
    realtime_url = frappe_url  # behind nginx, Frappe's realtime server is at /socket.io
    if env.optional("FRAPPE_REALTIME_URL"):
        realtime_url = env.url("FRAPPE_REALTIME_URL", ("http", "https"), "http://127.0.0.1:9000")
    settings = Settings(
        frappe_url=frappe_url.rstrip("/"),
        frappe_site=env.text("FRAPPE_SITE", urlsplit(frappe_url).hostname),
        redis_url=env.redis_url(),
        secret_key=secret_key,
        demo=demo,
        public_url=public_url.rstrip("/"),
        frappe_redis_url=frappe_redis_url,
        frappe_realtime=env.choice("FRAPPE_REALTIME", REALTIME_SOURCES, "redis"),
        frappe_pos_mode=env.choice("FRAPPE_POS_MODE", POS_MODES, "sales-invoice"),
        frappe_realtime_url=realtime_url.rstrip("/"),
        frappe_api_key=api_key,
        frappe_api_secret=api_secret,
        frappe_bridge_user=env.optional("FRAPPE_BRIDGE_USER"),
        frappe_bridge_password=env.optional("FRAPPE_BRIDGE_PASSWORD"),
        frappe_connect_timeout=env.seconds("FRAPPE_CONNECT_TIMEOUT", 3.0),
        frappe_read_timeout=env.seconds("FRAPPE_READ_TIMEOUT", 10.0),
        frappe_wait_seconds=env.seconds("FRAPPE_WAIT_SECONDS", 1.5),
        async_mode=env.choice("SOCKETIO_ASYNC_MODE", ASYNC_MODES, "gevent"),
        login_limit_per_address=env.rate("LOGIN_LIMIT_PER_ADDRESS", "8 per minute"),
        login_limit_per_user=env.rate("LOGIN_LIMIT_PER_USER", "5 per minute"),
        cookie_secure=env.flag("COOKIE_SECURE", not demo),
        proxy_hops=env.integer("PROXY_HOPS", 0),
        log_level=env.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
        log_format=env.choice("LOG_FORMAT", ("json", "text"), "text" if demo else "json"),
        figures_cache_seconds=env.seconds("FIGURES_CACHE_SECONDS", 10.0),
        permission_cache_seconds=env.seconds("PERMISSION_CACHE_SECONDS", 60.0),
        currency=env.currency("CURRENCY", "INR"),
        locale=env.locale("LOCALE", "en_IN"),
        time_zone=env.time_zone("TIME_ZONE"),
        feed_max_len=env.integer("FEED_MAX_LEN", 500),
        app_version=env.optional("APP_VERSION"),
        redis_max_connections=env.integer("REDIS_MAX_CONNECTIONS", 1000),
        socket_origins=env.origins("SOCKET_ALLOWED_ORIGINS"),
        metrics_token=env.optional("METRICS_TOKEN"),
        locator_cache_seconds=env.seconds("LOCATOR_CACHE_SECONDS", 300.0),
        locator_rate_limit=env.rate("LOCATOR_RATE_LIMIT", "120 per minute"),
        locator_frame_origins=env.origins("LOCATOR_FRAME_ORIGINS"),
        directions_url=env.template("DIRECTIONS_URL", Settings.directions_url, ("{lat}", "{lng}")),
        tile_url=env.template("TILE_URL", Settings.tile_url, ("{z}", "{x}", "{y}")),
        tile_attribution=env.optional("TILE_ATTRIBUTION") or Settings.tile_attribution,
        pairing_codes_per_address=env.rate("PAIRING_CODES_PER_ADDRESS", "30 per hour"),
        pairing_codes_total=env.rate("PAIRING_CODES_TOTAL", "1000 per 10 minutes"),
        pairing_attempts_per_user=env.rate("PAIRING_ATTEMPTS_PER_USER", "10 per 10 minutes"),
        subscribes_per_user=env.rate("SUBSCRIBES_PER_USER", "600 per minute"),
        subscribes_per_address=env.rate("SUBSCRIBES_PER_ADDRESS", "6000 per minute"),
        live_recheck_seconds=env.seconds("LIVE_RECHECK_SECONDS", 180.0),
        request_body_seconds=env.seconds("REQUEST_BODY_SECONDS", 10.0),
        live_reconcile_seconds=env.seconds("LIVE_RECONCILE_SECONDS", 5.0),
        quiet_min_seconds=env.seconds("QUIET_MIN_SECONDS", 900.0, most=86400),
        sockets_per_session=env.integer("SOCKETS_PER_SESSION", 20),
        sockets_per_address=env.integer("SOCKETS_PER_ADDRESS", 200),
        socket_connect_seconds=env.seconds("SOCKET_CONNECT_SECONDS", 5.0),
        socket_ping_seconds=env.seconds("SOCKET_PING_SECONDS", 25.0, most=300),
    )
    env.check()
    return settings


def load_or_exit(environ=None) -> Settings:
    try:
        return load(environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_EXAMPLE = "redis+sentinel://:password@10.0.0.1:26379,10.0.0.2:26379/0/dashboard"


@dataclass(frozen=True)
class Sentinels:
    hosts: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None

    def auth(self) -> dict:
        """The credentials for the master, and for the Sentinels too (as the limiter, which
        we cannot tell otherwise, asks them): one password for both."""
        found = {"username": self.username, "password": self.password}
        return {key: value for key, value in found.items() if value}


def sentinels_of(url: str) -> Sentinels | None:
    """The parts of a redis+sentinel:// URL, None for any other; ValueError when malformed."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return None
    hosts = []
    for host_port in parts.netloc.rpartition("@")[2].split(","):
        host, _, port = host_port.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{host_port!r} is not host:port")
        hosts.append((host.strip("[]"), int(port)))
    path = parts.path.strip("/").split("/")
    if len(path) != 2 or not path[0].isdigit() or not path[1]:
        raise ValueError("the path must be /db/service_name, such as /0/dashboard")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return Sentinels(tuple(hosts), path[1], int(path[0]), username, password)


class Reader:
    """Reads one kind of value each, raising ConfigError with what was expected.

    A Reader made with `collect=True` notes the error instead, gives a stand-in value so that
    the rest can be read too, and `check()` then raises them all at once."""

    # The stand-in each reader gives for a bad value, from its arguments after the name.
    STAND_INS = {
        "text": lambda default: default or "stand-in-for-a-bad-value",
        "url": lambda schemes, example: example,
        "choice": lambda choices, default: default,
        "template": lambda default, placeholders: default,
        "time_zone": lambda: None,
        "origins": lambda: (),
    }
    COLLECTED = ("flag", "seconds", "integer", "currency", "locale", "rate", *STAND_INS)

    def __init__(self, environ, collect: bool = False):
        self.environ = environ
        self.errors: list[ConfigError] = []
        if collect:
            for name in self.COLLECTED:
                setattr(self, name, self.collecting(getattr(self, name), name))

    def collecting(self, read, name):
        stand_in = self.STAND_INS.get(name, lambda default: default)

        def read_or_note(variable, *args, **limits):
            try:
                return read(variable, *args, **limits)
            except ConfigError as error:
                self.fail(error)
                return stand_in(*args)

        return read_or_note

    def fail(self, error: ConfigError) -> None:
        if not any(known.name == error.name for known in self.errors):
            self.errors.append(error)

    def check(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ConfigErrors(self.errors)

    def optional(self, name: str) -> str | None:
        return self.environ.get(name, "").strip() or None

    def text(self, name: str, default: str | None) -> str:
        value = self.optional(name) or default
        if value is None:
            raise ConfigError(name, "required, but not set")
        return value

    def redis_url(self) -> str:
        """REDIS_URL: one Redis, or the Sentinels that name its master (redis_client.py)."""
        value = self.optional("REDIS_URL")
        if not (value or "").startswith(f"{SENTINEL_SCHEME}:"):
            return self.url("REDIS_URL", ("redis", "rediss", "unix"), "redis://127.0.0.1:6379/0")
        try:
            sentinels_of(value)
        except ValueError as error:
            example = SENTINEL_EXAMPLE
            self.fail(ConfigError("REDIS_URL", f"{error} (for Sentinels: {example})"))
        return value

    def url(self, name: str, schemes: tuple, example: str) -> str:
        value = self.text(name, None)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not (parts.hostname or parts.scheme == "unix"):
            raise ConfigError(name, f"a {'/'.join(schemes)} URL such as {example}, got {value!r}")
        return value

    def choice(self, name: str, choices: tuple, default: str) -> str:
        value = self.optional(name) or default
        if value not in choices:
            raise ConfigError(name, f"one of {', '.join(choices)}, got {value!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = (self.optional(name) or "").lower()
        if not value:
            return default
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"true or false, got {value!r}")

    def seconds(self, name: str, default: float, most: float = 600) -> float:
        value = self.optional(name)
        try:
            seconds = float(value) if value else default
        except ValueError:
            seconds = -1
        if not 0 < seconds <= most:
            raise ConfigError(name, f"a number of seconds between 0 and {most:g}, got {value!r}")
        return seconds

    def integer(self, name: str, default: int) -> int:
        value = self.optional(name)
        if value is None:
            return default
        if not value.isdigit():
            raise ConfigError(name, f"a whole number of 0 or more, got {value!r}")
        return int(value)

    def currency(self, name: str, default: str) -> str:
        value = (self.optional(name) or default).upper()
        if value not in babel.numbers.list_currencies():
            raise ConfigError(name, f"an ISO 4217 currency code such as INR, got {value!r}")
        return value

    def locale(self, name: str, default: str) -> str:
        value = self.optional(name) or default
        try:
            babel.Locale.parse(value.replace("-", "_"))
        except (ValueError, babel.UnknownLocaleError):
            raise ConfigError(name, f"a locale such as en_IN or de_DE, got {value!r}") from None
        return value.replace("-", "_")

    def time_zone(self, name: str) -> str | None:
        value = self.optional(name)
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise ConfigError(name, f"a time zone such as Asia/Kolkata, got {value!r}") from None
        return value

    def origins(self, name: str) -> tuple:
        values = tuple((self.optional(name) or "").split())
        for origin in values:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ConfigError(name, f"origins such as https://www.example.com, got {origin!r}")
        return values

    def template(self, name: str, default: str, placeholders: tuple) -> str:
        value = self.optional(name) or default
        if urlsplit(value).scheme not in ("http", "https") or not all(
            p in value for p in placeholders
        ):
            raise ConfigError(name, f"an http(s) URL with {' '.join(placeholders)}, got {value!r}")
        return value

    def rate(self, name: str, default: str) -> str:
        value = self.optional(name) or default
        try:
            parse_many(value)
        except ValueError:
            raise ConfigError(name, f"a rate such as '5 per minute', got {value!r}") from None
        return value
