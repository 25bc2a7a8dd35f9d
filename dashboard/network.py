"""The franchisor's view of its network: each outlet's terms as Frappe lets a person read them
(territory, franchise type, agreement, standing, royalty percentage), and what needs attention.

Frappe hides a field a person's roles may not read at its permission level by leaving it out of
the REST answer (frappe-contract.md). The royalty percentage is therefore read with the person's
own sid, kept per person (beside their permission answer, never in a shared entry) and passed on
only when Frappe sent it: its absence is the refusal.
"""

import math
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

# Read with the outlet list (outlets.list_for); a field Frappe leaves out comes back missing.
FIELDS = [
    "territory",
    "custom_franchise_type",
    "custom_royalty_percentage",
    "custom_agreement_end_date",
    "custom_suspension_reason",
]
ENDING_WITHIN = timedelta(days=90)
NO_TERRITORY = "No territory"
MAX_TEXT = 140


def terms(row: dict) -> dict:
    """An outlet's terms from Frappe's row, checked; `royalty_rate` only when Frappe sent it."""
    found = {
        "territory": text(row.get("territory")) or NO_TERRITORY,
        "franchise_type": text(row.get("custom_franchise_type")),
        "agreement_end": iso_date(row.get("custom_agreement_end_date")),
        "suspension_reason": text(row.get("custom_suspension_reason")),
    }
    rate = royalty_rate(row)
    return found if rate is None else {**found, "royalty_rate": rate}


def royalty_rate(row: dict) -> float | None:
    """The percentage when Frappe sent a usable one (0 to 100), else None."""
    value = row.get("custom_royalty_percentage")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if 0 <= value <= 100 else None


def royalty(sales: float, rate: float) -> float:
    """Royalty on `sales` at `rate` percent, to the paisa, halves up (as the screens compute
    it: Math.round(sales * rate) / 100)."""
    return float((Decimal(repr(sales * rate))).quantize(Decimal(1), ROUND_HALF_UP)) / 100


def text(value) -> str:
    return value.strip()[:MAX_TEXT] if isinstance(value, str) else ""


def iso_date(value) -> str | None:
    try:
        return date.fromisoformat(value).isoformat() if isinstance(value, str) else None
    except ValueError:
        return None


def needing_attention(outlets: list[dict], today: date) -> list[dict]:
    """Outlets whose agreement ends within 90 days or has ended, and suspended ones, each with
    why, most urgent first (ended, suspended, then the soonest ending)."""
    found = []
    for outlet in outlets:
        end = date.fromisoformat(outlet["agreement_end"]) if outlet.get("agreement_end") else None
        closed = outlet["status"] == "Closed"
        days = (end - today).days if end is not None else None
        if end is not None and end < today and not closed:
            found.append({**outlet, "why": "ended", "days": -days, "rank": (0, end)})
        elif outlet["status"] == "Suspended":
            found.append({**outlet, "why": "suspended", "rank": (1, end or today)})
        elif end is not None and today <= end <= today + ENDING_WITHIN and not closed:
            found.append({**outlet, "why": "ending", "days": days, "rank": (2, end)})
    return sorted(found, key=lambda outlet: outlet["rank"])


def territories(outlets: list[dict]) -> list[tuple[str, list[dict]]]:
    """The outlets grouped by territory, territories A to Z, keeping the outlets' order; one
    group of all when no territory holds two of them (subtotals of one row say nothing)."""
    groups: dict[str, list[dict]] = {}
    for outlet in outlets:
        groups.setdefault(outlet.get("territory") or NO_TERRITORY, []).append(outlet)
    if len(groups) < 2 or all(len(members) == 1 for members in groups.values()):
        return [("", outlets)]
    return sorted(groups.items(), key=lambda group: group[0].lower())
