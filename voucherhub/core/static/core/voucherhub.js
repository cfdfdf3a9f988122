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
