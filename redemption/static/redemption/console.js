// Merchant console: keep the cursor where the next keystroke (or scanner burst) should land.
(function () {
  function focusNext() {
    var target = document.querySelector("#result [autofocus]");
    var code = document.getElementById("id_code");
    if (target) { target.focus(); return; }
    if (code) { code.focus(); code.select(); }
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "result") {
      var done = document.querySelector("#result [data-testid=result-success], #result [data-testid=result-error]");
      var code = document.getElementById("id_code");
      if (done && code) { code.value = ""; }
      focusNext();
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    focusNext();
    // No inline handlers (the Content-Security-Policy allows scripts from our own files only).
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
      });
    });
  });
})();
