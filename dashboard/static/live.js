// Live sales for the outlets on a page: subscribe, replay what was missed, show the state.
// Used by the outlet page and the overview. Text from events is only ever set as text.
(function () {
  "use strict";
  const OFFLINE_AFTER_MS = 10000;
  const STATUS_EVERY_MS = 5000;
  const REFRESH_EVERY_MS = 30000; // figures from Frappe while the live feed is not live
  const RETRY_REFUSED_MS = 5000;
  const RECENT_MOST = 1000; // events kept per outlet, to recount on top of older figures
  const MIN_BASELINE_SHARE = 0.1; // pace.py's: pace shows once last week had sold this share

  function compareIds(a, b) {
    const [am, as] = a.split("-").map(BigInt);
    const [bm, bs] = b.split("-").map(BigInt);
    return am === bm ? (as > bs) - (as < bs) : (am > bm) - (am < bm);
  }

  // Clock times in the site's time zone, as the server renders them.
  function clock(date) {
    return date.toLocaleTimeString(document.body.dataset.locale, {
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
      timeZone: document.body.dataset.timeZone,
    });
  }
  window.siteClock = clock;

  // Seconds since the site's midnight, now.
  function siteSeconds() {
    const parts = new Intl.DateTimeFormat("en-GB", {
      hour: "numeric", minute: "numeric", second: "numeric", hour12: false,
      timeZone: document.body.dataset.timeZone,
    }).formatToParts(new Date());
    const part = (type) => Number(parts.find((p) => p.type === type).value) % (type === "hour" ? 24 : 60);
    return part("hour") * 3600 + part("minute") * 60 + part("second");
  }

  let leaving = false; // this tab is already navigating away (e.g. it is the one logging out)
  window.addEventListener("beforeunload", () => (leaving = true));

  // The server no longer knows this browser (logged out, expired, unpaired, sessions lost):
  // a TV goes back to its pairing code, a manager to the login page.
  function signedOut(reason) {
    if (leaving) return;
    if (window.location.pathname.startsWith("/tv")) {
      window.location.assign("/tv?reason=unpaired");
      return;
    }
    const next = window.location.pathname + window.location.search;
    window.location.assign(`/login?reason=${reason}&next=${encodeURIComponent(next)}`);
  }

  // options: outlets (names), period ("daily" unless said), initial ({outlet: summary} drawn
  // before the socket answers), onFigures(outlet, figures), onSale(sale, live, counted: it is
  // of the figures' period, not backdated before it), onCancel(cancelled, live),
  // refresh(outlet) -> Promise of a summary, badge (element), onNotice(text), onState, onVersion,
  // onQuiet(outlet, mark or null, wentQuiet: it went quiet just now, live).
  //
  // The figures on every screen are kept here, once: Frappe's figures as of a feed id, plus the
  // sales seen after that id. Frappe's `daily_sales_update` is not used for them: a real Frappe
  // publishes totals that miss the sales being committed beside them. A snapshot read during a
  // rush may miss such a sale too, so it may raise the figures but never lower them; only the
  // bridge's `figures` (Frappe's, re-read once the outlet has been quiet) may, being the record.
  // A sale counts only in the period it is dated in (a backdated invoice is not today's); a
  // return counts as Frappe counts it (a negative invoice); a cancelled sale leaves again.
  window.LiveSales = function LiveSales(options) {
    const period = options.period || "daily";
    const lastId = new Map();
    const recent = new Map(); // outlet -> the events seen lately, oldest first
    const figures = new Map(); // outlet -> {day, baseId, total, invoices, top, stale, asOf}
    const lastSale = new Map(); // outlet -> the newest sale's timestamp (Frappe's, site time)
    const quiet = new Map(); // outlet -> the bridge's quiet mark, while it stands
    const badge = options.badge;
    let lastEventAt = null;
    let bridgeAlive = true;
    let disconnectedAt = null;
    let lastAsked = 0; // when a failing connection last asked whether we are still signed in

    const socket = io({
      auth: { version: options.version || null },
      transports: ["websocket", "polling"],
      reconnectionDelay: 1000,
      reconnectionDelayMax: 10000,
      randomizationFactor: 0.5,
    });

    function setBadge(state, text) {
      if (options.onState) options.onState(state, { lastEventAt, disconnectedAt });
      if (!badge) return;
      badge.dataset.state = state;
      badge.textContent = text;
    }

    function showState() {
      const last = lastEventAt ? ` · last sale ${clock(lastEventAt)}` : "";
      if (socket.connected && bridgeAlive) setBadge("live", `Live${last}`);
      else if (socket.connected) setBadge("paused", `Paused: no live feed from Frappe${last}`);
      else if (disconnectedAt && Date.now() - disconnectedAt > OFFLINE_AFTER_MS)
        setBadge("offline", `Offline since ${clock(new Date(disconnectedAt))}${last}`);
      else setBadge("reconnecting", `Reconnecting…${last}`);
    }

    function draw(outlet) {
      const f = figures.get(outlet);
      if (!f || !options.onFigures) return;
      options.onFigures(outlet, {
        total_sales: f.total,
        invoice_count: f.invoices,
        avg_order_value: f.total !== null && f.invoices ? f.total / f.invoices : 0,
        top_items: f.top,
        stale: f.stale,
        day: f.day,
        as_of: f.asOf,
        last_sale: todays(f, lastSale.get(outlet)),
        ...paceOf(f),
      });
    }

    // Pace against the same weekday last week, as of now: last week's sales up to this time of
    // day (the baseline moves with the clock) against today's total, and the hourly curves.
    function paceOf(f) {
      if (!f.pace) return { pace: null, pace_hidden: f.paceHidden, hourly: null };
      const now = siteSeconds();
      if (!f.pace.last_week_sales) return { pace: { ratio: f.pace.ratio, early: f.pace.early }, hourly: null }; // no money
      const before = f.pace.last_week_sales.reduce((sum, [s, amount]) => sum + (s <= now ? amount : 0), 0);
      // As the server: no pace before last week had sold a tenth of its day by now (pace.py).
      const early = before > 0 && before < MIN_BASELINE_SHARE * f.pace.last_week_day;
      const hour = Math.floor(now / 3600);
      let today = 0;
      const hourly = f.lastWeekByHour.map((lastWeek, h) => {
        today += f.todayByHour[h];
        return { hour: h, today: h <= hour ? today : null, last_week: lastWeek };
      });
      return {
        pace: { ratio: before > 0 && !early ? f.total / before - 1 : null, early, today: f.total, last_week_same_time: before,
                last_week_day: f.pace.last_week_day },
        hourly,
      };
    }

    // A sale's time, if it was today's (the feed keeps yesterday's sales until they are trimmed).
    function todays(f, timestamp) {
      return timestamp && (!f.day || timestamp.startsWith(f.day)) ? timestamp : null;
    }

    // Whether a sale belongs to the figures' period: by its own date (site time).
    function counts(f, sale) {
      const date = sale.timestamp ? sale.timestamp.slice(0, 10) : null;
      if (!date || !f.day) return true; // no date to go by: as Frappe would, it is today's
      return date >= (f.from || f.day) && date <= f.day;
    }

    // A sale counted on top of the figures (sign -1: a cancelled one taken off again): the
    // total, the count, its items and its hour.
    function addSale(f, sale, sign = 1) {
      if (!counts(f, sale)) return;
      f.invoices += sign;
      if (f.total !== null) f.total += sign * (sale.grand_total || 0);
      if (f.todayByHour) f.todayByHour[hourOf(sale)] += sign * (sale.grand_total || 0);
      for (const line of sale.items || []) {
        const row = f.top.find((item) => item.item_name === line.item || item.item_code === line.item);
        if (row) {
          row.total_qty += sign * line.qty;
          if (row.total_amount !== undefined) row.total_amount += sign * (line.amount || 0);
        } else if (sign > 0) f.top.push({ item_code: line.item, item_name: line.item, total_qty: line.qty, total_amount: line.amount });
      }
      // An item only the cancelled sale had is no longer among Frappe's.
      if (sign < 0) f.top = f.top.filter((item) => item.total_qty > 0 || !(sale.items || []).some((l) => l.item === item.item_name || l.item === item.item_code));
      // Frappe ranks top items by quantity (the seed's ORDER BY total_qty DESC).
      f.top.sort((a, b) => b.total_qty - a.total_qty || (b.total_amount ?? 0) - (a.total_amount ?? 0));
    }

    // An event of the feed on top of the figures: a sale adds, a cancellation takes off.
    function apply(f, event) {
      if (event.event === "live_pos_sale") addSale(f, event);
      else if (event.event === "pos_invoice_cancelled") addSale(f, event, -1);
    }

    function fromSummary(outlet, summary) {
      const f = {
        day: summary.day || null,
        from: summary.covers ? summary.covers.from : null,
        baseId: summary.feed_id || "0-0",
        total: summary.total_sales ?? null, // customer-facing screens get no amounts
        invoices: summary.invoice_count,
        top: (summary.top_items || []).map((item) => ({ ...item })),
        stale: Boolean(summary.stale),
        asOf: summary.as_of || null,
        ...paceBase(outlet, summary, figures.get(outlet)),
      };
      for (const event of recent.get(outlet) || []) {
        if (compareIds(event.id, f.baseId) > 0) apply(f, event);
      }
      return f;
    }

    // Pace as a snapshot gives it; figures without it (the bridge's) keep the one we have.
    function paceBase(outlet, summary, current) {
      if (!("pace" in summary) && current) {
        const keep = { pace: current.pace, paceHidden: current.paceHidden, lastWeekByHour: current.lastWeekByHour };
        return { ...keep, todayByHour: current.todayByHour && rebase(outlet, current, summary) };
      }
      const hourly = summary.hourly || null;
      const cumulative = (key) => (hourly ? hourly.map((point) => point[key] || 0) : null);
      const increments = (values) => values && values.map((value, h) => (h ? Math.max(0, value - values[h - 1]) : value));
      const today = cumulative("today");
      if (today) for (let h = 1; h < 24; h++) if (hourly[h].today === null) today[h] = today[h - 1];
      return {
        pace: summary.pace || null,
        paceHidden: summary.pace_hidden || null,
        lastWeekByHour: cumulative("last_week"),
        todayByHour: increments(today),
      };
    }

    function hourOf(sale) {
      const hour = sale.timestamp ? Number(sale.timestamp.slice(11, 13)) : NaN;
      return hour >= 0 && hour < 24 ? hour : Math.floor(siteSeconds() / 3600);
    }

    // Figures without hours (the bridge's record, as of its feed id): the hours keep what they
    // held up to that id, and what the record adds or mends goes to the current hour.
    function rebase(outlet, current, summary) {
      const byHour = current.todayByHour.slice();
      for (const event of recent.get(outlet) || []) {
        if (compareIds(event.id, summary.feed_id || "0-0") <= 0 || !counts(current, event)) continue;
        if (event.event === "live_pos_sale") byHour[hourOf(event)] -= event.grand_total || 0;
        if (event.event === "pos_invoice_cancelled") byHour[hourOf(event)] += event.grand_total || 0;
      }
      const held = byHour.reduce((sum, value) => sum + value, 0);
      const hour = Math.floor(siteSeconds() / 3600);
      byHour[hour] += (summary.total_sales ?? held) - held;
      return byHour.map((value) => Math.max(0, value));
    }

    // An outlet's quiet mark: {since, usual_gap_s}, or null once a sale came.
    function showQuiet(outlet, mark, live) {
      if (!options.outlets.includes(outlet) || !options.onQuiet) return;
      const valid = mark && typeof mark.since === "string" && Number.isFinite(mark.usual_gap_s);
      const wentQuiet = live && valid && !quiet.has(outlet);
      if (valid) quiet.set(outlet, mark);
      else quiet.delete(outlet);
      options.onQuiet(outlet, valid ? mark : null, wentQuiet);
    }

    // New figures for an outlet (see above for when they may lower what is shown).
    function applySnapshot(outlet, summary, final) {
      if (!summary || (summary.period && summary.period !== period)) return;
      if ("quiet" in summary) showQuiet(outlet, summary.quiet, false);
      const current = figures.get(outlet);
      if (current && current.day && summary.day && summary.day < current.day) return; // yesterday's
      const next = fromSummary(outlet, summary);
      const lower =
        next.invoices < current?.invoices || (next.total ?? 0) < (current?.total ?? 0) - 0.005;
      if (!final && current && current.day === next.day && lower) {
        current.stale = next.stale;
        return;
      }
      figures.set(outlet, next);
      draw(outlet);
    }

    function accept(event, live) {
      const last = lastId.get(event.outlet);
      if (last && compareIds(event.id, last) <= 0) return; // seen already
      lastId.set(event.outlet, event.id);
      const seen = recent.get(event.outlet) || [];
      seen.push(event);
      if (seen.length > RECENT_MOST) seen.shift();
      recent.set(event.outlet, seen);
      if (event.event !== "live_pos_sale" && event.event !== "pos_invoice_cancelled") return;
      const f = figures.get(event.outlet);
      if (f && compareIds(event.id, f.baseId) > 0) apply(f, event);
      const counted = !f || counts(f, event);
      if (event.event === "live_pos_sale" && event.timestamp && counted) lastSale.set(event.outlet, event.timestamp);
      draw(event.outlet);
      if (event.event === "pos_invoice_cancelled") {
        if (options.onCancel) options.onCancel(event, live);
        return;
      }
      if (live && counted) lastEventAt = new Date();
      if (options.onSale) options.onSale(event, live, counted);
    }

    function subscribe(outlet) {
      socket.emit("subscribe", { outlet, after: lastId.get(outlet) || null, period }, (ack) => {
        if (!ack || !ack.ok) {
          const why = { forbidden: "You no longer have access to", not_found: "There is no outlet" };
          if (ack && why[ack.error]) options.onNotice(`${why[ack.error]} ${outlet}.`);
          // Frappe did not answer in time and nothing was cached: ask again shortly.
          if (ack && ack.error === "unavailable") setTimeout(() => socket.connected && subscribe(outlet), RETRY_REFUSED_MS);
          return;
        }
        if (ack.snapshot) applySnapshot(outlet, ack.snapshot, false);
        else if (!figures.has(outlet)) fetchUntilAnswered(outlet); // Frappe did not answer in time
        for (const event of ack.events) accept(event, false);
        if (ack.last_id) lastId.set(outlet, ack.last_id);
        bridgeAlive = ack.bridge.alive;
        showState();
      });
    }

    // Figures Frappe could not give yet: asked again every few seconds until they come.
    function fetchUntilAnswered(outlet) {
      setTimeout(async () => {
        if (figures.has(outlet)) return;
        const summary = await options.refresh(outlet);
        if (summary) applySnapshot(outlet, summary, false);
        else fetchUntilAnswered(outlet);
      }, RETRY_REFUSED_MS);
    }

    for (const [outlet, summary] of Object.entries(options.initial || {})) applySnapshot(outlet, summary, true);

    socket.on("connect", () => {
      disconnectedAt = null;
      options.outlets.forEach(subscribe);
      showState();
    });
    socket.on("disconnect", () => {
      disconnectedAt = disconnectedAt || Date.now();
      showState();
    });
    socket.on("connect_error", (error) => {
      disconnectedAt = disconnectedAt || Date.now();
      showState();
      if (error && error.message === "login_required") signedOut("session_expired");
      // Refused for now (our Redis is away): socket.io does not retry a refusal by itself.
      else if (!socket.active) setTimeout(() => socket.connect(), RETRY_REFUSED_MS);
      // A handshake without a live session is refused before Socket.IO hears it (401): ask the
      // page's JSON, which sends a signed-out browser to the login (or pairing) page.
      else if (Date.now() - lastAsked > RETRY_REFUSED_MS) {
        lastAsked = Date.now();
        options.refresh(options.outlets[0]);
      }
    });
    socket.on("live_pos_sale", (event) => {
      accept(event, true);
      showState(); // the badge names the newest sale
    });
    socket.on("daily_sales_update", (event) => accept(event, true));
    socket.on("pos_invoice_cancelled", (event) => accept(event, true));
    socket.on("figures", (summary) => summary && applySnapshot(summary.outlet, summary, true));
    socket.on("resync", (message) => subscribe(message.outlet));
    socket.on("quiet", (message) => message && showQuiet(message.outlet, message.quiet, true));
    socket.on("forbidden", (message) => options.onNotice(`You no longer have access to ${message.outlet}.`));
    socket.on("display_revoked", () => signedOut("unpaired"));
    socket.on("session_expired", (message) => {
      signedOut(message && message.reason === "logged_out" ? "logged_out" : "session_expired");
    });

    setInterval(() => {
      if (socket.connected) {
        socket.emit("status", null, (answer) => {
          const wasAlive = bridgeAlive;
          bridgeAlive = Boolean(answer && answer.bridge && answer.bridge.alive);
          // The feed is back (the bridge restarted, or our Redis did): catch up from the last
          // id, in case its resync went out before this server was listening again.
          if (!wasAlive && bridgeAlive) options.outlets.forEach(subscribe);
          if (answer && answer.version && options.onVersion) options.onVersion(answer.version);
          showState();
        });
      } else showState();
    }, STATUS_EVERY_MS);

    setInterval(() => figures.forEach((_, outlet) => draw(outlet)), 60000); // pace moves with the clock

    setInterval(() => {
      if (socket.connected && bridgeAlive) return;
      for (const outlet of options.outlets) {
        options.refresh(outlet).then((summary) => applySnapshot(outlet, summary, false));
      }
    }, REFRESH_EVERY_MS);

    return {
      socket,
      // Midnight at the site: the new day starts from zero; sales after now count in it.
      startDay(outlet, day) {
        const f = fromSummary(outlet, { day, feed_id: lastId.get(outlet), total_sales: 0, invoice_count: 0, pace: null });
        if (figures.get(outlet)?.total === null) f.total = null;
        figures.set(outlet, f);
        draw(outlet);
      },
      snapshot: (outlet, summary) => applySnapshot(outlet, summary, false),
    };
  };

  // Royalty on the sales at `rate` percent, to the minor unit, halves up (network.royalty).
  window.royaltyOf = (sales, rate) => Math.round(sales * Number(rate)) / 100;

  // "+12 %" and "+12 % on last Wednesday at this time" for a pace ratio; "—" without one.
  window.paceText = function paceText(pace, day) {
    const weekday = day
      ? new Date(`${day}T12:00:00Z`).toLocaleDateString(document.body.dataset.locale, { weekday: "long", timeZone: "UTC" })
      : "week";
    if (pace && pace.early)
      return { short: "too early", long: `Too early to compare: last ${weekday} had sold under a tenth of its day by this time`, weekday };
    if (!pace || pace.ratio === null || pace.ratio === undefined)
      return { short: "—", long: `No sales last ${weekday} by this time`, weekday };
    const percent = Math.round(pace.ratio * 100);
    const short = `${percent > 0 ? "+" : percent < 0 ? "−" : "±"}${Math.abs(percent)} %`;
    return { short, long: `${short} on last ${weekday} at this time`, weekday };
  };

  // Fetch one outlet's summary as JSON; null when it cannot be had right now.
  window.fetchSummary = async function fetchSummary(url) {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.status === 401) {
        signedOut("session_expired");
        return null;
      }
      return response.ok ? await response.json() : null;
    } catch (error) {
      return null;
    }
  };
})();
