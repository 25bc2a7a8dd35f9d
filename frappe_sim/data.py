"""Demo data: outlets, menu, users and about 60 days of POS sales, deterministic per seed."""

import random
import threading
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# (name, outlet_name, city, state, status, latitude, longitude, manager)
OUTLETS = [
    (
        "OUTLET-001",
        "Downtown Outlet",
        "Mumbai",
        "Maharashtra",
        "Active",
        19.076,
        72.8777,
        "manager1@example.com",
    ),
    (
        "OUTLET-002",
        "Airport Outlet",
        "Bengaluru",
        "Karnataka",
        "Active",
        12.9716,
        77.5946,
        "manager2@example.com",
    ),
    (
        "OUTLET-003",
        "Mall Outlet",
        "Pune",
        "Maharashtra",
        "Active",
        18.5204,
        73.8567,
        "manager2@example.com",
    ),
    ("Café Central", "Café Central", "Panaji", "Goa", "Active", 15.4909, 73.8278, None),
    (
        "Marine Drive Kiosk",
        "Marine Drive Kiosk",
        "Mumbai",
        "Maharashtra",
        "Active",
        18.9432,
        72.8236,
        None,
    ),
    ("Connaught Place", "Connaught Place", "New Delhi", "Delhi", "Active", 28.6315, 77.2167, None),
    ("Park Street", "Park Street", "Kolkata", "West Bengal", "Active", 22.5535, 88.3520, None),
    ("Jubilee Hills", "Jubilee Hills", "Hyderabad", "Telangana", "Active", 17.4326, 78.4071, None),
    ("T. Nagar", "T. Nagar", "Chennai", "Tamil Nadu", "Active", 13.0418, 80.2341, None),
    ("Koregaon Park", "Koregaon Park", "Pune", "Maharashtra", "Active", 18.5362, 73.8940, None),
    # Real sites have outlets whose coordinates were never filled in.
    (
        "Station Road Express",
        "Station Road Express",
        "Jaipur",
        "Rajasthan",
        "Active",
        None,
        None,
        None,
    ),
    # Names are whatever people typed: markup characters must come out as text everywhere.
    (
        "Chai & Co. <Express>",
        "Chai & Co. <Express>",
        "Margao",
        "Goa",
        "Active",
        15.2832,
        73.9862,
        None,
    ),
    ("Lake View", "Lake View", "Udaipur", "Rajasthan", "Suspended", 24.5854, 73.7125, None),
    ("Old Harbour", "Old Harbour", "Kochi", "Kerala", "Closed", 9.9658, 76.2421, None),
]

# (item_code, item_name, rate)
MENU = [
    ("COFFEE-01", "Cappuccino", 180.0),
    ("COFFEE-02", "Espresso", 120.0),
    ("COFFEE-03", "Café Latte", 200.0),
    ("COFFEE-04", "Cold Brew", 220.0),
    ("TEA-01", "Masala Chai", 40.0),
    ("TEA-02", "Green Tea", 90.0),
    ("TEA-03", "Iced Lemon Tea", 110.0),
    ("COLA-01", "Cola 500ml", 60.0),
    ("JUICE-01", "Fresh Orange Juice", 140.0),
    ("WATER-01", "Mineral Water", 30.0),
    ("BURGER-01", "Veg Burger", 150.0),
    ("BURGER-02", "Chicken Burger", 210.0),
    ("SANDWICH-01", "Club Sandwich", 190.0),
    ("SANDWICH-02", "Paneer Tikka Sandwich", 170.0),
    ("WRAP-01", "Falafel Wrap", 160.0),
    ("PASTRY-01", "Croissant", 95.0),
    ("MUFFIN-01", "Blueberry Muffin", 150.0),
    ("COOKIE-01", "Choco-chip Cookie", 60.0),
    ("CAKE-01", "Carrot Cake Slice", 175.0),
    ("SALAD-01", "Garden Salad", 230.0),
    ("FRIES-01", "French Fries", 100.0),
    ("SAMOSA-01", "Samosa (2 pcs)", 50.0),
]


@dataclass(frozen=True)
class User:
    name: str
    password: str
    full_name: str
    user_type: str = "System User"  # or "Website User"
    outlets: frozenset | None = frozenset()  # None: every outlet
    two_factor: bool = False
    password_expired: bool = False
    enabled: bool = True
    reads_level_1: bool = False  # a role with read at permission level 1 (PERMLEVEL_1)


ALL_OUTLETS = None
USERS = {
    u.name: u
    for u in [
        User("Administrator", "admin", "Administrator", outlets=ALL_OUTLETS, reads_level_1=True),
        User("manager1@example.com", "manager1", "Manager One", outlets=frozenset({"OUTLET-001"})),
        User(
            "manager2@example.com",
            "manager2",
            "Manager Two",
            outlets=frozenset({"OUTLET-002", "OUTLET-003"}),
        ),
        User("website@example.com", "website", "Website Visitor", user_type="Website User"),
        # Two-factor by authenticator app; the demo code is OTP_CODE.
        User(
            "otp@example.com",
            "otp",
            "Otto Two-Factor",
            outlets=frozenset({"OUTLET-003"}),
            two_factor=True,
        ),
        User("expired@example.com", "expired", "Expired Password", password_expired=True),
        User("disabled@example.com", "disabled", "Disabled User", enabled=False),
        # A System User with a password and no permissions, as a bridge's account may be.
        User("bridge@example.com", "bridge", "Realtime Bridge"),
        # The service account behind API key/secret: reads every outlet.
        User("api@example.com", "", "Dashboard Service", outlets=ALL_OUTLETS, reads_level_1=True),
    ]
}
OTP_CODE = "123456"
API_KEYS = {"demo_api_key": ("demo_api_secret", "api@example.com")}


POS_MODES = ("sales-invoice", "consolidated")


@dataclass
class Invoice:
    """A POS Invoice or a Sales Invoice, as far as the dashboard can see one."""

    name: str
    outlet: str
    posted: datetime  # posting date and time: naive, in the site's time zone
    items: list  # [(item_code, qty, amount)]; negative for returns
    grand_total: float
    doctype: str = "POS Invoice"
    docstatus: int = 1  # 0 draft, 1 submitted, 2 cancelled
    is_return: int = 0
    return_against: str | None = None
    amended_from: str | None = None
    consolidated_invoice: str | None = None  # POS Invoice: the Sales Invoice it was merged into
    is_consolidated: int = 0  # Sales Invoice: made by a POS closing (or a till's own)
    set_posting_time: int = 0
    modified: datetime | None = None

    @property
    def status(self) -> str:
        """ERPNext's status names for a POS Invoice."""
        if self.docstatus != 1:
            return "Draft" if self.docstatus == 0 else "Cancelled"
        if self.consolidated_invoice:
            return "Consolidated"
        return "Return" if self.is_return else "Paid"


@dataclass
class Store:
    """Everything the demo site knows, guarded by one lock.

    `mode` is how the site's POS sells (frappe-contract.md, "How ERPNext sites really sell"):
    "sales-invoice", each sale a POS Invoice with its own Sales Invoice (the seed's assumption);
    "consolidated", POS Invoices only until a POS closing merges them into one Sales Invoice
    (ERPNext v15's default). `invoices` are the Sales Invoices, which the seed's RPC sums.
    """

    time_zone: ZoneInfo
    mode: str = "sales-invoice"
    outlets: dict = field(default_factory=dict)
    invoices: list = field(default_factory=list)  # Sales Invoices
    pos_invoices: list = field(default_factory=list)
    by_name: dict = field(default_factory=dict)  # (doctype, name) -> Invoice
    lock: threading.RLock = field(default_factory=threading.RLock)
    counter: int = 0
    sales_counter: int = 0

    def now(self) -> datetime:
        return datetime.now(self.time_zone).replace(tzinfo=None)

    def today(self) -> date:
        return self.now().date()

    def outlet_doc(self, name: str) -> dict | None:
        return self.outlets.get(name)

    def may_read(self, user: User, outlet: str) -> bool:
        return user.outlets is None or outlet in user.outlets

    def next_invoice_name(self) -> str:
        self.counter += 1
        return f"POSINV-{self.counter:05d}"

    def add_invoice(self, outlet: str, items: list, posted: datetime) -> Invoice:
        """A submitted sale (the demo history): consolidated as the site's mode does."""
        invoice = self.new_invoice(outlet, items, posted)
        self.commit(invoice)
        return invoice

    def close_days_before(self, day: date) -> None:
        """A POS closing at the end of every earlier day with open POS Invoices."""
        with self.lock:
            days = {(i.outlet, i.posted.date()) for i in self.pos_invoices if i.posted.date() < day}
        for outlet, closed in sorted(days):
            end = datetime.combine(closed, datetime.max.time()).replace(microsecond=0)
            self.consolidate(self.open_pos_invoices(outlet, closed), end)

    def new_invoice(self, outlet: str, items: list, posted: datetime, **fields) -> Invoice:
        """A POS Invoice inside its submit's transaction: no one sees it until `commit`.
        `fields`: is_return, return_against, amended_from, set_posting_time, docstatus."""
        with self.lock:
            lines = [(code, qty, round(qty * rate_of(code), 2)) for code, qty in items]
            name = fields.pop("name", None) or self.next_invoice_name()
            return Invoice(
                name, outlet, posted, lines, round(sum(a for _, _, a in lines), 2), **fields
            )

    def commit(self, invoice: Invoice) -> None:
        """Save it; a submitted sale on a sales-invoice site gets its Sales Invoice too."""
        with self.lock:
            invoice.modified = self.now()
            if self.by_name.get(("POS Invoice", invoice.name)) is not invoice:
                self.pos_invoices.append(invoice)
                self.by_name[("POS Invoice", invoice.name)] = invoice
            if invoice.docstatus == 1 and self.mode == "sales-invoice":
                self.consolidate([invoice], invoice.posted)

    def consolidate(self, pos_invoices: list, posted: datetime) -> list:
        """One submitted Sales Invoice for the sales and one credit note for the returns
        (lines merged by item), each POS Invoice pointing at its own: what ERPNext's POS
        Invoice Merge Log does at a POS Closing Entry. Returns the new Sales Invoices."""
        made = []
        with self.lock:
            for is_return in (0, 1):
                chosen = [i for i in pos_invoices if i.is_return == is_return]
                if not chosen:
                    continue
                lines: dict = {}
                for invoice in chosen:
                    for code, qty, amount in invoice.items:
                        line = lines.setdefault(code, [0, 0.0])
                        line[0] += qty
                        line[1] = round(line[1] + amount, 2)
                self.sales_counter += 1
                merged = Invoice(
                    f"SINV-{self.sales_counter:05d}", chosen[0].outlet, posted,
                    [(code, qty, amount) for code, (qty, amount) in lines.items()],
                    round(sum(i.grand_total for i in chosen), 2), doctype="Sales Invoice",
                    is_return=is_return, is_consolidated=1, modified=self.now(),
                )  # fmt: skip
                self.invoices.append(merged)
                self.by_name[("Sales Invoice", merged.name)] = merged
                for invoice in chosen:
                    invoice.consolidated_invoice = merged.name
                    invoice.modified = self.now()
                made.append(merged)
        return made

    def open_pos_invoices(self, outlet: str, day: date) -> list:
        """Submitted POS Invoices of the day not merged into a Sales Invoice yet."""
        with self.lock:
            return [
                i for i in self.pos_invoices
                if i.outlet == outlet and i.docstatus == 1 and i.consolidated_invoice is None
                and i.posted.date() == day
            ]  # fmt: skip

    def daily_total(self, outlet: str, day: date) -> float | None:
        """The hook's daily total: the day's submitted POS Invoices, as a transaction starting
        now sees them."""
        with self.lock:
            totals = [
                i.grand_total for i in self.pos_invoices
                if i.outlet == outlet and i.posted.date() == day and i.docstatus == 1
            ]  # fmt: skip
        return float(sum(totals)) if totals else None

    def dashboard_data(self, outlet: str, start: date, end: date) -> dict:
        """The seed's RPC: the submitted Sales Invoices between two dates; top items by
        quantity (real Frappe orders ties any way it likes; here by amount, then name)."""
        with self.lock:
            chosen = [
                i for i in self.invoices
                if i.outlet == outlet and start <= i.posted.date() <= end and i.docstatus == 1
            ]  # fmt: skip
        by_item: dict[str, list] = {}
        for invoice in chosen:
            for code, qty, amount in invoice.items:
                row = by_item.setdefault(code, [0.0, 0.0])
                row[0] += qty
                row[1] += amount
        ranked = sorted(by_item.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
        total = float(sum(i.grand_total for i in chosen))
        count = len(chosen)
        return {
            "total_sales": round(total, 2),
            "invoice_count": count,
            "avg_order_value": round(total / count, 2) if count else 0.0,
            "top_items": [
                {
                    "item_code": code,
                    "item_name": name_of(code),
                    "total_qty": float(qty),
                    "total_amount": round(float(amount), 2),
                }
                for code, (qty, amount) in ranked[:10]
            ],
        }


_MENU_BY_CODE = {code: (name, rate) for code, name, rate in MENU}


def rate_of(code: str) -> float:
    return _MENU_BY_CODE[code][1]


def name_of(code: str) -> str:
    return _MENU_BY_CODE[code][0]


def is_menu_item(code) -> bool:
    return isinstance(code, str) and code in _MENU_BY_CODE


# The franchise terms of each outlet (territory, franchise type, royalty %, initial investment,
# agreement end in days from today or None for five years on), as the seed's
# create_franchise_outlet writes them: the agreement starts 60 months before it ends.
TERMS = {
    "OUTLET-001": ("West India", "Standard", 6.0, 2_500_000, 45),  # ends within 90 days
    "OUTLET-002": ("South India", "Express", 7.5, 1_800_000, None),
    "OUTLET-003": ("West India", "Standard", 6.0, 2_200_000, None),
    "Café Central": ("West India", "Standard", 5.0, 2_000_000, None),
    "Marine Drive Kiosk": ("West India", "Kiosk", 4.0, 600_000, 20),  # ends within 90 days
    "Connaught Place": ("North India", "Flagship", 8.0, 5_500_000, None),
    "Park Street": ("East India", "Standard", 5.0, 1_900_000, None),
    "Jubilee Hills": ("South India", "Standard", 5.0, 2_100_000, None),
    "T. Nagar": ("South India", "Express", 6.5, 1_700_000, -10),  # ended, still selling
    "Koregaon Park": ("West India", "Standard", 5.0, 2_000_000, None),
    "Station Road Express": ("North India", "Kiosk", 4.0, 650_000, None),
    "Chai & Co. <Express>": ("West India", "Express", 5.5, 1_200_000, None),
    "Lake View": ("North India", "Standard", 5.0, 1_500_000, None),
    "Old Harbour": ("South India", "Standard", 5.0, 1_600_000, -120),
}
SUSPENSION_REASONS = {"Lake View": "Non-payment of royalties"}
# Fields at permission level 1 (the franchisor's money): only roles granted level 1 read them.
# Frappe leaves them out of the REST answers of everyone else (frappe-contract.md).
PERMLEVEL_1 = frozenset({"custom_royalty_percentage", "custom_initial_investment"})


def outlet_docs(today: date) -> dict:
    docs = {}
    for number, (name, outlet_name, city, state, status, lat, lng, manager) in enumerate(OUTLETS):
        territory, kind, royalty, investment, ends_in = TERMS[name]
        end = today + timedelta(days=ends_in) if ends_in is not None else add_months(today, 60)
        docs[name] = {
            "name": name,
            "owner": "Administrator",
            "creation": "2026-01-05 10:12:44.118204",
            # Each edited on its own day: Frappe lists the newest modified first.
            "modified": f"2026-09-{number + 1:02d} 16:40:02.551873",
            "modified_by": "Administrator",
            "docstatus": 0,
            "idx": 0,
            "outlet_name": outlet_name,
            "city": city,
            "state": state,
            "status": status,
            "territory": territory,
            "custom_latitude": lat,
            "custom_longitude": lng,
            "custom_franchise_type": kind,
            "custom_manager_email": manager,
            "custom_initial_investment": float(investment),
            "custom_royalty_percentage": royalty,
            "custom_agreement_start_date": add_months(end, -60).isoformat(),
            "custom_agreement_end_date": end.isoformat(),
            "custom_suspension_reason": SUSPENSION_REASONS.get(name),
            "doctype": "Franchise Outlet",
        }
    return docs


def add_months(day: date, months: int) -> date:
    """frappe.utils.add_months: the same day of the month, or the month's last day."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


# For tests (--hostile-names): markup and script in every label people type into Frappe, which
# the dashboard must show as text wherever it goes (pages, live feed, locator, TVs).
HOSTILE = {
    "outlet": '<img src=x onerror=alert("outlet")>Mall Outlet',
    "city": '<script>alert("city")</script>Pune',
    "state": '"><svg onload=alert("state")>',
    "item": '<img src=x onerror=alert("item")>Samosa',
    "user": '<b onmouseover=alert("user")>Manager Two</b>',
}


def use_hostile_names(store: Store) -> None:
    """OUTLET-003, its city and state, the samosa and manager2 get HOSTILE's labels."""
    store.outlets["OUTLET-003"].update(
        outlet_name=HOSTILE["outlet"], city=HOSTILE["city"], state=HOSTILE["state"]
    )
    _MENU_BY_CODE["SAMOSA-01"] = (HOSTILE["item"], rate_of("SAMOSA-01"))
    manager2 = USERS["manager2@example.com"]
    USERS[manager2.name] = replace(manager2, full_name=HOSTILE["user"])


def random_basket(rng: random.Random) -> list:
    """One customer's order: 1-4 distinct items, mostly single quantities."""
    codes = rng.sample([code for code, _, _ in MENU], rng.randint(1, 4))
    return [(code, rng.choice((1, 1, 1, 2, 2, 3))) for code in codes]


def build_store(
    seed: int, time_zone: str, days: int = 60, extra_outlets: int = 0, silent: tuple = (),
    mode: str = "sales-invoice",
) -> Store:  # fmt: skip
    """The demo site with `days` days of history up to now, the same for the same seed and day.

    `extra_outlets` adds active outlets without history (BENCH-0000...), for load tests;
    `silent` outlets are busy all day on past same weekdays (add_busy_weekdays). On a
    consolidated site every earlier day was closed at its end; today's POS Invoices are open.
    """
    zone = ZoneInfo(time_zone)
    store = Store(time_zone=zone, mode=mode, outlets=outlet_docs(datetime.now(zone).date()))
    template = store.outlets["OUTLET-002"]  # an agreement years from its end
    territories = sorted({doc["territory"] for doc in store.outlets.values()})
    for i in range(extra_outlets):
        name = f"BENCH-{i:04d}"
        store.outlets[name] = {**template, "name": name, "outlet_name": name,
                               "territory": territories[i % len(territories)],
                               "custom_manager_email": None}  # fmt: skip
    rng = random.Random(seed)
    now = store.now()
    trading = [
        name for name, doc in store.outlets.items()
        if doc["status"] != "Closed" and not name.startswith("BENCH-")
    ]  # fmt: skip
    for back in range(days, -1, -1):
        day = now.date() - timedelta(days=back)
        for outlet in trading:
            if back == 0 and outlet in silent:
                continue  # a silent one is quiet today (a suspended one's tills still sell)
            for _ in range(rng.randint(4, 18)):
                posted = datetime.combine(day, datetime.min.time()) + timedelta(
                    seconds=rng.randint(8 * 3600, 22 * 3600 - 1),
                    microseconds=rng.randint(0, 999_999),
                )
                basket = random_basket(rng)
                if posted <= now:
                    store.add_invoice(outlet, basket, posted)
    for outlet in silent:
        add_busy_weekdays(store, outlet, random.Random(f"{seed}:{outlet}"))
    store.pos_invoices.sort(key=lambda i: i.posted)
    store.close_days_before(now.date())
    store.invoices.sort(key=lambda i: i.posted)
    return store


DAY = timedelta(days=1)


def add_busy_weekdays(store: Store, outlet: str, rng: random.Random) -> None:
    """A cup of chai about every two minutes, day and night, on the last four same weekdays:
    an outlet that usually trades at any hour (a station kiosk), for the demo's quiet mark."""
    today = datetime.combine(store.today(), datetime.min.time())
    for week in range(1, 5):
        moment = start = today - timedelta(weeks=week)
        while (moment := moment + timedelta(seconds=rng.expovariate(1 / 120))) < start + DAY:
            store.add_invoice(outlet, [("TEA-01", 1)], moment)
