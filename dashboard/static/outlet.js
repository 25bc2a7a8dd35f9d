// The outlet page: a chart of the top items, and figures and a sales feed that update live.
(function () {
  "use strict";
  const page = document.querySelector("[data-live-outlet]");
  if (!page) return;
  const outlet = page.dataset.liveOutlet;
  const period = page.dataset.period;
  const money = new Intl.NumberFormat(page.dataset.locale, { style: "currency", currency: page.dataset.currency });
  const count = new Intl.NumberFormat(page.dataset.locale);
  const FEED_SIZE = 50;

  const TOP_SIZE = 10; // as many as Frappe sends
  const holder = document.getElementById("top-items-chart");
  let chart = null;

  // frappe-charts writes its tooltip as HTML: item names (anyone who may edit Items in Frappe
  // types them) and amounts go in escaped, so they stay text there too.
  const asText = (value) => String(value).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

  function chartData(items) {
    return {
      labels: items.map((item) => item.item_name),
      datasets: [{ name: "Amount", values: items.map((item) => item.total_amount) }],
    };
  }

  function showTopItems(items) {
    items = items.slice(0, TOP_SIZE);
    document.getElementById("top-items").hidden = items.length === 0;
    document.querySelector('[data-testid="zero-state"]').hidden = items.length > 0;
    document.getElementById("top-items-rows").replaceChildren(
      ...items.map((item) => {
        const row = document.createElement("tr");
        const cells = [item.item_name, count.format(item.total_qty), money.format(item.total_amount)];
        cells.forEach((value, i) => {
          const cell = document.createElement("td");
          if (i) cell.className = "num";
          cell.textContent = value;
          row.append(cell);
        });
        return row;
      }),
    );
    if (typeof frappe === "undefined" || items.length === 0) return;
    if (chart) chart.update(chartData(items));
    else {
      chart = new frappe.Chart(holder, {
        type: "bar",
        height: 260,
        colors: ["#2490ef"],
        data: chartData(items),
        axisOptions: { xAxisMode: "tick", xIsSeries: false },
        barOptions: { spaceRatio: 0.4 },
        tooltipOptions: { formatTooltipX: asText, formatTooltipY: (value) => asText(money.format(value)) },
        animate: false, // draw at once: the figures are already final
      });
    }
  }

  function text(selector, value) {
    const element = document.querySelector(selector);
    if (element) element.textContent = value;
  }

  function showFigure(name, value, format, shown = true) {
    const element = document.querySelector(`[data-figure="${name}"]`);
    element.textContent = shown ? format.format(value) : "—";
    element.dataset.value = value;
  }

  function showFigures(figures) {
    showFigure("total_sales", figures.total_sales, money);
    showFigure("invoice_count", figures.invoice_count, count);
    showFigure("avg_order_value", figures.avg_order_value, money, figures.invoice_count > 0);
    const now = window.siteClock(new Date()); // live: the figures hold every sale until now
    document.querySelectorAll(".as-of").forEach((element) => (element.textContent = `as of ${now}`));
    showTopItems(figures.top_items);
  }

  const feed = document.getElementById("live-feed");
  const empty = document.getElementById("live-feed-empty");

  function addSale(sale) {
    const row = document.createElement("li");
    row.className = "sale";
    row.dataset.invoice = sale.invoice;
    const head = document.createElement("div");
    head.className = "sale-head";
    const amount = document.createElement("strong");
    amount.textContent = money.format(sale.grand_total);
    const when = document.createElement("time");
    when.textContent = sale.timestamp ? sale.timestamp.slice(11, 19) : "";
    const invoice = document.createElement("span");
    invoice.className = "invoice";
    invoice.textContent = sale.invoice;
    head.append(amount, invoice, when);
    const items = document.createElement("ul");
    items.className = "sale-items";
    for (const item of sale.items) {
      const line = document.createElement("li");
      line.textContent = `${count.format(item.qty)} × ${item.item} — ${money.format(item.amount)}`;
      items.append(line);
    }
    row.append(head, items);
    feed.prepend(row);
    while (feed.children.length > FEED_SIZE) feed.lastElementChild.remove();
    empty.hidden = true;
  }

  window.LiveSales({
    outlets: [outlet],
    period,
    initial: { [outlet]: JSON.parse(document.getElementById("figures-data").textContent) },
    badge: document.getElementById("live-badge"),
    onNotice: (message) => text("#live-notice", message),
    refresh: () => window.fetchSummary(page.dataset.summaryUrl),
    onFigures: (_outlet, figures) => showFigures(figures),
    onSale: addSale,
  });
})();
