"""Settings are checked once at start: a bad one stops the process with one clear line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import config, redis_client
from devtools.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "FRAPPE_URL": "https://erp.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "x" * 32,
    "PUBLIC_URL": "https://dashboard.example.com",
}


def test_defaults():
    settings = config.load(GOOD)
    assert settings.frappe_site == "erp.example.com"
    assert settings.async_mode == "gevent" and settings.frappe_realtime == "redis"
    assert settings.cookie_secure is True and settings.demo is False
    assert settings.frappe_realtime_url == "https://erp.example.com"  # nginx's /socket.io
    assert settings.live_reconcile_seconds == 5.0


def test_realtime_server_on_its_own_port():
    settings = config.load({**GOOD, "FRAPPE_REALTIME_URL": "http://erp-host:9000/"})
    assert settings.frappe_realtime_url == "http://erp-host:9000"
    assert settings.frappe_url == "https://erp.example.com"  # the Origin the server calls back


def test_redis_url_may_name_sentinels():
    url = "redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26380/2/dashboard"
    settings = config.load({**GOOD, "REDIS_URL": url})
    assert settings.redis_url == url
    sentinels = config.sentinels_of(url)
    assert sentinels.hosts == (("10.0.0.1", 26379), ("10.0.0.2", 26380))
    assert (sentinels.db, sentinels.service, sentinels.password) == (2, "dashboard", "s@cret")
    # The limiter's own form of the same: the service name as an option, not the path.
    uri, options = redis_client.limiter_storage(url, 50)
    assert uri == "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380"
    assert options["service_name"] == "dashboard" and options["db"] == 2
    assert options["password"] == "s@cret" and options["use_replicas"] is False
    assert redis_client.limiter_storage("redis://h:6379/0", 50)[0] == "redis://h:6379/0"


def test_secrets_stay_out_of_repr():
    settings = config.load({**GOOD, "FRAPPE_API_KEY": "k", "FRAPPE_API_SECRET": "topsecret"})
    assert "topsecret" not in repr(settings) and "x" * 32 not in repr(settings)


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"FRAPPE_URL": ""}, "FRAPPE_URL"),
        ({"FRAPPE_URL": "erp.example.com"}, "FRAPPE_URL"),
        ({"REDIS_URL": "http://127.0.0.1"}, "REDIS_URL"),
        ({"FRAPPE_REALTIME_URL": "erp-host:9000"}, "FRAPPE_REALTIME_URL"),
        ({"LIVE_RECONCILE_SECONDS": "soon"}, "LIVE_RECONCILE_SECONDS"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"FRAPPE_REALTIME": "kafka"}, "FRAPPE_REALTIME"),
        ({"SOCKETIO_ASYNC_MODE": "asyncio"}, "SOCKETIO_ASYNC_MODE"),
        ({"FRAPPE_READ_TIMEOUT": "soon"}, "FRAPPE_READ_TIMEOUT"),
        ({"FRAPPE_API_KEY": "only-the-key"}, "FRAPPE_API_SECRET"),
        ({"LOGIN_LIMIT_PER_USER": "lots"}, "LOGIN_LIMIT_PER_USER"),
        ({"SUBSCRIBES_PER_USER": "lots"}, "SUBSCRIBES_PER_USER"),
        ({"SUBSCRIBES_PER_ADDRESS": "lots"}, "SUBSCRIBES_PER_ADDRESS"),
        ({"COOKIE_SECURE": "maybe"}, "COOKIE_SECURE"),
        ({"PROXY_HOPS": "-1"}, "PROXY_HOPS"),
        ({"FRAPPE_REDIS_URL": "localhost:11000"}, "FRAPPE_REDIS_URL"),
        ({"REDIS_URL": "redis+sentinel://10.0.0.1:26379/0"}, "REDIS_URL"),  # no service name
        ({"REDIS_URL": "redis+sentinel://10.0.0.1/0/dashboard"}, "REDIS_URL"),  # no port
        ({"REDIS_URL": "redis+sentinel://10.0.0.1:26379,:1/0/dashboard"}, "REDIS_URL"),
    ],
)
def test_bad_settings_name_the_variable(change, variable):
    with pytest.raises(config.ConfigError) as caught:
        config.load({**GOOD, **change})
    assert caught.value.name == variable


def test_secret_key_has_a_default_only_in_the_demo():
    settings = config.load(
        {k: v for k, v in GOOD.items() if k != "SECRET_KEY"} | {"DASHBOARD_DEMO": "1"}
    )
    assert settings.demo and not settings.cookie_secure


def run(command, env):
    clean = {k: v for k, v in os.environ.items() if k not in GOOD and k != "DASHBOARD_DEMO"}
    return subprocess.run(
        command, cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_create_app_exits_2_with_one_line():
    result = run([sys.executable, "-c", "import dashboard; dashboard.create_app()"], {})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: FRAPPE_URL: required, but not set; SECRET_KEY: required, but not "
        "set; PUBLIC_URL: required, but not set; REDIS_URL: required, but not set"
    ]  # every missing one, in one run


def test_gunicorn_exits_2_with_one_line_before_booting_workers():
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    env = {**GOOD, "FRAPPE_URL": "not a url"}
    command = [gunicorn, "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{free_port()}"]
    result = run([*command, "dashboard:create_app()"], env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "configuration error: FRAPPE_URL: a http/https URL such as https://erp.example.com"
        )
    )


def test_bridge_checks_settings_too():
    result = run([sys.executable, "-m", "dashboard.bridge"], {"FRAPPE_URL": "https://x.example"})
    assert result.returncode == 2 and "SECRET_KEY: required" in result.stderr


def test_every_bad_setting_is_named_in_one_run():
    with pytest.raises(config.ConfigError) as caught:
        config.load({"REDIS_URL": "http://nope", "SOCKETIO_ASYNC_MODE": "asyncio",
                     "FRAPPE_READ_TIMEOUT": "soon", "FRAPPE_API_KEY": "only-the-key"})  # fmt: skip
    assert caught.value.names == [
        "FRAPPE_URL", "SECRET_KEY", "FRAPPE_API_SECRET", "PUBLIC_URL", "REDIS_URL",
        "FRAPPE_READ_TIMEOUT", "SOCKETIO_ASYNC_MODE",
    ]  # fmt: skip
    assert str(caught.value).count(";") == 6


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"COOKIE_SECURE": "maybe"}, "COOKIE_SECURE: true or false, got 'maybe'"),
        ({"PROXY_HOPS": "1.5"}, "PROXY_HOPS: a whole number, got '1.5'"),
        (
            {"FRAPPE_READ_TIMEOUT": "900"},
            "FRAPPE_READ_TIMEOUT: less than or equal to 600, got '900'",
        ),
        (
            {"FRAPPE_POS_MODE": "pos"},
            "FRAPPE_POS_MODE: 'sales-invoice' or 'consolidated', got 'pos'",
        ),
        (
            {"TIME_ZONE": "Mars/Base"},
            "TIME_ZONE: a time zone such as Asia/Kolkata, got 'Mars/Base'",
        ),
        ({"SECRET_KEY": "   "}, "SECRET_KEY: required, but not set"),  # spaces are not a value
    ],
)
def test_a_bad_setting_says_what_it_expects(change, line):
    with pytest.raises(config.ConfigError) as caught:
        config.load({**GOOD, **change})
    assert str(caught.value) == line


def test_a_bad_secret_is_never_repeated():
    with pytest.raises(config.ConfigErrors) as caught:
        config.load({**GOOD, "SECRET_KEY": "hunter2-short", "FRAPPE_API_SECRET": "s3cr3t-value"})
    assert caught.value.names == ["SECRET_KEY", "FRAPPE_API_SECRET"]
    assert "hunter2" not in str(caught.value) and "s3cr3t" not in str(caught.value)


def test_values_are_read_as_people_write_them():
    settings = config.load(
        {
            **GOOD,
            "SOCKET_ALLOWED_ORIGINS": " https://a.example  https://b.example ",
            "CURRENCY": "eur",
            "LOCALE": "de-DE",
            "FRAPPE_URL": "https://erp.example.com/",
            "COOKIE_SECURE": "off",
            "QUIET_MIN_SECONDS": "3600",
        }  # fmt: skip
    )
    assert settings.socket_origins == ("https://a.example", "https://b.example")
    assert (settings.currency, settings.locale) == ("EUR", "de_DE")
    assert settings.frappe_url == settings.frappe_realtime_url == "https://erp.example.com"
    assert settings.cookie_secure is False and settings.quiet_min_seconds == 3600.0


def test_every_setting_is_in_the_readme_table():
    table = (ROOT / "README.md").read_text().split("## Configuration")[1].split("\n## ")[0]
    for name, field in config.Settings.model_fields.items():
        variable = (field.validation_alias or name).upper()
        assert f"`{variable}`" in table, f"{variable} is missing from README's Configuration"
