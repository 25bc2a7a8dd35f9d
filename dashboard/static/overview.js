// The overview: today's figures of every outlet, live, and sortable by any column.
(function () {
  "use strict";
  const table = document.querySelector("table.outlets");
  if (!table) return;
  const money = new Intl.NumberFormat(table.dataset.locale, { style: "currency", currency: table.dataset.currency });
  const count = new Intl.NumberFormat(table.dataset.locale);
  const rows = Array.from(table.tBodies[0].rows);
  const byOutlet = new Map(rows.map((row) => [row.dataset.outlet, row]));

  function show(row) {
    const total = Number(row.dataset.total_sales);
    const invoices = Number(row.dataset.invoice_count);
    row.dataset.avg_order_value = String(invoices ? total / invoices : 0);
    const cells = {
      total_sales: money.format(total),
      invoice_count: count.format(invoices),
      avg_order_value: money.format(Number(row.dataset.avg_order_value)),
    };
    for (const [field, value] of Object.entries(cells)) {
      row.querySelector(`[data-field="${field}"]`).textContent = value;
    }
  }

  window.LiveSales({
    outlets: Array.from(byOutlet.keys()),
    badge: document.getElementById("live-badge"),
    onNotice: (message) => (document.getElementById("live-notice").textContent = message),
    refresh: (outlet) => window.fetchSummary(byOutlet.get(outlet).dataset.summaryUrl),
    onSnapshot(outlet, summary) {
      const row = byOutlet.get(outlet);
      row.dataset.total_sales = String(summary.total_sales);
      row.dataset.invoice_count = String(summary.invoice_count);
      row.classList.toggle("stale", summary.stale);
      row.title = summary.stale ? "Frappe is not answering: last known figures" : "";
      show(row);
    },
    onEvent(event, how) {
      const row = byOutlet.get(event.outlet);
      if (!row || how === "shown" || row.dataset.total_sales === undefined) return;
      if (event.event === "live_pos_sale") {
        row.dataset.invoice_count = String(Number(row.dataset.invoice_count) + 1);
      } else if (event.daily_total !== null) {
        row.dataset.total_sales = String(event.daily_total);
      }
      show(row);
    },
  });

  let sortedBy = null;
  let ascending = true;
  table.tHead.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-sort]");
    if (!button) return;
    const key = button.dataset.sort;
    ascending = sortedBy === key ? !ascending : true;
    sortedBy = key;
    const numeric = !["label", "city", "status"].includes(key);
    const value = (row) => (numeric ? Number(row.dataset[key] ?? -Infinity) : row.dataset[key] || "");
    rows.sort((a, b) => {
      const [x, y] = [value(a), value(b)];
      const order = numeric ? x - y : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach((row) => table.tBodies[0].appendChild(row));
    for (const th of table.tHead.querySelectorAll("th")) th.removeAttribute("aria-sort");
    button.closest("th").setAttribute("aria-sort", ascending ? "ascending" : "descending");
  });
})();
