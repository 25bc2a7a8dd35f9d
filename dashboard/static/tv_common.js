// What every TV screen shares: its number and clock formats in the site's time zone, and how it
// shows its connection (the footer says which state; offline greys the figures, and a banner
// says since when and as of when).
window.TvScreen = function TvScreen(screen) {
  "use strict";
  const zone = document.body.dataset.timeZone;
  const locale = document.body.dataset.locale;
  const hhmm = new Intl.DateTimeFormat(locale, { timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false });
  const labels = { live: "Live", paused: "Live feed paused", reconnecting: "Reconnecting…", offline: "Offline", connecting: "Connecting…" };
  const TICKER_SIZE = 8;
  const ticker = document.getElementById("tv-ticker");

  // As many of the latest sales as the screen has room for, each line whole.
  function showWholeLines() {
    for (const row of ticker.children) row.hidden = false;
    const bottom = ticker.getBoundingClientRect().bottom;
    for (const row of ticker.children) row.hidden = row.getBoundingClientRect().bottom > bottom + 1;
  }

  return {
    money: new Intl.NumberFormat(locale, { style: "currency", currency: screen.dataset.currency, maximumFractionDigits: 0 }),
    count: new Intl.NumberFormat(locale),
    dayOf: new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }),
    dateText: new Intl.DateTimeFormat(locale, { timeZone: zone, weekday: "long", day: "numeric", month: "long" }),
    hhmm,
    showWholeLines,
    // A number as large as its style allows, smaller when it would not fit its box whole (a
    // large total on a narrow or upright screen): never cut.
    fit(element) {
      element.style.fontSize = "";
      let size = parseFloat(getComputedStyle(element).fontSize);
      while (element.scrollWidth > element.clientWidth + 1 && size > 10) {
        size *= 0.92;
        element.style.fontSize = `${size}px`;
      }
    },
    // A sale at the top of the latest sales: its time, `what` and, unless null, `amount`.
    addToTicker(sale, what, amount) {
      const row = document.createElement("li");
      row.dataset.invoice = sale.invoice;
      const when = document.createElement("time");
      when.textContent = sale.timestamp ? sale.timestamp.slice(11, 16) : hhmm.format(new Date());
      const text = document.createElement("span");
      text.className = "what";
      text.textContent = what;
      row.append(when, text);
      if (amount !== null) {
        const strong = document.createElement("strong");
        strong.textContent = amount;
        row.append(strong);
      }
      // Newest first by the sale's own time: a head-office TV replays outlet after outlet.
      row.dataset.timestamp = sale.timestamp || "";
      const older = sale.timestamp
        ? [...ticker.children].find((line) => line.dataset.timestamp < sale.timestamp)
        : ticker.firstElementChild; // no time of its own: it came just now
      ticker.insertBefore(row, older || null);
      while (ticker.children.length > TICKER_SIZE) ticker.lastElementChild.remove();
      showWholeLines();
    },
    // A cancelled sale leaves the latest sales; a line held back for room may show again.
    removeFromTicker(invoice) {
      for (const row of ticker.querySelectorAll("li")) if (row.dataset.invoice === invoice) row.remove();
      showWholeLines();
    },
    showState(state, info, asOf) {
      const footer = document.getElementById("tv-state");
      const banner = document.getElementById("tv-banner");
      footer.textContent = labels[state] || state;
      footer.dataset.state = state;
      const offline = state === "offline";
      screen.classList.toggle("dimmed", offline);
      banner.hidden = !offline;
      if (offline) {
        const since = hhmm.format(new Date(info.disconnectedAt));
        banner.textContent = `Offline since ${since} — figures as of ${asOf ? hhmm.format(asOf) : "—"}`;
      }
    },
  };
};
