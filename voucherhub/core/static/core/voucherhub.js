// Page behaviour without inline scripts or handlers (the Content-Security-Policy forbids them):
//   <select data-autosubmit>            submits its form when changed
//   <form data-confirm="Sure?">         asks before submitting
document.addEventListener("change", function (event) {
  var field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.submit();
});
document.addEventListener("submit", function (event) {
  var form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
});
