// The displays pages: revoking a TV asks first (the screen goes dark for customers at once), and
// each screen's state and last sight follow the screens themselves, without a reload (a TV
// paired a moment ago shows online as soon as it is).
(function () {
  "use strict";
  const REFRESH_MS = 5000;

  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  function since(iso) {
    if (!iso) return "never";
    const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    return `${Math.floor(seconds / 86400)} days ago`;
  }

  function show(row, display) {
    const state = row.querySelector('[data-field="online"] .status');
    if (state) {
      state.textContent = display.online ? "online" : "offline";
      state.classList.toggle("status-active", display.online);
      if (display.online) state.classList.remove("status-closed");
    }
    const seen = row.querySelector('[data-field="last_seen"]');
    if (seen) seen.textContent = since(display.last_seen);
  }

  async function refresh() {
    if (document.hidden) return;
    try {
      const response = await fetch("/api/displays", { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const byId = new Map((await response.json()).displays.map((d) => [d.id, d]));
      for (const row of document.querySelectorAll("tr[data-display]")) {
        const display = byId.get(row.dataset.display);
        if (display) show(row, display);
      }
    } catch (error) {
      // Offline for a moment: the next refresh tries again.
    }
  }

  if (document.querySelector("tr[data-display]")) setInterval(refresh, REFRESH_MS);
})();
