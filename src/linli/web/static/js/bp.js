/* Basis points shown as a percentage while typing (rules editor): each input[data-bp]
   updates the <output class="bp-pct"> next to it. 10000 bp = 100%. */
(function () {
  "use strict";
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-bp]")) return;
    var out = input.parentElement.querySelector(".bp-pct");
    if (!out) return;
    var raw = input.value.trim();
    out.textContent = /^\d{1,6}$/.test(raw) ? "= " + parseFloat((parseInt(raw, 10) / 100).toFixed(2)) + "%" : "";
  });
})();
