// A store TV: one outlet's day, live, unattended for weeks. Never blank, never silently stale.
(function () {
  "use strict";
  const screen = document.querySelector("[data-tv]");
  const outlet = screen.dataset.outlet;
  const publicSafe = screen.dataset.public === "yes";
  const zone = document.body.dataset.timeZone;
  const locale = document.body.dataset.locale;
  const money = new Intl.NumberFormat(locale, { style: "currency", currency: screen.dataset.currency, maximumFractionDigits: 0 });
  const count = new Intl.NumberFormat(locale);
  const dayOf = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
  const dateText = new Intl.DateTimeFormat(locale, { timeZone: zone, weekday: "long", day: "numeric", month: "long" });
  const hhmm = new Intl.DateTimeFormat(locale, { timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false });
  const TICKER_SIZE = 8;
  const TOP_SIZE = 5;
  const QUIET_MS = 20000;

  const day = { current: dayOf.format(new Date()), total: null, invoices: null, avg: null, top: [], asOf: null };
  let lastSaleAt = 0;
  let reloadWanted = false;

  const $ = (id) => document.getElementById(id);

  // A number as large as its style allows, smaller when it would not fit its box whole (a
  // large total on a narrow or upright screen): never cut.
  function fit(element) {
    element.style.fontSize = "";
    let size = parseFloat(getComputedStyle(element).fontSize);
    while (element.scrollWidth > element.clientWidth + 1 && size > 10) {
      size *= 0.92;
      element.style.fontSize = `${size}px`;
    }
  }

  function render() {
    const known = day.invoices !== null;
    const shown = publicSafe
      ? [["tv-total", day.invoices, count]]
      : [["tv-total", day.total, money], ["tv-invoices", day.invoices, count], ["tv-avg", day.avg, money]];
    for (const [id, value, format] of shown) {
      const none = !known || (id === "tv-avg" && !day.invoices); // no invoices, no average
      $(id).textContent = none ? "—" : format.format(value);
      if (known) $(id).dataset.value = value;
      fit($(id));
    }
    const pace = $("tv-pace");
    pace.hidden = !day.pace || day.pace.ratio === null || day.pace.ratio === undefined;
    if (!pace.hidden) {
      const text = window.paceText(day.pace, day.current);
      pace.textContent = text.long;
      pace.dataset.value = day.pace.ratio;
      pace.classList.toggle("down", day.pace.ratio < 0);
    }
    const top = $("tv-top");
    top.replaceChildren(
      // Ranked by quantity, as Frappe ranks them.
      ...[...day.top].sort((a, b) => b.total_qty - a.total_qty).slice(0, TOP_SIZE).map((item) => {
        const row = document.createElement("li");
        const name = document.createElement("span");
        name.textContent = item.item_name;
        const qty = document.createElement("span");
        qty.className = "qty";
        qty.textContent = count.format(item.total_qty);
        row.append(name, qty);
        return row;
      }),
    );
    showNone();
  }

  // A day with no sales yet says so, instead of blank lists under their headings.
  function showNone() {
    const none = day.invoices === 0;
    $("tv-top-none").hidden = !none || day.top.length > 0;
    $("tv-ticker-none").hidden = !none || $("tv-ticker").children.length > 0;
  }

  function addToTicker(sale) {
    const row = document.createElement("li");
    row.dataset.invoice = sale.invoice;
    const when = document.createElement("time");
    when.textContent = sale.timestamp ? sale.timestamp.slice(11, 16) : hhmm.format(new Date());
    const what = document.createElement("span");
    what.className = "what";
    const listed = sale.items.map((item) => `${count.format(item.qty)} × ${item.item}`);
    if (sale.items_omitted) listed.push(`${count.format(sale.items_omitted)} more items`);
    what.textContent = (sale.grand_total < 0 ? "Return: " : "") + listed.join(", ");
    row.append(when, what);
    if (!publicSafe) {
      const amount = document.createElement("strong");
      amount.textContent = money.format(sale.grand_total);
      row.append(amount);
    }
    const ticker = $("tv-ticker");
    ticker.prepend(row);
    while (ticker.children.length > TICKER_SIZE) ticker.lastElementChild.remove();
    showWholeLines();
    showNone();
  }

  // As many of the latest sales as the screen has room for, each line whole.
  function showWholeLines() {
    const ticker = $("tv-ticker");
    for (const row of ticker.children) row.hidden = false;
    const bottom = ticker.getBoundingClientRect().bottom;
    for (const row of ticker.children) row.hidden = row.getBoundingClientRect().bottom > bottom + 1;
  }

  function tick() {
    const now = new Date();
    $("tv-clock").textContent = hhmm.format(now);
    $("tv-date").textContent = dateText.format(now);
    const today = dayOf.format(now);
    if (today > day.current) {
      // Midnight at the site: start from zero even if no sale comes.
      day.current = today;
      $("tv-ticker").replaceChildren();
      showNone();
      live.startDay(outlet, today);
      window.fetchSummary(screen.dataset.dataUrl).then((s) => s && live.snapshot(outlet, s));
    }
    if (reloadWanted && Date.now() - lastSaleAt > QUIET_MS) window.location.reload();
  }

  function showFigures(_outlet, figures) {
    if (figures.day && figures.day > day.current) day.current = figures.day;
    day.invoices = figures.invoice_count;
    day.total = figures.total_sales;
    day.avg = figures.avg_order_value;
    day.top = figures.top_items;
    day.pace = figures.pace; // a customer-facing screen gets the percentage only
    day.asOf = new Date();
    render();
  }

  // Today's sales only (a backdated invoice is not), and no refunds on a customer-facing screen.
  function onSale(sale, isLive, counted) {
    if (!counted || (publicSafe && sale.grand_total < 0)) return;
    addToTicker(sale);
    if (isLive) lastSaleAt = Date.now();
  }

  function onCancel(cancelled) {
    for (const row of $("tv-ticker").querySelectorAll("li")) {
      if (row.dataset.invoice === cancelled.invoice) row.remove();
    }
    showNone();
  }

  function onState(state, info) {
    const banner = $("tv-banner");
    const labels = { live: "Live", paused: "Live feed paused", reconnecting: "Reconnecting…", offline: "Offline", connecting: "Connecting…" };
    $("tv-state").textContent = labels[state] || state;
    $("tv-state").dataset.state = state;
    const offline = state === "offline";
    screen.classList.toggle("dimmed", offline);
    banner.hidden = !offline;
    if (offline) {
      const since = hhmm.format(new Date(info.disconnectedAt));
      const asOf = day.asOf ? hhmm.format(day.asOf) : "—";
      banner.textContent = `Offline since ${since} — figures as of ${asOf}`;
    }
  }

  const live = window.LiveSales({
    outlets: [outlet],
    version: screen.dataset.version,
    onState,
    onVersion: (version) => (reloadWanted = reloadWanted || version !== screen.dataset.version),
    onNotice: () => {},
    refresh: () => window.fetchSummary(screen.dataset.dataUrl),
    onFigures: showFigures,
    onSale,
    onCancel,
  });

  // A daily reload at a quiet moment keeps weeks of uptime fresh.
  setTimeout(() => (reloadWanted = true), 24 * 3600 * 1000);
  setInterval(tick, 1000);
  window.addEventListener("resize", () => {
    render();
    showWholeLines();
  });
  tick();
  render();
})();
