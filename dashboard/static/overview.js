// The overview: fill in each outlet's figures for today, a few requests at a time, and sort.
(function () {
  "use strict";
  const table = document.querySelector("table.outlets");
  if (!table) return;
  const money = new Intl.NumberFormat(table.dataset.locale, {
    style: "currency",
    currency: table.dataset.currency,
  });
  const count = new Intl.NumberFormat(table.dataset.locale);
  const rows = Array.from(table.tBodies[0].rows);
  const PARALLEL = 4;

  function show(row, summary) {
    const cells = {
      total_sales: money.format(summary.total_sales),
      invoice_count: count.format(summary.invoice_count),
      avg_order_value: money.format(summary.avg_order_value),
    };
    for (const [field, text] of Object.entries(cells)) {
      const cell = row.querySelector(`[data-field="${field}"]`);
      cell.textContent = text;
      row.dataset[field] = String(summary[field]);
    }
    row.classList.toggle("stale", summary.stale);
    if (summary.stale) row.title = "Frappe is not answering: last known figures";
  }

  function fail(row, text) {
    for (const cell of row.querySelectorAll("[data-field]")) {
      cell.textContent = "—";
      cell.title = text;
    }
  }

  async function load(row) {
    try {
      const response = await fetch(row.dataset.summaryUrl, { headers: { Accept: "application/json" } });
      if (response.status === 401) {
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
        return;
      }
      const body = await response.json();
      if (response.ok) show(row, body);
      else fail(row, body.message || body.error || "Could not load the figures");
    } catch (error) {
      fail(row, "Could not reach the dashboard");
    }
  }

  async function worker(queue) {
    while (queue.length) await load(queue.shift());
  }
  const queue = rows.slice();
  for (let i = 0; i < PARALLEL; i++) worker(queue);

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
