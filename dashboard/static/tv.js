// A store TV: one outlet's day, live, unattended for weeks. Never blank, never silently stale.
(function () {
  "use strict";
  const screen = document.querySelector("[data-tv]");
  const outlet = screen.dataset.outlet;
  const publicSafe = screen.dataset.public === "yes";
  const tv = window.TvScreen(screen);
  const { money, count, dayOf, dateText, hhmm } = tv;
  const TOP_SIZE = 5;
  const QUIET_MS = 20000;

  const day = { current: dayOf.format(new Date()), total: null, invoices: null, avg: null, top: [], asOf: null };
  let lastSaleAt = 0;
  let reloadWanted = false;

  const $ = (id) => document.getElementById(id);

  function render() {
    const known = day.invoices !== null;
    const shown = publicSafe
      ? [["tv-total", day.invoices, count]]
      : [["tv-total", day.total, money], ["tv-invoices", day.invoices, count], ["tv-avg", day.avg, money]];
    for (const [id, value, format] of shown) {
      const none = !known || (id === "tv-avg" && !day.invoices); // no invoices, no average
      $(id).textContent = none ? "—" : format.format(value);
      if (known) $(id).dataset.value = value;
      tv.fit($(id));
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
    const listed = sale.items.map((item) => `${count.format(item.qty)} × ${item.item}`);
    if (sale.items_omitted) listed.push(`${count.format(sale.items_omitted)} more items`);
    const what = (sale.grand_total < 0 ? "Return: " : "") + listed.join(", ");
    tv.addToTicker(sale, what, publicSafe ? null : money.format(sale.grand_total));
    showNone();
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
    tv.removeFromTicker(cancelled.invoice);
    showNone();
  }

  const onState = (state, info) => tv.showState(state, info, day.asOf);

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
    tv.showWholeLines();
  });
  tick();
  render();
})();
