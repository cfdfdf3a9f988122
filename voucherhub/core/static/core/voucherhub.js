// Page behaviour without inline scripts or handlers (the Content-Security-Policy forbids them):
//   <select data-autosubmit>            submits its form when changed
//   <form data-confirm="Sure?">         asks before submitting
//   <form data-submit-once>             sent once: a second click while the next page loads does nothing, and
//                                       the submit button says it is busy (the server places one order per
//                                       showing of the form in any case: settlement.forms.SubmitOnceForm)
document.addEventListener("change", function (event) {
  var field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.submit();
});
document.addEventListener("submit", function (event) {
  var form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
});
document.addEventListener("submit", function (event) {
  var form = event.target.closest("form[data-submit-once]");
  if (!form || event.defaultPrevented) return;
  if (form.hasAttribute("data-sent")) {
    event.preventDefault();
    return;
  }
  form.setAttribute("data-sent", "");
  form.setAttribute("aria-busy", "true");
});
// A page shown again from the back/forward cache may be sent again (the server knows it was sent).
window.addEventListener("pageshow", function () {
  document.querySelectorAll("form[data-submit-once][data-sent]").forEach(function (form) {
    form.removeAttribute("data-sent");
    form.removeAttribute("aria-busy");
  });
});
// <button data-copy="text">                copies the text to the clipboard
// <button data-copy-target="#id">          copies the value (or the text) of that element
// The button says "Copied" (its data-copied label) for a moment; without the Clipboard API (a page not served
// over HTTPS or from localhost) the text is selected and copied the old way.
function vhCopyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  var area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "vh-copy-buffer";
  document.body.appendChild(area);
  area.select();
  var ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  document.body.removeChild(area);
  return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy], [data-copy-target]");
  if (!button) return;
  event.preventDefault();
  var text = button.getAttribute("data-copy");
  if (text === null) {
    var source = document.querySelector(button.getAttribute("data-copy-target"));
    if (!source) return;
    text = "value" in source && source.value !== undefined ? source.value : source.textContent;
  }
  var label = button.textContent;
  vhCopyText(text.trim()).then(function () {
    button.textContent = button.getAttribute("data-copied") || label;
    button.setAttribute("data-copy-done", "");
    window.setTimeout(function () { button.textContent = label; button.removeAttribute("data-copy-done"); }, 1500);
  }, function () {});
});
// The reader's time zone, for pages that show moments (voucherhub.core.readertz): the browser's IANA zone name.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var cookie = "vh_tz=" + encodeURIComponent(zone);
    if (zone && document.cookie.split("; ").indexOf(cookie) === -1) {
      document.cookie = cookie + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* no Intl: the site's time zone stays */ }
})();
