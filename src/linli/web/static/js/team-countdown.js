/* Team countdown (group-buy team page). An element with data-countdown="<seconds>" counts
   down once a second as HH:MM:SS and shows data-ended at zero. The seconds come from the
   server, so a phone's wrong clock does not matter; cards swapped in by HTMX bring fresh
   seconds and are picked up on the next tick. Loaded as a file: the CSP allows no inline
   script. */
(function () {
  "use strict";

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      if (!el._linliEnd) el._linliEnd = now + parseInt(el.dataset.countdown, 10) * 1000;
      var left = Math.max(0, Math.round((el._linliEnd - now) / 1000));
      if (left === 0) {
        el.textContent = el.dataset.ended || "00:00:00";
        return;
      }
      el.textContent = pad(Math.floor(left / 3600)) + ":" + pad(Math.floor((left % 3600) / 60)) + ":" + pad(left % 60);
    });
  }

  tick();
  setInterval(tick, 1000);
})();
