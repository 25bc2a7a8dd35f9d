"""Every setting, read from the environment once and checked at start.

pydantic-settings reads the environment and checks the types, the ranges and the choices;
missing or malformed settings stop the process with one line naming each variable and what it
expects (exit status 2), never a traceback. What is ours, because the library cannot say it:

- the one line: pydantic's report is several lines per error, named by field, and would print a
  bad secret's value; `ConfigErrors` names the variables and never echoes a secret;
- what a URL, a rate (the limits library's grammar), a currency or locale (Babel's lists), a
  time zone, a Sentinel URL or a URL template must look like, said with an example;
- defaults that follow another setting: the demo's secret key, cookies and log format, the
  site and the realtime server taken from FRAPPE_URL, API key and secret going together.
"""

import os
import sys
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import babel
import babel.numbers
from limits import parse_many
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

DEMO_SECRET_KEY = "demo-only-secret-key-change-me"  # noqa: S105 (only with DASHBOARD_DEMO)
SECRETS = ("SECRET_KEY", "FRAPPE_API_SECRET", "FRAPPE_BRIDGE_PASSWORD", "METRICS_TOKEN")


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


def check_url(value: str, schemes: tuple, example: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.hostname or parts.scheme == "unix"):
        raise ValueError(f"a {'/'.join(schemes)} URL such as {example}, got {value!r}")
    return value.rstrip("/")


def url_of(schemes: tuple, example: str) -> AfterValidator:
    return AfterValidator(lambda value: check_url(value, schemes, example))


def check_redis_url(value: str) -> str:
    """One Redis, or the Sentinels that name its master (redis_client.py)."""
    if not value.startswith(f"{SENTINEL_SCHEME}:"):
        return check_url(value, ("redis", "rediss", "unix"), "redis://127.0.0.1:6379/0")
    try:
        sentinels_of(value)
    except ValueError as error:
        raise ValueError(f"{error} (for Sentinels: {SENTINEL_EXAMPLE})") from None
    return value


def check_rate(value: str) -> str:
    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"a rate such as '5 per minute', got {value!r}") from None
    return value


def check_currency(value: str) -> str:
    if value.upper() not in babel.numbers.list_currencies():
        raise ValueError(f"an ISO 4217 currency code such as INR, got {value!r}")
    return value.upper()


def check_locale(value: str) -> str:
    try:
        babel.Locale.parse(value.replace("-", "_"))
    except (ValueError, babel.UnknownLocaleError):
        raise ValueError(f"a locale such as en_IN or de_DE, got {value!r}") from None
    return value.replace("-", "_")


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"a time zone such as Asia/Kolkata, got {value!r}") from None
    return value


def origins(value) -> tuple:
    """Space-separated origins (the library would read a list as JSON)."""
    found = tuple(value.split()) if isinstance(value, str) else tuple(value)
    for origin in found:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise ValueError(f"origins such as https://www.example.com, got {origin!r}")
    return found


def template(*placeholders: str):
    def check(value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https") or not all(
            p in value for p in placeholders
        ):
            raise ValueError(f"an http(s) URL with {' '.join(placeholders)}, got {value!r}")
        return value

    return AfterValidator(check)


HttpUrl = Annotated[str, url_of(("http", "https"), "https://erp.example.com")]
Rate = Annotated[str, AfterValidator(check_rate)]
Origins = Annotated[tuple[str, ...], NoDecode, BeforeValidator(origins)]
Count = Annotated[int, Field(ge=0)]


def seconds(default: float, most: float = 600):
    return Field(default, gt=0, le=most)


class Settings(BaseSettings):
    # Fields are read in this order, and bad ones named in it.
    model_config = SettingsConfigDict(frozen=True, env_ignore_empty=True, extra="ignore")

    demo: bool = Field(False, validation_alias="DASHBOARD_DEMO")
    frappe_url: HttpUrl
    secret_key: str | None = Field(None, validate_default=True)
    frappe_api_key: str | None = None
    frappe_api_secret: str | None = Field(None, validate_default=True)
    frappe_redis_url: (
        Annotated[str, url_of(("redis", "rediss", "unix"), "redis://127.0.0.1:11000")] | None
    ) = None
    # Where people reach us: absolute links are built from it. The demo may go without: its
    # links then name the request's address.
    public_url: str | None = Field(None, validate_default=True)
    # Frappe's realtime server; FRAPPE_URL's /socket.io (behind nginx) when not set.
    frappe_realtime_url: str | None = Field(None, validate_default=True)
    redis_url: Annotated[str, AfterValidator(check_redis_url)]
    frappe_site: str | None = Field(None, validate_default=True)  # FRAPPE_URL's host name
    frappe_realtime: Literal["redis", "socketio"] = "redis"
    # How the site's POS sells (frappe-contract.md, "How ERPNext sites really sell"): a Sales
    # Invoice per sale, or POS Invoices merged into Sales Invoices at the POS closing.
    frappe_pos_mode: Literal["sales-invoice", "consolidated"] = "sales-invoice"
    frappe_bridge_user: str | None = None
    frappe_bridge_password: str | None = None
    frappe_connect_timeout: float = seconds(3.0)
    frappe_read_timeout: float = seconds(10.0)
    frappe_wait_seconds: float = seconds(
        1.5
    )  # how long a page waits for Frappe before going without
    async_mode: Literal["eventlet", "gevent", "threading"] = Field(
        "gevent", validation_alias="SOCKETIO_ASYNC_MODE"
    )
    login_limit_per_address: Rate = "8 per minute"
    login_limit_per_user: Rate = "5 per minute"
    cookie_secure: bool | None = Field(None, validate_default=True)  # not in the demo
    proxy_hops: Count = 0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] | None = Field(None, validate_default=True)
    figures_cache_seconds: float = seconds(10.0)
    permission_cache_seconds: float = seconds(60.0)
    currency: Annotated[str, AfterValidator(check_currency)] = "INR"
    locale: Annotated[str, AfterValidator(check_locale)] = "en_IN"
    # None: the site's, as Frappe tells it.
    time_zone: Annotated[str, AfterValidator(check_time_zone)] | None = None
    feed_max_len: Count = 500
    app_version: str | None = None  # None: the package version and a digest of the front end
    redis_max_connections: Count = 1000
    socket_origins: Origins = Field((), validation_alias="SOCKET_ALLOWED_ORIGINS")
    metrics_token: str | None = None
    locator_cache_seconds: float = seconds(300.0)
    locator_rate_limit: Rate = "120 per minute"
    locator_frame_origins: Origins = ()
    directions_url: Annotated[str, template("{lat}", "{lng}")] = (
        "https://www.google.com/maps/dir/?api=1&destination={lat},{lng}"
    )
    tile_url: Annotated[str, template("{z}", "{x}", "{y}")] = (
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    )
    tile_attribution: str = "© OpenStreetMap contributors"
    pairing_codes_per_address: Rate = "30 per hour"
    pairing_codes_total: Rate = "1000 per 10 minutes"  # every address together
    pairing_attempts_per_user: Rate = "10 per 10 minutes"
    subscribes_per_user: Rate = "600 per minute"  # over every login and socket of a person
    subscribes_per_address: Rate = "6000 per minute"  # over everyone behind one address
    live_recheck_seconds: float = seconds(180.0)
    request_body_seconds: float = seconds(10.0)  # a request's body is read whole within this
    # After an outlet's last sale, this long without another before the bridge re-reads its
    # figures from Frappe, for screens to show Frappe's own once a rush is over.
    live_reconcile_seconds: float = seconds(5.0)
    # An outlet is quiet after at least this long without a sale in its usual hours (quiet.py).
    quiet_min_seconds: float = seconds(900.0, most=86400)
    sockets_per_session: Count = 20  # WebSockets one session or display may hold in a process
    sockets_per_address: Count = 200  # ... and one address (a franchise office behind one NAT)
    socket_connect_seconds: float = seconds(5.0)  # to complete Socket.IO's CONNECT, or be closed
    socket_ping_seconds: float = seconds(25.0, most=300)  # under a proxy's idle timeout

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value, info):
        value = value or (DEMO_SECRET_KEY if info.data.get("demo") else None)
        if value is None:
            raise ValueError("required, but not set")
        if len(value) < 16:
            raise ValueError("at least 16 random characters")
        return value

    @field_validator("frappe_api_secret")
    @classmethod
    def _api_secret(cls, value, info):
        if bool(value) != bool(info.data.get("frappe_api_key")):
            raise ValueError("FRAPPE_API_KEY and FRAPPE_API_SECRET go together")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value, info):
        if value is None and info.data.get("demo"):
            return ""
        if value is None:
            raise ValueError("required, but not set")
        return check_url(value, ("http", "https"), "https://dashboard.example.com")

    @field_validator("frappe_realtime_url")
    @classmethod
    def _realtime_url(cls, value, info):
        if value is None:
            return info.data.get("frappe_url", "")
        return check_url(value, ("http", "https"), "http://127.0.0.1:9000")

    @field_validator("frappe_site")
    @classmethod
    def _site(cls, value, info):
        return value or urlsplit(info.data.get("frappe_url", "")).hostname or ""

    @field_validator("cookie_secure")
    @classmethod
    def _cookie_secure(cls, value, info):
        return (not info.data.get("demo")) if value is None else value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value, info):
        return value or ("text" if info.data.get("demo") else "json")

    def __repr__(self) -> str:
        # Secrets stay out of logs and tracebacks.
        return f"Settings(frappe_url={self.frappe_url!r}, site={self.frappe_site!r})"

    __str__ = __repr__

    @property
    def till_doctype(self) -> str:
        """The doctype holding each sale the tills made, as it was made."""
        return "POS Invoice" if self.frappe_pos_mode == "consolidated" else "Sales Invoice"

    @property
    def has_service_account(self) -> bool:
        return bool(self.frappe_api_key and self.frappe_api_secret)


class Environment(EnvSettingsSource):
    """The library's reading of environment variables, of the mapping given (tests give
    theirs), values stripped: a variable of spaces is one not set."""

    def __init__(self, environ):
        super().__init__(Settings)
        stripped = {name: value.strip() for name, value in environ.items()}
        self.env_vars = parse_env_vars(
            stripped, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def load(environ=None) -> Settings:
    """Settings from the environment; raises ConfigError naming every bad variable."""
    try:
        return Settings.model_validate(Environment(os.environ if environ is None else environ)())
    except ValidationError as invalid:
        errors = [config_error(error) for error in invalid.errors()]
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors) from None


# pydantic's words for the commonest slips, said as the README's table says them.
PLAIN = {
    "bool_parsing": "true or false",
    "int_parsing": "a whole number",
    "float_parsing": "a number",
}


def config_error(error: dict) -> ConfigError:
    name = str(error["loc"][0]).upper()
    if error["type"] == "missing":
        return ConfigError(name, "required, but not set")
    if error["type"] == "value_error":  # ours, which say what they got where it is no secret
        return ConfigError(name, str(error["ctx"]["error"]))
    expected = PLAIN.get(error["type"]) or error["msg"].removeprefix("Input should be ")
    got = "" if name in SECRETS else f", got {error['input']!r}"
    return ConfigError(name, f"{expected}{got}")


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
