/* One-tap copy (sharer centre). A button with data-copy="#id" copies that element's value
   (or text) to the clipboard and says so for a moment in its own label: data-copied on
   success, data-failed when the browser refuses (the text is then selected, so a long
   press copies it). Loaded as a file: the CSP allows no inline script. */
(function () {
  "use strict";

  function flash(button, label) {
    if (!label) return;
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = label;
    clearTimeout(button._linliTimer);
    button._linliTimer = setTimeout(function () {
      button.textContent = button.dataset.label;
    }, 2000);
  }

  function select(target) {
    if (typeof target.select === "function") {
      target.focus();
      target.select();
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(target);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function fallback(button, target, text) {
    // Older in-app browsers (no async clipboard, or not a secure context).
    select(target);
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    flash(button, ok ? button.dataset.copied : button.dataset.failed);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var target = document.querySelector(button.dataset.copy);
    if (!target) return;
    var text = ("value" in target ? target.value : target.textContent).trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () {
          flash(button, button.dataset.copied);
        },
        function () {
          fallback(button, target, text);
        }
      );
    } else {
      fallback(button, target, text);
    }
  });
})();
