// The overview: today's figures of every outlet, live, and sortable by any column.
(function () {
  "use strict";
  const table = document.querySelector("table.outlets");
  if (!table) return;
  const money = new Intl.NumberFormat(table.dataset.locale, { style: "currency", currency: table.dataset.currency });
  const count = new Intl.NumberFormat(table.dataset.locale);
  const rows = Array.from(table.querySelectorAll("tbody tr[data-outlet]"));
  const byOutlet = new Map(rows.map((row) => [row.dataset.outlet, row]));
  const period = table.dataset.period;

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
    // Royalty accrued: the sales shown times the outlet's percentage (only on the page of a
    // person Frappe lets read the percentage), so the two never disagree.
    const royaltyCell = row.querySelector('[data-field="royalty"]');
    if (royaltyCell && row.dataset.royaltyRate !== undefined) {
      const royalty = window.royaltyOf(figures.total_sales, row.dataset.royaltyRate);
      row.dataset.royalty = String(royalty);
      royaltyCell.textContent = money.format(royalty);
      royaltyCell.dataset.value = royalty;
      royaltyCell.title = `${row.dataset.royaltyRate} % of ${money.format(figures.total_sales)}`;
    } else if (royaltyCell) royaltyCell.textContent = "—";
    const paceCell = row.querySelector('[data-field="pace"]');
    if (paceCell) {
      const pace = window.paceText(figures.pace, figures.day);
      paceCell.textContent = pace.short;
      paceCell.title = figures.pace ? pace.long : figures.pace_hidden || "";
    }
    if (figures.pace && figures.pace.ratio !== null) row.dataset.pace = String(figures.pace.ratio);
    else delete row.dataset.pace; // sorts last
    row.dataset.paceToday = figures.pace ? figures.pace.today : "";
    row.dataset.paceBefore = figures.pace ? figures.pace.last_week_same_time : "";
    // Frappe's timestamp is already the site's clock time: shown as it is.
    row.dataset.last_sale = figures.last_sale || "";
    row.querySelector('[data-field="last_sale"]').textContent = figures.last_sale ? figures.last_sale.slice(11, 19) : "—";
    row.classList.toggle("stale", figures.stale);
    row.title = figures.stale ? "Frappe is not answering: last known figures" : "";
    showSelling(row.dataset.outlet, figures.invoice_count);
    row.removeAttribute("aria-busy");
  }

  // An outlet that needs attention (suspended, agreement ended) and still sells says so.
  function showSelling(outlet, invoices) {
    const mark = document.querySelector(`.attention li[data-outlet="${CSS.escape(outlet)}"] [data-field=selling]`);
    if (!mark) return;
    const when = period === "daily" ? "today" : "this month";
    mark.hidden = !invoices;
    mark.textContent = invoices ? `; still selling: ${count.format(invoices)} invoice${invoices === 1 ? "" : "s"} ${when}` : "";
  }

  window.LiveSales({
    outlets: Array.from(byOutlet.keys()),
    period, // this month's figures count this month's sales as they come
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

  // The sum over the outlets shown (each territory's below its rows, all of them in the foot),
  // once every one of them is in (a sum of some would read as all of them).
  function showTotals() {
    const known = rows.filter((row) => row.dataset.invoice_count !== undefined);
    document.getElementById("figures-as-of").textContent = known.length < rows.length
      ? `Loading: ${known.length} of ${rows.length} outlets in`
      : `${rows.length} outlets · as of ${window.siteClock(new Date())}`;
    for (const body of table.tBodies) {
      const subtotal = body.querySelector("tr.subtotal");
      if (subtotal) showSum(subtotal, Array.from(body.querySelectorAll("tr[data-outlet]")));
    }
    showSum(table.tFoot.rows[0], rows);
  }

  function showSum(target, members) {
    const known = members.filter((row) => row.dataset.invoice_count !== undefined);
    if (known.length < members.length) return;
    const sum = (key, of = known) => of.reduce((total, row) => total + Number(row.dataset[key] || 0), 0);
    const total = sum("total_sales");
    const invoices = sum("invoice_count");
    const royalty = sum("royalty");
    const cells = {
      total_sales: money.format(total),
      invoice_count: count.format(invoices),
      avg_order_value: invoices ? money.format(total / invoices) : "—",
      royalty: money.format(royalty),
    };
    const values = { total_sales: total, invoice_count: invoices, avg_order_value: invoices ? total / invoices : 0, royalty };
    // Like with like: the outlets that show a pace, their sales so far against theirs last
    // week by now; the others (no baseline yet) are left out, and the cell says how many count.
    const paced = known.filter((row) => row.dataset.pace !== undefined);
    const before = sum("paceBefore", paced);
    const today = sum("paceToday", paced);
    const ratio = window.paceText(before > 0 ? { ratio: today / before - 1 } : null).short;
    cells.pace = paced.length && paced.length < known.length ? `${ratio} (${paced.length} of ${known.length})` : ratio;
    const newest = known.map((row) => row.dataset.last_sale).sort().pop();
    cells.last_sale = newest ? newest.slice(11, 19) : "—";
    for (const [field, text] of Object.entries(cells)) {
      const cell = target.querySelector(`[data-total="${field}"]`);
      if (!cell) continue;
      cell.textContent = text;
      if (field in values) cell.dataset.value = values[field];
    }
    target.removeAttribute("aria-busy");
    const paceCell = target.querySelector('[data-total="pace"]');
    if (paceCell) paceCell.title = paced.length < known.length
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
      // Within its territory: each row goes back into its own group, above the subtotal.
      rows.forEach((row) => row.parentNode.insertBefore(row, row.parentNode.querySelector("tr.subtotal")));
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
