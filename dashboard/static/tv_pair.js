// The pairing screen: wait for a manager to enter the code, then become the display.
(function () {
  "use strict";
  const screen = document.querySelector("[data-pairing]");
  const left = document.getElementById("pairing-left");
  let seconds = left ? Number(left.dataset.seconds) : 0;

  function showLeft() {
    if (!left) return;
    const minutes = Math.floor(seconds / 60);
    left.textContent = minutes >= 1 ? `${minutes} min ${seconds % 60} s` : `${seconds} s`;
  }

  async function poll() {
    try {
      const response = await fetch(screen.dataset.pollUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
      const answer = await response.json();
      if (answer.status === "paired" || answer.status === "expired") {
        window.location.assign("/tv");
        return;
      }
      seconds = answer.seconds_left;
    } catch (error) {
      // The network is away: keep showing the code and ask again.
    }
    setTimeout(poll, 1000);
  }

  setInterval(() => {
    seconds = Math.max(0, seconds - 1);
    showLeft();
  }, 1000);
  showLeft();
  if (document.getElementById("pairing-code")) poll();
  else setTimeout(() => window.location.reload(), 5 * 60 * 1000);
})();
