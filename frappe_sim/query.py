"""Frappe's list queries (`GET /api/resource/<DocType>`, frappe.get_list) over the demo's rows.

Filters, ordering and paging as Frappe applies them, and what real sites use for figures:
`count(name)` and `sum(field)` with aliases, the child table's fields as
`` `tabPOS Invoice Item`.qty `` (a left join: one row per line), and `group_by`. Fields a
query may not name are refused as Frappe refuses them (DataError).
"""

import json
import re

from .errors import FrappeException

OPERATORS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a is not None and a > b,
    "<": lambda a, b: a is not None and a < b,
    ">=": lambda a, b: a is not None and a >= b,
    "<=": lambda a, b: a is not None and a <= b,
    "in": lambda a, b: a in as_list(b),
    "not in": lambda a, b: a not in as_list(b),
    "like": lambda a, b: isinstance(a, str) and like(a, b),
    "not like": lambda a, b: not (isinstance(a, str) and like(a, b)),
    "between": lambda a, b: a is not None and between(a, b),
    "is": lambda a, b: (a not in (None, "")) == (str(b).lower() == "set"),
}
AGGREGATE = re.compile(r"(count|sum)\((.+)\)", re.IGNORECASE)
CHILD_FIELDS = frozenset({"item_code", "item_name", "qty", "rate", "amount"})
OUTLET_FIELDS = frozenset(
    {"name", "owner", "creation", "modified", "modified_by", "docstatus", "idx", "outlet_name",
     "city", "state", "status", "territory", "custom_latitude", "custom_longitude",
     "custom_franchise_type", "custom_manager_email", "custom_initial_investment",
     "custom_royalty_percentage", "custom_agreement_start_date", "custom_agreement_end_date",
     "custom_suspension_reason", "doctype"}
)  # fmt: skip
INVOICE_FIELDS = {
    "Sales Invoice": frozenset(
        {"name", "custom_franchise_outlet", "posting_date", "posting_time", "grand_total",
         "total_qty", "docstatus", "is_return", "is_consolidated", "amended_from", "modified",
         "creation"}
    ),
    "POS Invoice": frozenset(
        {"name", "custom_franchise_outlet", "posting_date", "posting_time", "grand_total",
         "total_qty", "docstatus", "is_return", "return_against", "consolidated_invoice",
         "status", "set_posting_time", "amended_from", "modified", "creation"}
    ),
}  # fmt: skip


def run_list(
    rows: list, args: dict, known: frozenset, child: str | None = None, hidden=frozenset()
) -> list:
    """Frappe's answer to a list request over `rows` (docs; `items` holds child rows when the
    doctype has a table, named `child`). Fields in `hidden` (a permission level the caller
    lacks) are dropped from the query without a word, as DatabaseQuery does."""
    names = as_field_list(args.get("fields"))
    filters = parse_json_arg(args.get("filters"), [])
    rows = [doc for doc in rows if matches(doc, filters, known)]
    if "*" in names:
        names = sorted(known - hidden)
    fields = [parse_field(f, known, child) for f in names]
    fields = [field for field in fields if field["column"] not in hidden]
    if any(field["child"] for field in fields):
        rows = [{**doc, **line} for doc in rows for line in doc.get("items") or [{}]]
    group_by = [parse_field(g, known, child)["column"] for g in split(args.get("group_by"))]
    if group_by or any(field["aggregate"] for field in fields):
        rows = aggregate(rows, fields, group_by)
        order_by, known = args.get("order_by") or "", known | {f["key"] for f in fields}
    else:
        order_by = args.get("order_by") or "modified desc"
        rows = [{f["key"]: doc.get(f["column"]) for f in fields} | {"_doc": doc} for doc in rows]
    rows = order(rows, order_by, known)
    start = int_arg(args, "limit_start", 0)
    length = int_arg(args, "limit_page_length", int_arg(args, "limit", 20))
    rows = rows[start : start + length] if length else rows[start:]
    return [{key: value for key, value in row.items() if key != "_doc"} for row in rows]


def as_field_list(value) -> list:
    fields = parse_json_arg(value, ["name"])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise FrappeException(417, "ValidationError", "fields must be a list")
    return [f.strip() for f in fields if f.strip()]


def parse_field(text: str, known: frozenset, child: str | None) -> dict:
    """{"column", "key", "aggregate": None|"count"|"sum", "child": bool} of one field."""
    expression, _, alias = text.partition(" as ")
    expression = expression.strip()
    function = AGGREGATE.fullmatch(expression)
    inner = function.group(2).strip() if function else expression
    column, is_child = column_of(inner, known, child, counting=bool(function))
    return {
        "column": column,
        "key": alias.strip() or (expression if function else column),
        "aggregate": function.group(1).lower() if function else None,
        "child": is_child,
    }


def column_of(text: str, known, child, counting=False) -> tuple[str, bool]:
    text = text.replace("`", "")
    if counting and text == "*":
        return "*", False
    table, dot, column = text.rpartition(".")
    if dot and child and table in (f"tab{child}", "items"):
        if column not in CHILD_FIELDS:
            raise FrappeException(417, "DataError", f"Field not permitted in query: {column}")
        return column, True
    check_field(column, known)
    return column, False


def aggregate(rows: list, fields: list, group_by: list) -> list:
    groups: dict = {}
    for row in rows:
        groups.setdefault(tuple(row.get(column) for column in group_by), []).append(row)
    if not group_by and not groups:
        groups[()] = []  # an aggregate over no rows is still one row (SUM is NULL, COUNT 0)
    answer = []
    for members in groups.values():
        result = {}
        for field in fields:
            values = (
                [m.get(field["column"]) for m in members] if field["column"] != "*" else members
            )
            if field["aggregate"] == "count":
                result[field["key"]] = sum(value is not None for value in values)
            elif field["aggregate"] == "sum":
                present = [value for value in values if value is not None]
                result[field["key"]] = round(sum(present), 6) if present else None
            else:
                result[field["key"]] = values[0] if values else None
        answer.append(result)
    return answer


def split(value) -> list:
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def parse_json_arg(value, default):
    if value is None:
        return default
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise FrappeException(417, "ValidationError", f"Invalid JSON: {value[:80]}") from None


def int_arg(args, name, default):
    value = args.get(name)
    if value in (None, ""):
        return default
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        raise FrappeException(417, "ValidationError", f"{name} must be a number") from None


def as_list(value):
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    return list(value) if isinstance(value, list | tuple) else [value]


def between(value, bounds) -> bool:
    low, high = (as_list(bounds) + [None, None])[:2]
    return (low is None or value >= low) and (high is None or value <= high)


def like(text, pattern):
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL) is not None


def matches(doc, filters, known):
    if isinstance(filters, dict):
        filters = [
            [key, *(value if isinstance(value, list) else ["=", value])]
            for key, value in filters.items()
        ]
    if not isinstance(filters, list):
        raise FrappeException(417, "ValidationError", "Filters must be a list or a dict")
    for condition in filters:
        if not isinstance(condition, list) or len(condition) not in (3, 4):
            raise FrappeException(417, "ValidationError", f"Invalid filter: {condition}")
        fieldname, op, value = condition[-3:]
        check_field(fieldname, known)
        test = OPERATORS.get(str(op).lower())
        if test is None:
            raise FrappeException(417, "ValidationError", f"Unsupported operator: {op}")
        if not test(doc.get(fieldname), value):
            return False
    return True


def outlet_asked(filters):
    """The outlet of a `custom_franchise_outlet = X` filter, if there is one."""
    for condition in filters if isinstance(filters, list) else []:
        if isinstance(condition, list) and len(condition) in (3, 4):
            fieldname, op, value = condition[-3:]
            if fieldname == "custom_franchise_outlet" and op == "=" and isinstance(value, str):
                return value
    return None


def check_field(fieldname, known):
    if fieldname not in known:
        raise FrappeException(417, "DataError", f"Field not permitted in query: {fieldname}")


def order(rows, order_by, known):
    """Sorted by each clause; a list's rows carry their whole document in `_doc`."""
    rows = sorted(rows, key=lambda row: str(row.get("_doc", row).get("name")))
    for clause in reversed(split(order_by)):
        parts = clause.replace("`", "").split()
        fieldname = parts[0].rsplit(".", 1)[-1]
        check_field(fieldname, known)
        descending = len(parts) > 1 and parts[1].lower() == "desc"
        rows.sort(key=lambda row: sort_key(row.get("_doc", row).get(fieldname)), reverse=descending)
    return rows


def sort_key(value):
    return (value is None, 0 if value is None else value)
