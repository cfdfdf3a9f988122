// The sign-in page's "send a new code" button: disabled while the number waits for its next code, with the
// seconds left on it (data-resend-wait). Without JavaScript the button stays on and the server says how long
// to wait.
(function () {
  var button = document.querySelector("[data-resend-wait]");
  if (!button) return;
  var left = parseInt(button.getAttribute("data-resend-wait"), 10) || 0;
  var label = button.getAttribute("data-resend-label");
  var waiting = button.getAttribute("data-resend-waiting");
  function tick() {
    if (left <= 0) {
      button.disabled = false;
      button.textContent = label;
      return;
    }
    button.disabled = true;
    button.textContent = waiting.replace("{seconds}", String(left));
    left -= 1;
    window.setTimeout(tick, 1000);
  }
  tick();
})();
