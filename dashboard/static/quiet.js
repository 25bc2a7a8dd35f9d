// Quiet outlets: the mark's wording, and browser notifications for those who ask for them.
// Notifications come only from the live feed of the outlets on this page: never another's.
(function () {
  "use strict";
  const KEY = "quietAlerts";
  const supported = "Notification" in window;

  function gapText(seconds) {
    if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
    if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
    return `${Math.round(seconds / 3600)} h`;
  }

  // The mark's time is the site's clock already, as every time on the page.
  window.quietText = (mark) => `Quiet since ${mark.since.slice(11, 16)} — usually a sale every ${gapText(mark.usual_gap_s)}`;

  // Show `mark` in `element`, or hide it once the outlet sold again.
  window.showQuietMark = function showQuietMark(element, mark) {
    element.hidden = !mark;
    element.textContent = mark ? window.quietText(mark) : "";
  };

  function enabled() {
    return supported && Notification.permission === "granted" && localStorage.getItem(KEY) === "on";
  }

  const button = document.getElementById("quiet-alerts");
  function showButton() {
    if (!button) return;
    button.hidden = !supported;
    if (!supported) return;
    const blocked = Notification.permission === "denied";
    button.disabled = blocked;
    button.setAttribute("aria-pressed", String(enabled()));
    button.textContent = blocked
      ? "Notifications are blocked for this site in your browser"
      : enabled() ? "Quiet alerts on" : button.dataset.offText;
  }
  if (button) {
    button.dataset.offText = button.textContent;
    button.addEventListener("click", async () => {
      if (enabled()) localStorage.removeItem(KEY);
      else if ((await Notification.requestPermission()) === "granted") localStorage.setItem(KEY, "on");
      showButton();
    });
    showButton();
  }

  // An outlet on this page just went quiet.
  window.quietAlert = function quietAlert(label, outlet, mark) {
    if (!enabled()) return;
    // The tag makes several open tabs show one notification, not one each.
    new Notification(`${label} has gone quiet`, { body: window.quietText(mark), tag: `quiet:${outlet}` });
  };
})();
