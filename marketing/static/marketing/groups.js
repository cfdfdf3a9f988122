/* Group-buy pages: the time left of a group ([data-group-countdown] with data-ends, an ISO time, and the
   translated data-label-over shown once it has run out). No inline script: the CSP forbids it. */
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function left(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return (d ? d + "d " : "") + pad(h) + ":" + pad(m) + ":" + pad(s % 60);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-group-countdown]").forEach(function (el) {
      var ends = Date.parse(el.dataset.ends);
      el.textContent = now < ends ? left(ends - now) : el.dataset.labelOver;
    });
  }

  tick();
  window.setInterval(tick, 1000);
})();
