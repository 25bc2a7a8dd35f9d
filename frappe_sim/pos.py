"""How an ERPNext POS sells, as the demo Frappe does it: POS Invoices inserted and submitted
(the seed's hook publishes each sale), returns, cancellations, amendments, backdated invoices
and the POS closing that merges a day's POS Invoices into Sales Invoices
(frappe-contract.md, "How ERPNext sites really sell"). Each publishes what a real site does.
"""

import re
import secrets
import time
from datetime import datetime, timedelta

from . import data
from .errors import FrappeException

ITEM_FIELDS = ("item_code", "item_name", "qty", "rate", "amount")


def invoice_doc(invoice: data.Invoice) -> dict:
    """A POS Invoice or Sales Invoice as the REST API answers it: posting_time as Frappe's
    str(timedelta), the hour not padded ("9:05:01.123456"); `items` its child rows. Kept on
    the invoice until it changes: lists read thousands of them (do not change the answer)."""
    version = (invoice.modified, invoice.docstatus, invoice.consolidated_invoice)
    kept = getattr(invoice, "kept_doc", None)
    if kept is None or kept[0] != version:
        kept = invoice.kept_doc = (version, build_doc(invoice))
    return kept[1]


def build_doc(invoice: data.Invoice) -> dict:
    posted = invoice.posted
    time_of_day = f"{posted.hour}:{posted:%M:%S}" + (f".{posted:%f}" if posted.microsecond else "")
    stamp = posted.strftime("%Y-%m-%d %H:%M:%S.%f")
    doc = {
        "name": invoice.name, "doctype": invoice.doctype,
        "custom_franchise_outlet": invoice.outlet, "posting_date": posted.date().isoformat(),
        "posting_time": time_of_day, "grand_total": float(invoice.grand_total),
        "total_qty": float(sum(qty for _, qty, _ in invoice.items)),
        "docstatus": invoice.docstatus, "is_return": invoice.is_return,
        "amended_from": invoice.amended_from, "creation": stamp,
        "modified": (invoice.modified or posted).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "items": [
            {"item_code": code, "item_name": data.name_of(code), "qty": float(qty),
             "rate": data.rate_of(code), "amount": float(amount)}
            for code, qty, amount in invoice.items
        ],
    }  # fmt: skip
    if invoice.doctype == "POS Invoice":
        doc.update(
            return_against=invoice.return_against,
            consolidated_invoice=invoice.consolidated_invoice,
            status=invoice.status,
            set_posting_time=invoice.set_posting_time,
        )
    else:
        doc["is_consolidated"] = invoice.is_consolidated
    return doc


def record_sale(state, outlet: str, basket: list, user: str) -> data.Invoice:
    """A till's sale: a POS Invoice inserted and submitted in one request."""
    invoice = state.store.new_invoice(outlet, basket, state.store.now(), docstatus=0)
    submit(state, invoice, user)
    return invoice


def insert(state, doc: dict, user: str) -> data.Invoice:
    """`POST /api/resource/POS Invoice`: a draft, or with `docstatus` 1 inserted and submitted
    in one call (the hook fires)."""
    if not isinstance(doc, dict):
        raise FrappeException(417, "ValidationError", "A document is required")
    outlet = doc.get("custom_franchise_outlet")
    if not isinstance(outlet, str) or state.store.outlet_doc(outlet) is None:
        raise FrappeException(
            417, "LinkValidationError", f"Could not find Franchise Outlet: {outlet}"
        )
    is_return = 1 if doc.get("is_return") in (1, "1", True) else 0
    basket = parse_basket(doc.get("items"), is_return)
    fields = {"is_return": is_return, "docstatus": 0}
    fields.update(returned(state, doc, outlet) if is_return else {})
    fields.update(amending(state, doc.get("amended_from")))
    posted = posting_moment(state, doc)
    fields["set_posting_time"] = 1 if posted.date() != state.store.today() else 0
    invoice = state.store.new_invoice(outlet, basket, posted, **fields)
    if doc.get("docstatus") in (1, "1"):
        submit(state, invoice, user)
    else:
        state.store.commit(invoice)
        publish_change(state, invoice, user)
    return invoice


def submit(state, invoice: data.Invoice, user: str) -> None:
    """Submit a POS Invoice as Frappe does, and publish what its hook publishes after commit.

    The submit is a transaction of its own, open for `submit_seconds` (stock and ledger entries),
    and the hook reads the invoice's day's total inside it. Under MariaDB's REPEATABLE READ that
    read misses the sales other submits have not committed yet: concurrent sales each publish a
    daily total without the others', and their messages interleave on the channel
    (frappe-contract.md, "Concurrent sales publish stale daily totals").
    """
    if invoice.docstatus != 0:
        raise FrappeException(417, "ValidationError", f"{invoice.name} is not a draft")
    day = invoice.posted.date()
    seen_before = state.store.daily_total(invoice.outlet, day) or 0.0  # the snapshot
    time.sleep(state.submit_seconds)
    invoice.docstatus = 1
    state.store.commit(invoice)
    publisher = state.publisher
    publisher.publish_doc_change("POS Invoice", invoice.name, stamp(state), user)
    path = int(re.sub(r"\D", "", invoice.name) or 0) % 3  # submit paths differ in number types
    publisher.publish(
        "live_pos_sale",
        {
            "outlet": invoice.outlet,
            "invoice": invoice.name,
            "grand_total": invoice.grand_total,
            "items": [
                {"item": data.name_of(code), "qty": number(qty, path), "amount": number(amt, path)}
                for code, qty, amt in invoice.items
            ],
            "timestamp": frappe_timestamp(invoice.posted, path),
        },
    )
    daily = round(seen_before + invoice.grand_total, 2)
    publisher.publish("daily_sales_update", {"outlet": invoice.outlet, "daily_total": daily})
    publisher.publish_doc_change("Version", secrets.token_hex(5), stamp(state), user)
    if invoice.consolidated_invoice:  # a sales-invoice site: the till's own Sales Invoice
        publisher.publish_doc_change(
            "Sales Invoice", invoice.consolidated_invoice, stamp(state), user
        )


def cancel(state, doctype: str, name: str, user: str) -> data.Invoice:
    """`frappe.client.cancel`: docstatus 2, and only doc_update/list_update published (no sale
    event, no daily total). A POS Invoice merged into a submitted Sales Invoice cancels only
    with its closing (ERPNext)."""
    invoice = find(state, doctype, name)
    with state.store.lock:
        if invoice.docstatus != 1:
            raise FrappeException(
                417, "ValidationError", f"Cannot cancel {name}: it is not submitted"
            )
        merged = state.store.by_name.get(("Sales Invoice", invoice.consolidated_invoice))
        if doctype == "POS Invoice" and merged is not None and merged.docstatus == 1:
            raise FrappeException(
                417, "ValidationError",
                f"{name} is consolidated into {merged.name}: cancel the POS closing first",
            )  # fmt: skip
        invoice.docstatus = 2
        invoice.modified = state.store.now()
    publish_change(state, invoice, user)
    state.publisher.publish_doc_change("Version", secrets.token_hex(5), stamp(state), user)
    return invoice


def close_pos(state, outlet: str, user: str) -> dict:
    """A submitted POS Closing Entry for `outlet`: today's open POS Invoices merged into one
    Sales Invoice and their returns into one credit note; each POS Invoice saved with its
    `consolidated_invoice` (doc_update/list_update and a Version each), then the new Sales
    Invoices' own; no sale event."""
    if not isinstance(outlet, str) or state.store.outlet_doc(outlet) is None:
        raise FrappeException(404, "DoesNotExistError", f"Franchise Outlet {outlet} not found")
    chosen = state.store.open_pos_invoices(outlet, state.store.today())
    made = state.store.consolidate(chosen, state.store.now())
    for invoice in chosen:
        publish_change(state, invoice, user)
        state.publisher.publish_doc_change("Version", secrets.token_hex(5), stamp(state), user)
    for invoice in made:
        publish_change(state, invoice, user)
    by_kind = {merged.is_return: merged.name for merged in made}
    return {
        "outlet": outlet,
        "pos_invoices": [invoice.name for invoice in chosen],
        "sales_invoice": by_kind.get(0),
        "credit_note": by_kind.get(1),
        "grand_total": round(sum(invoice.grand_total for invoice in chosen), 2),
    }


def find(state, doctype: str, name) -> data.Invoice:
    invoice = state.store.by_name.get((doctype, name)) if isinstance(name, str) else None
    if invoice is None:
        raise FrappeException(404, "DoesNotExistError", f"{doctype} {name} not found")
    return invoice


def publish_change(state, invoice: data.Invoice, user: str) -> None:
    state.publisher.publish_doc_change(invoice.doctype, invoice.name, stamp(state), user)


def stamp(state) -> str:
    return state.store.now().strftime("%Y-%m-%d %H:%M:%S.%f")


def returned(state, doc: dict, outlet: str) -> dict:
    """A return's `return_against`: a submitted sale of the same outlet (ERPNext checks)."""
    against = doc.get("return_against")
    if against is None:
        return {}
    sold = state.store.by_name.get(("POS Invoice", against)) if isinstance(against, str) else None
    if sold is None or sold.docstatus != 1 or sold.is_return:
        raise FrappeException(
            417, "ValidationError", f"{against} is not a submitted sale that can be returned"
        )
    if sold.outlet != outlet:
        raise FrappeException(417, "ValidationError", f"{against} was sold at another outlet")
    return {"return_against": against}


def amending(state, original) -> dict:
    """An amendment of a cancelled invoice is named after it: NAME-1, then NAME-2."""
    if original is None:
        return {}
    cancelled = (
        state.store.by_name.get(("POS Invoice", original)) if isinstance(original, str) else None
    )
    if cancelled is None or cancelled.docstatus != 2:
        raise FrappeException(417, "ValidationError", f"{original} is not a cancelled invoice")
    base, _, number = original.rpartition("-")
    if cancelled.amended_from and number.isdigit():
        name = f"{base}-{int(number) + 1}"
    else:
        name = f"{original}-1"
    return {"amended_from": original, "name": name}


def posting_moment(state, doc: dict) -> datetime:
    """Now, unless `set_posting_time` is on and a date is given (ERPNext resets it otherwise)."""
    now = state.store.now()
    if doc.get("set_posting_time") not in (1, "1", True) or not doc.get("posting_date"):
        return now
    try:
        day = datetime.strptime(str(doc["posting_date"]), "%Y-%m-%d").date()
        clock = str(doc.get("posting_time") or now.strftime("%H:%M:%S"))
        hours, minutes, seconds = (clock.split(":") + ["0", "0"])[:3]
        moment = timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))
    except ValueError:
        raise FrappeException(417, "ValidationError", "Invalid posting date or time") from None
    return datetime.combine(day, datetime.min.time()) + moment


def parse_basket(items, is_return=0):
    """[(item_code, qty)] from the request's rows; a return's quantities are negative."""
    if not isinstance(items, list) or not items or len(items) > 100:
        raise FrappeException(417, "ValidationError", "Items are required")
    basket = []
    for row in items:
        code = row.get("item_code") if isinstance(row, dict) else None
        qty = row.get("qty", -1 if is_return else 1) if isinstance(row, dict) else None
        if not data.is_menu_item(code):
            raise FrappeException(404, "DoesNotExistError", f"Item {code} not found")
        if isinstance(qty, bool) or not isinstance(qty, int | float) or not 0 < abs(qty) <= 1000:
            raise FrappeException(417, "ValidationError", f"Invalid quantity for {code}")
        if (qty < 0) != bool(is_return):
            raise FrappeException(
                417, "ValidationError",
                f"Row for {code}: a return's quantity must be negative, a sale's positive",
            )  # fmt: skip
        basket.append((code, qty))
    return basket


def number(value, path):
    """Ints where Frappe's insert+submit path sends them, floats otherwise."""
    if path == 0 and float(value).is_integer():
        return int(value)
    return float(value)


def frappe_timestamp(moment, path):
    """str(posting_date) + " " + str(posting_time): unpadded hour, sometimes unpadded seconds."""
    if path == 2:
        clock = f"{moment.hour}:{moment.minute:02d}:{moment.second}.{moment.microsecond:06d}"
    else:
        clock = str(
            timedelta(
                hours=moment.hour,
                minutes=moment.minute,
                seconds=moment.second,
                microseconds=moment.microsecond or 1,
            )
        )
    return f"{moment.date()} {clock}"
