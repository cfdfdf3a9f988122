/* Flash-sale pages: live countdowns ([data-countdown] with data-starts / data-ends ISO times and translated
   labels, data-label-days the translated day unit), progress bar widths ([data-width], CSP forbids inline styles), and the buy form ([data-flash-buy]):
   posted with fetch to settlement's JSON endpoint; 201 goes on to the payment page, a refusal is shown. */
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function left(ms, days) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return (d ? d + (days || "d") + " " : "") + pad(h) + ":" + pad(m) + ":" + pad(s % 60);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var starts = Date.parse(el.dataset.starts), ends = Date.parse(el.dataset.ends);
      if (now < starts) {
        el.textContent = el.dataset.labelStarts + " " + left(starts - now, el.dataset.labelDays);
      } else if (now < ends) {
        el.textContent = el.dataset.labelEnds + " " + left(ends - now, el.dataset.labelDays);
      } else {
        el.textContent = el.dataset.labelOver;
      }
    });
    document.querySelectorAll("[data-flash-buy]").forEach(function (form) {
      var button = form.querySelector("button[type=submit]");
      if (button && button.disabled && !form.dataset.sending && now >= Date.parse(form.dataset.starts)) {
        button.disabled = false;  // the slot just started: the page need not be reloaded
        button.textContent = button.dataset.labelBuy || button.textContent;
      }
    });
  }

  function buy(event) {
    var form = event.target;
    var button = form.querySelector("button[type=submit]");
    var message = form.querySelector("[data-flash-message]");
    event.preventDefault();
    if (form.dataset.sending) { return; }
    form.dataset.sending = "1";
    button.disabled = true;
    message.textContent = form.dataset.busy;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "fetch" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.status === 201 && body.pay_url) {
          window.location.assign(body.pay_url);
          return;
        }
        if (response.status === 401) {
          window.location.assign(form.dataset.signInUrl);
          return;
        }
        message.textContent = body.message || form.dataset.failed;
        delete form.dataset.sending;
        button.disabled = false;
      });
    }).catch(function () {
      message.textContent = form.dataset.failed;
      delete form.dataset.sending;
      button.disabled = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-width]").forEach(function (el) { el.style.width = el.dataset.width + "%"; });
    document.querySelectorAll("[data-flash-buy]").forEach(function (form) {
      var button = form.querySelector("button[type=submit]");
      if (button) { button.dataset.labelBuy = form.dataset.buyLabel || ""; }
      form.addEventListener("submit", buy);
    });
    tick();
    window.setInterval(tick, 1000);
  });
})();
