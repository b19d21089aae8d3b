/* Countdowns (campaign and team pages). An element with data-countdown="<seconds>" counts
   down every second from what the server said (a phone's wrong clock does not matter) as
   [D 天] HH:MM:SS; data-day-label names days, data-ended is shown at zero, and with
   data-reload the page reloads once it reaches zero (an upcoming campaign opens, a running
   one closes). Elements swapped in by htmx bring fresh seconds and are picked up on the
   next tick. Loaded as a file: the CSP allows no inline script. */
(function () {
  "use strict";

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function format(seconds, dayLabel) {
    var days = Math.floor(seconds / 86400);
    var rest = seconds % 86400;
    var clock = pad(Math.floor(rest / 3600)) + ":" + pad(Math.floor((rest % 3600) / 60)) + ":" + pad(rest % 60);
    return days ? days + " " + dayLabel + " " + clock : clock;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      if (el._linliDone) return;
      if (!el._linliEnd) {
        var seconds = parseInt(el.dataset.countdown, 10);
        el._linliEnd = now + (isNaN(seconds) ? 0 : seconds) * 1000;
      }
      var left = Math.max(0, Math.round((el._linliEnd - now) / 1000));
      el.textContent = left === 0 && el.dataset.ended ? el.dataset.ended : format(left, el.dataset.dayLabel || "d");
      if (left === 0) {
        el._linliDone = true;
        if (el.hasAttribute("data-reload")) setTimeout(function () { window.location.reload(); }, 1500);
      }
    });
  }

  tick();
  setInterval(tick, 1000);
})();
