// The outlet page: figures, top items and a sales feed that update live.
(function () {
  "use strict";
  const page = document.querySelector("[data-live-outlet]");
  if (!page) return;
  const outlet = page.dataset.liveOutlet;
  const period = page.dataset.period;
  const money = new Intl.NumberFormat(page.dataset.locale, { style: "currency", currency: page.dataset.currency });
  const count = new Intl.NumberFormat(page.dataset.locale);
  const FEED_SIZE = 12; // shown whole: the page scrolls, not a box that cuts the last one
  const LINES_SHOWN = 6; // lines of one sale listed; a larger basket says how many more

  const TOP_SIZE = 10; // as many as Frappe sends

  // Top items as a table whose rows carry a bar of their amount: full names, the page's own
  // money format, readable at a phone's width (a chart library cut the names and printed the
  // axis without the currency).
  function showTopItems(items) {
    items = items.slice(0, TOP_SIZE);
    document.getElementById("top-items").hidden = items.length === 0;
    document.querySelector('[data-testid="zero-state"]').hidden = items.length > 0;
    const most = Math.max(...items.map((item) => item.total_amount), 0);
    document.getElementById("top-items-rows").replaceChildren(
      ...items.map((item) => {
        const row = document.createElement("tr");
        const name = document.createElement("td");
        const bar = document.createElement("span");
        bar.className = "bar";
        bar.setAttribute("aria-hidden", "true");
        bar.style.width = `${most > 0 ? (100 * item.total_amount) / most : 0}%`;
        name.append(item.item_name, bar);
        row.append(name);
        for (const value of [count.format(item.total_qty), money.format(item.total_amount)]) {
          const cell = document.createElement("td");
          cell.className = "num";
          cell.textContent = value;
          row.append(cell);
        }
        return row;
      }),
    );
  }

  // Today's cumulative sales by hour against the same weekday last week, as an SVG drawn at the
  // element's own width (labels stay sharp and whole); every label is set as text.
  const SVG = "http://www.w3.org/2000/svg";
  const compact = new Intl.NumberFormat(page.dataset.locale, {
    style: "currency", currency: page.dataset.currency, notation: "compact", maximumFractionDigits: 1,
  });

  function svgNode(name, attributes, textValue) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (textValue !== undefined) node.textContent = textValue;
    return node;
  }

  function drawPaceChart(hourly) {
    const svg = document.getElementById("pace-chart");
    if (!svg || !hourly) return;
    const [width, height, pad, foot] = [Math.max(280, svg.clientWidth), 220, 8, 22];
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const most = Math.max(1, ...hourly.map((p) => Math.max(p.today ?? 0, p.last_week)));
    const x = (hour) => pad + ((width - 2 * pad) * hour) / 24;
    const y = (value) => pad + 14 + (height - pad - 14 - foot) * (1 - value / most);
    const path = (key) =>
      hourly.filter((p) => p[key] !== null).reduce((d, p) => `${d} L${x(p.hour + 1)},${y(p[key])}`, `M${x(0)},${y(0)}`);
    const nodes = [];
    const empty = hourly.every((p) => !p.today && !p.last_week);
    for (const value of empty ? [0] : [0, most / 2, most]) {
      nodes.push(svgNode("line", { x1: x(0), x2: x(24), y1: y(value), y2: y(value), class: "grid" }));
      nodes.push(svgNode("text", { x: x(0), y: y(value) - 3, class: "axis" }, compact.format(value)));
    }
    for (const hour of [0, 6, 12, 18]) {
      nodes.push(svgNode("text", { x: x(hour), y: height - 6, class: "axis" }, `${String(hour).padStart(2, "0")}:00`));
    }
    nodes.push(svgNode("path", { d: path("last_week"), class: "curve-last" }));
    nodes.push(svgNode("path", { d: path("today"), class: "curve-today" }));
    svg.replaceChildren(...nodes);
    const known = hourly.filter((p) => p.today !== null);
    svg.dataset.hours = hourly.length; // for tests and the curious: where the curve ends
    svg.dataset.todayNow = known.length ? known[known.length - 1].today : 0;
  }

  function showPace(figures) {
    const element = document.querySelector('[data-figure="pace"]');
    if (!element) return;
    const detail = document.getElementById("pace-detail");
    if (!figures.pace) {
      element.textContent = "—";
      detail.textContent = figures.pace_hidden || "";
      return;
    }
    const pace = window.paceText(figures.pace, figures.day);
    element.textContent = pace.short;
    element.dataset.value = figures.pace.ratio ?? "";
    const { last_week_same_time: byNow, last_week_day: allDay } = figures.pace;
    const lastWeek = `last ${pace.weekday}: ${money.format(byNow)} by now, ${money.format(allDay)} all day`;
    // "+12 %" is the figure; the note says against what, once (or why there is none).
    const compared = figures.pace.ratio !== null && figures.pace.ratio !== undefined;
    detail.textContent = compared ? `against ${lastWeek}` : `${pace.long} · ${lastWeek}`;
    const label = document.getElementById("pace-last-label");
    if (label) label.textContent = `Last ${pace.weekday}`;
    const summary = document.getElementById("pace-summary");
    if (summary) summary.textContent = `Today ${money.format(figures.pace.today)} so far; ${lastWeek}.`;
    drawPaceChart(figures.hourly);
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
    const royalty = document.querySelector('[data-figure="royalty"]');
    // The sales above times the outlet's percentage: the two always agree.
    if (royalty) showFigure("royalty", window.royaltyOf(figures.total_sales, royalty.dataset.rate), money);
    const now = window.siteClock(new Date()); // live: the figures hold every sale until now
    document.querySelectorAll(".as-of").forEach((element) => (element.textContent = `as of ${now}`));
    showTopItems(figures.top_items);
    showPace(figures);
  }

  const feed = document.getElementById("live-feed");
  const empty = document.getElementById("live-feed-empty");

  // What a sale is besides a sale: a return, or dated before the figures' period (a backdated
  // invoice, which the figures above do not count).
  const shortDay = new Intl.DateTimeFormat(page.dataset.locale, { day: "numeric", month: "short", timeZone: "UTC" });

  function tagOf(sale, counted) {
    if (!counted) return `${shortDay.format(new Date(`${sale.timestamp.slice(0, 10)}T12:00:00Z`))} · not counted`;
    return sale.grand_total < 0 ? "Return" : null;
  }

  function tag(row, text, kind) {
    const label = document.createElement("span");
    label.className = `tag tag-${kind}`;
    label.textContent = text;
    row.querySelector(".sale-head").append(label);
  }

  function addSale(sale, _live, counted = true) {
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
    for (const item of sale.items.slice(0, LINES_SHOWN)) {
      const line = document.createElement("li");
      line.textContent = `${count.format(item.qty)} × ${item.item} — ${money.format(item.amount)}`;
      items.append(line);
    }
    // A large basket: its first lines, then how many more (some may not have come with the
    // sale at all: a sale message carries at most 4 KiB of items).
    const unlisted = Math.max(0, sale.items.length - LINES_SHOWN) + (sale.items_omitted || 0);
    if (unlisted) {
      const more = document.createElement("li");
      more.textContent = `and ${count.format(unlisted)} more items`;
      items.append(more);
    }
    row.append(head, items);
    const kind = tagOf(sale, counted);
    if (kind) tag(row, kind, counted ? "return" : "dated");
    if (!counted || sale.grand_total < 0) row.dataset.kind = counted ? "return" : "dated";
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
    // Cancelled in Frappe: the figures no longer count it, and its line says so.
    onCancel(cancelled) {
      for (const row of feed.querySelectorAll("li.sale")) {
        if (row.dataset.invoice !== cancelled.invoice || row.dataset.kind === "cancelled") continue;
        row.dataset.kind = "cancelled";
        row.classList.add("cancelled");
        tag(row, "Cancelled", "cancelled");
      }
    },
    onQuiet(_outlet, mark, wentQuiet) {
      window.showQuietMark(document.getElementById("quiet-notice"), mark);
      const label = document.querySelector('[data-testid="outlet-name"]').textContent;
      if (wentQuiet) window.quietAlert(label, outlet, mark);
    },
  });
})();
