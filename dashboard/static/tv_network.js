// A head-office TV: the day of every outlet it was paired with, by territory, live.
(function () {
  "use strict";
  const screen = document.querySelector("[data-tv-network]");
  const tv = window.TvScreen(screen);
  const { money, count, dayOf, dateText, hhmm } = tv;
  const outlets = JSON.parse(document.getElementById("tv-outlets").textContent);
  const byName = new Map(outlets.map((outlet) => [outlet.name, outlet]));
  const figures = new Map(); // outlet -> {total, invoices}
  const today = dayOf.format(new Date());
  let asOf = null;
  const $ = (id) => document.getElementById(id);

  // Territories A to Z, each the sum of its outlets; the total once every outlet is in.
  function render() {
    const groups = new Map();
    for (const outlet of outlets) {
      const name = outlet.territory || "No territory";
      if (!groups.has(name)) groups.set(name, { total: 0, invoices: 0, known: 0, members: 0 });
      const group = groups.get(name);
      const f = figures.get(outlet.name);
      group.members += 1;
      if (f) Object.assign(group, { total: group.total + f.total, invoices: group.invoices + f.invoices, known: group.known + 1 });
    }
    $("tv-territories").replaceChildren(
      ...[...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, group]) => {
        const row = document.createElement("tr");
        row.dataset.territory = name;
        const done = group.known === group.members;
        for (const [text, value] of [[name], [done ? money.format(group.total) : "…", group.total], [done ? count.format(group.invoices) : "…", group.invoices]]) {
          const cell = document.createElement(row.children.length ? "td" : "th");
          if (!row.children.length) cell.scope = "row";
          cell.textContent = text;
          if (value !== undefined && done) cell.dataset.value = value;
          row.append(cell);
        }
        return row;
      }),
    );
    const all = figures.size === outlets.length;
    const sum = (key) => [...figures.values()].reduce((total, f) => total + f[key], 0);
    $("tv-total").textContent = all ? money.format(sum("total")) : "…";
    $("tv-total").dataset.value = all ? sum("total") : "";
    tv.fit($("tv-total"));
    $("tv-invoices").textContent = all ? `${count.format(sum("invoices"))} invoices` : `${figures.size} of ${outlets.length} outlets in`;
    $("tv-ticker-none").hidden = !all || sum("invoices") > 0 || $("tv-ticker").children.length > 0;
  }

  function addToTicker(sale) {
    const where = (sale.grand_total < 0 ? "Return at " : "") + (byName.get(sale.outlet)?.label || sale.outlet);
    tv.addToTicker(sale, where, money.format(sale.grand_total));
    render();
  }

  const onState = (state, info) => tv.showState(state, info, asOf);

  window.LiveSales({
    outlets: outlets.map((outlet) => outlet.name),
    version: screen.dataset.version,
    onState,
    onVersion: () => {},
    onNotice: () => {},
    refresh: (outlet) => window.fetchSummary(`${screen.dataset.dataUrl}?outlet=${encodeURIComponent(outlet)}`),
    onFigures(outlet, f) {
      figures.set(outlet, { total: f.total_sales, invoices: f.invoice_count });
      asOf = new Date();
      render();
    },
    onSale: (sale, _live, counted) => counted && addToTicker(sale),
    onCancel: (cancelled) => tv.removeFromTicker(cancelled.invoice),
  });

  window.addEventListener("resize", () => {
    render();
    tv.showWholeLines();
  });

  function tick() {
    const now = new Date();
    $("tv-clock").textContent = hhmm.format(now);
    $("tv-date").textContent = dateText.format(now);
    if (dayOf.format(now) > today) window.location.reload(); // the site's midnight: a new day
  }
  setInterval(tick, 1000);
  tick();
  render();
})();
