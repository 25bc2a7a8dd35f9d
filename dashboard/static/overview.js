// The overview: today's figures of every outlet, live, and sortable by any column.
(function () {
  "use strict";
  const table = document.querySelector("table.outlets");
  if (!table) return;
  const money = new Intl.NumberFormat(table.dataset.locale, { style: "currency", currency: table.dataset.currency });
  const count = new Intl.NumberFormat(table.dataset.locale);
  const rows = Array.from(table.tBodies[0].rows);
  const byOutlet = new Map(rows.map((row) => [row.dataset.outlet, row]));

  function show(row, figures) {
    const formats = { total_sales: money, invoice_count: count, avg_order_value: money };
    for (const [field, format] of Object.entries(formats)) {
      row.dataset[field] = String(figures[field]); // what the sort reads
      const cell = row.querySelector(`[data-field="${field}"]`);
      // No invoices, no average: "—", not a zero amount.
      const none = field === "avg_order_value" && !figures.invoice_count;
      cell.textContent = none ? "—" : format.format(figures[field]);
      cell.dataset.value = figures[field];
    }
    const pace = window.paceText(figures.pace, figures.day);
    const paceCell = row.querySelector('[data-field="pace"]');
    paceCell.textContent = pace.short;
    paceCell.title = figures.pace ? pace.long : figures.pace_hidden || "";
    if (figures.pace && figures.pace.ratio !== null) row.dataset.pace = String(figures.pace.ratio);
    else delete row.dataset.pace; // sorts last
    row.dataset.paceToday = figures.pace ? figures.pace.today : "";
    row.dataset.paceBefore = figures.pace ? figures.pace.last_week_same_time : "";
    // Frappe's timestamp is already the site's clock time: shown as it is.
    row.dataset.last_sale = figures.last_sale || "";
    row.querySelector('[data-field="last_sale"]').textContent = figures.last_sale ? figures.last_sale.slice(11, 19) : "—";
    row.classList.toggle("stale", figures.stale);
    row.title = figures.stale ? "Frappe is not answering: last known figures" : "";
  }

  window.LiveSales({
    outlets: Array.from(byOutlet.keys()),
    badge: document.getElementById("live-badge"),
    onNotice: (message) => (document.getElementById("live-notice").textContent = message),
    refresh: (outlet) => window.fetchSummary(byOutlet.get(outlet).dataset.summaryUrl),
    onQuiet(outlet, mark, wentQuiet) {
      const row = byOutlet.get(outlet);
      window.showQuietMark(row.querySelector('[data-field="quiet"]'), mark);
      row.classList.toggle("quiet", Boolean(mark));
      if (wentQuiet) window.quietAlert(row.dataset.label, outlet, mark);
    },
    onFigures(outlet, figures) {
      show(byOutlet.get(outlet), figures);
      showTotals();
      if (sortedBy) sortRows(); // the chosen order holds as figures change
    },
  });

  // Head office: the sum over the outlets shown, once every one of them is in (a sum of some
  // would read as all of them), and when the figures were last current.
  function showTotals() {
    const known = rows.filter((row) => row.dataset.invoice_count !== undefined);
    document.getElementById("figures-as-of").textContent = known.length < rows.length
      ? `Loading: ${known.length} of ${rows.length} outlets in`
      : `${rows.length} outlets · as of ${window.siteClock(new Date())}`;
    if (known.length < rows.length) return;
    const total = known.reduce((sum, row) => sum + Number(row.dataset.total_sales), 0);
    const invoices = known.reduce((sum, row) => sum + Number(row.dataset.invoice_count), 0);
    const cells = {
      total_sales: money.format(total),
      invoice_count: count.format(invoices),
      avg_order_value: invoices ? money.format(total / invoices) : "—",
    };
    const values = { total_sales: total, invoice_count: invoices, avg_order_value: invoices ? total / invoices : 0 };
    // Like with like: the outlets that show a pace, their sales so far against theirs last
    // week by now; the others (no baseline yet) are left out, and the cell says how many count.
    const paced = known.filter((row) => row.dataset.pace !== undefined);
    const before = paced.reduce((sum, row) => sum + Number(row.dataset.paceBefore), 0);
    const today = paced.reduce((sum, row) => sum + Number(row.dataset.paceToday), 0);
    const ratio = window.paceText(before > 0 ? { ratio: today / before - 1 } : null).short;
    cells.pace = paced.length && paced.length < known.length ? `${ratio} (${paced.length} of ${known.length})` : ratio;
    const newest = known.map((row) => row.dataset.last_sale).sort().pop();
    cells.last_sale = newest ? newest.slice(11, 19) : "—";
    for (const [field, text] of Object.entries(cells)) {
      const cell = table.tFoot.querySelector(`[data-total="${field}"]`);
      cell.textContent = text;
      if (field in values) cell.dataset.value = values[field];
    }
    table.tFoot.querySelector('[data-total="pace"]').title = paced.length < known.length
      ? `Pace of the ${paced.length} outlets with sales last week by this time to compare with` : "";
  }

  let sortedBy = null;
  let ascending = true;

  function sortRows() {
    const numeric = !["label", "city", "status", "last_sale"].includes(sortedBy);
    const value = (row) => (numeric ? Number(row.dataset[sortedBy] ?? -Infinity) : row.dataset[sortedBy] || "");
    const sorted = [...rows].sort((a, b) => {
      const [x, y] = [value(a), value(b)];
      const order = numeric ? x - y : x.localeCompare(y);
      return ascending ? order : -order;
    });
    if (sorted.some((row, i) => row !== rows[i])) {
      rows.splice(0, rows.length, ...sorted);
      rows.forEach((row) => table.tBodies[0].appendChild(row));
    }
  }

  table.tHead.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-sort]");
    if (!button) return;
    const key = button.dataset.sort;
    // Names read A to Z; figures highest first (who sold most), on the first click.
    ascending = sortedBy === key ? !ascending : ["label", "city", "status"].includes(key);
    sortedBy = key;
    sortRows();
    for (const th of table.tHead.querySelectorAll("th")) th.removeAttribute("aria-sort");
    button.closest("th").setAttribute("aria-sort", ascending ? "ascending" : "descending");
  });
})();
