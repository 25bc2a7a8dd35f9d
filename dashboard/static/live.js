// Live sales for the outlets on a page: subscribe, replay what was missed, show the state.
// Used by the outlet page and the overview. Text from events is only ever set as text.
(function () {
  "use strict";
  const OFFLINE_AFTER_MS = 10000;
  const STATUS_EVERY_MS = 5000;
  const REFRESH_EVERY_MS = 30000; // figures from Frappe while the live feed is not live
  const RETRY_REFUSED_MS = 5000;
  const RECENT_MOST = 1000; // events kept per outlet, to recount on top of older figures

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

  // options: outlets (names), onSnapshot(outlet, summary), onEvent(event, how),
  // refresh(outlet) -> Promise of a summary, badge (element), onNotice(text)
  window.LiveSales = function LiveSales(options) {
    const lastId = new Map();
    const recent = new Map(); // outlet -> the events seen lately, oldest first
    const badge = options.badge;
    let lastEventAt = null;
    let bridgeAlive = true;
    let disconnectedAt = null;

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

    // how: "new" (show it and count it), "shown" (show it: the figures hold it already) or
    // "recount" (shown before; count it again on top of figures taken before it).
    function accept(event, inFigures) {
      const last = lastId.get(event.outlet);
      if (last && compareIds(event.id, last) <= 0) return; // seen already
      lastId.set(event.outlet, event.id);
      const seen = recent.get(event.outlet) || [];
      seen.push(event);
      if (seen.length > RECENT_MOST) seen.shift();
      recent.set(event.outlet, seen);
      if (!inFigures && event.event === "live_pos_sale") lastEventAt = new Date();
      options.onEvent(event, inFigures ? "shown" : "new");
    }

    // New figures replace the old; the sales seen since the moment they were read still count.
    // Returns the feed id the figures were read at.
    function applySnapshot(outlet, summary) {
      options.onSnapshot(outlet, summary);
      const base = summary.feed_id || "0-0";
      for (const event of recent.get(outlet) || []) {
        if (compareIds(event.id, base) > 0) options.onEvent(event, "recount");
      }
      return base;
    }

    function subscribe(outlet) {
      socket.emit("subscribe", { outlet, after: lastId.get(outlet) || null }, (ack) => {
        if (!ack || !ack.ok) {
          const why = { forbidden: "You no longer have access to", not_found: "There is no outlet" };
          if (ack && why[ack.error]) options.onNotice(`${why[ack.error]} ${outlet}.`);
          return;
        }
        // Figures come from the snapshot; replayed events up to the feed id it was taken at
        // are in it already and only fill the list of sales. Later ones still count.
        const counted = ack.snapshot ? applySnapshot(outlet, ack.snapshot) : null;
        for (const event of ack.events) accept(event, counted === null || compareIds(event.id, counted) <= 0);
        if (ack.last_id) lastId.set(outlet, ack.last_id);
        bridgeAlive = ack.bridge.alive;
        showState();
      });
    }

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
    });
    socket.on("live_pos_sale", (event) => accept(event, false));
    socket.on("daily_sales_update", (event) => accept(event, false));
    socket.on("resync", (message) => subscribe(message.outlet));
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

    setInterval(() => {
      if (socket.connected && bridgeAlive) return;
      for (const outlet of options.outlets) {
        options.refresh(outlet).then((summary) => summary && applySnapshot(outlet, summary));
      }
    }, REFRESH_EVERY_MS);

    return socket;
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
