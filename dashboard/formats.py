"""How pages write money, numbers, dates and clock times: the site's currency and locale, and
its time zone."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from flask import Flask


def init_app(app: Flask, settings) -> None:
    """Money and numbers in the site's currency and locale, clock times in its time zone."""
    # Parsed once: Babel's format_* functions parse the locale and pattern on every call,
    # which the page profile showed as a tenth of an outlet page's time.
    locale = Locale.parse(settings.locale)
    money_pattern = locale.currency_formats["standard"]
    number_pattern = locale.decimal_formats[None]

    @app.template_filter("money")
    def money(value):
        return money_pattern.apply(value, locale, currency=settings.currency)

    @app.template_filter("quantity")
    def quantity(value):
        return number_pattern.apply(value, locale)

    @app.template_filter("clock")
    def clock(iso_time, zone):
        moment = datetime.fromisoformat(iso_time).astimezone(ZoneInfo(zone))
        return format_time(moment, "HH:mm:ss", locale=locale)

    @app.template_filter("day")
    def day(iso_date):
        return format_date(date.fromisoformat(iso_date), "d MMM", locale=locale)

    @app.template_filter("full_day")
    def full_day(iso_date):
        return format_date(date.fromisoformat(iso_date), "d MMM y", locale=locale)

    @app.template_filter("since")
    def since(moment, now):
        seconds = max(0, int(now - moment))
        if seconds < 60:
            return "just now"
        if seconds < 3600:
            return f"{seconds // 60} min ago"
        if seconds < 86400:
            return f"{seconds // 3600} h ago"
        return f"{seconds // 86400} days ago"

    app.jinja_env.globals.update(
        locale=settings.locale.replace("_", "-"),
        currency=settings.currency,
        site_time_zone=app.extensions["outlets"].time_zone,
    )
