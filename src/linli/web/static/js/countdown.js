/* Countdowns (campaign pages). An element with data-countdown="<seconds>" counts down
   every second from what the server said; data-day-label names days ("天"). With
   data-reload the page reloads once it reaches zero (an upcoming campaign opens, a
   running one closes). Loaded as a file: the CSP allows no inline script. */
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

  var items = Array.prototype.map.call(document.querySelectorAll("[data-countdown]"), function (el) {
    var seconds = parseInt(el.dataset.countdown, 10);
    return { el: el, end: Date.now() + (isNaN(seconds) ? 0 : seconds) * 1000, done: false };
  });
  if (!items.length) return;

  function tick() {
    var now = Date.now();
    items.forEach(function (item) {
      if (item.done) return;
      var left = Math.max(0, Math.round((item.end - now) / 1000));
      item.el.textContent = format(left, item.el.dataset.dayLabel || "d");
      if (left === 0) {
        item.done = true;
        if (item.el.hasAttribute("data-reload")) setTimeout(function () { window.location.reload(); }, 1500);
      }
    });
  }

  setInterval(tick, 1000);
})();
