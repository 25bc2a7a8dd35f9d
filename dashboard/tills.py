"""An outlet's figures from its tills' POS Invoices, for sites whose POS Invoices become Sales
Invoices only at the POS closing (ERPNext v15's default; frappe-contract.md, "How ERPNext sites
really sell"). There the seed's RPC, which sums Sales Invoices, lags the tills all day.

Two aggregate list queries, asked with the caller's own rights (User Permissions apply through
the outlet link), never a list of every invoice: the count and sum of the submitted POS
Invoices of the period (returns count as invoices, as the RPC counts credit notes), and their
lines summed by item, ranked by quantity as the RPC ranks them (ties by amount, where the RPC
orders them any way). Cancelled invoices (docstatus 2)
and drafts are left out; a backdated invoice counts on its own date.
"""

from datetime import date

DOCTYPE = "POS Invoice"
LINES = "`tabPOS Invoice Item`"


def pos_figures(frappe, outlet: str, start: date, end: date, **auth) -> dict:
    """The RPC's answer, {total_sales, invoice_count, avg_order_value, top_items}, from the
    POS Invoices posted between `start` and `end`; `auth` is sid=... or as_service=True."""
    filters = [
        ["custom_franchise_outlet", "=", outlet],
        ["docstatus", "=", 1],
        ["posting_date", "between", [start.isoformat(), end.isoformat()]],
    ]
    totals = frappe.get_list(
        DOCTYPE, fields=["count(name) as invoice_count", "sum(grand_total) as total_sales"],
        filters=filters, limit=1, **auth,
    )  # fmt: skip
    items = frappe.get_list(
        DOCTYPE,
        fields=[f"{LINES}.item_code", f"{LINES}.item_name", f"sum({LINES}.qty) as total_qty",
                f"sum({LINES}.amount) as total_amount"],
        filters=filters, group_by=f"{LINES}.item_code, {LINES}.item_name",
        order_by="total_qty desc, total_amount desc", limit=10, **auth,
    )  # fmt: skip
    row = totals[0] if totals else {}
    count, total = row.get("invoice_count") or 0, row.get("total_sales") or 0
    return {
        "total_sales": total,
        "invoice_count": count,
        "avg_order_value": total / count if isinstance(count, int) and count else 0,
        "top_items": items,
    }
