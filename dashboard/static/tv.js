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

  const day = { current: dayOf.format(new Date()), total: null, invoices: null, top: [], asOf: null };
  let lastSaleAt = 0;
  let reloadWanted = false;

  const $ = (id) => document.getElementById(id);

  function render() {
    const known = day.invoices !== null;
    if (publicSafe) $("tv-total").textContent = known ? count.format(day.invoices) : "—";
    else {
      $("tv-total").textContent = known ? money.format(day.total) : "—";
      $("tv-invoices").textContent = known ? count.format(day.invoices) : "—";
      $("tv-avg").textContent = known ? money.format(day.invoices ? day.total / day.invoices : 0) : "—";
    }
    const top = $("tv-top");
    top.replaceChildren(
      ...day.top.slice(0, TOP_SIZE).map((item) => {
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
  }

  function addToTicker(sale) {
    const row = document.createElement("li");
    row.dataset.invoice = sale.invoice;
    const when = document.createElement("time");
    when.textContent = sale.timestamp ? sale.timestamp.slice(11, 16) : hhmm.format(new Date());
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = sale.items.map((item) => `${count.format(item.qty)} × ${item.item}`).join(", ");
    row.append(when, what);
    if (!publicSafe) {
      const amount = document.createElement("strong");
      amount.textContent = money.format(sale.grand_total);
      row.append(amount);
    }
    const ticker = $("tv-ticker");
    ticker.prepend(row);
    while (ticker.children.length > TICKER_SIZE) ticker.lastElementChild.remove();
  }

  function newDay(current) {
    day.current = current;
    day.total = 0;
    day.invoices = 0;
    day.top = [];
    day.asOf = new Date();
    $("tv-ticker").replaceChildren();
    render();
  }

  function tick() {
    const now = new Date();
    $("tv-clock").textContent = hhmm.format(now);
    $("tv-date").textContent = dateText.format(now);
    const today = dayOf.format(now);
    if (today > day.current) {
      newDay(today); // midnight at the site: start from zero even if no sale comes
      window.fetchSummary(screen.dataset.dataUrl).then((s) => s && snapshot(outlet, s));
    }
    if (reloadWanted && Date.now() - lastSaleAt > QUIET_MS) window.location.reload();
  }

  function snapshot(_outlet, summary) {
    if (summary.day && summary.day < day.current) return; // yesterday's figures, just after midnight
    if (summary.day && summary.day > day.current) day.current = summary.day;
    day.invoices = summary.invoice_count;
    day.total = summary.total_sales ?? null;
    day.top = summary.top_items;
    day.asOf = new Date();
    render();
  }

  function onEvent(event, how) {
    if (event.event === "live_pos_sale") {
      if (how !== "recount") addToTicker(event);
      if (how === "shown") return;
      if (how === "new") lastSaleAt = Date.now();
      if (day.invoices !== null) day.invoices += 1;
      day.asOf = new Date();
      for (const item of event.items) {
        const known = day.top.find((row) => row.item_name === item.item);
        if (known) known.total_qty += item.qty;
        else day.top.push({ item_name: item.item, total_qty: item.qty });
      }
      day.top.sort((a, b) => b.total_qty - a.total_qty);
    } else if (how !== "shown" && event.daily_total !== undefined && event.daily_total !== null) {
      day.total = event.daily_total;
    }
    render();
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

  window.LiveSales({
    outlets: [outlet],
    version: screen.dataset.version,
    onState,
    onVersion: (version) => (reloadWanted = reloadWanted || version !== screen.dataset.version),
    onNotice: () => {},
    refresh: () => window.fetchSummary(screen.dataset.dataUrl),
    onSnapshot: snapshot,
    onEvent,
  });

  // A daily reload at a quiet moment keeps weeks of uptime fresh.
  setTimeout(() => (reloadWanted = true), 24 * 3600 * 1000);
  setInterval(tick, 1000);
  tick();
  render();
})();
