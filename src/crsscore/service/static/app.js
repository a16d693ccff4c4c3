// Progressive enhancement: send calculator and grading forms with fetch and replace only the
// result (an aria-live region), so screen readers announce it.  Without JavaScript the forms
// post normally and the whole page comes back.
(function () {
  "use strict";

  function markErrors(form, region) {
    form.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
    });
    var summary = region.querySelector("[data-errors]");
    if (!summary) { return; }
    summary.getAttribute("data-errors").split(" ").forEach(function (name) {
      var el = name && document.getElementById("v-" + name);
      if (el) { el.setAttribute("aria-invalid", "true"); }
    });
  }

  function enhance(form) {
    var region = document.getElementById(form.getAttribute("data-result") || "result");
    if (!region || !window.fetch) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; }
      region.setAttribute("aria-busy", "true");
      fetch(form.action, {
        method: "POST",
        headers: { "X-Fragment": "1", "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(new FormData(form)).toString()
      }).then(function (response) {
        return response.text();
      }).then(function (html) {
        region.innerHTML = html;
        markErrors(form, region);
      }).catch(function () {
        region.textContent = "The server could not be reached. Please try again.";
      }).finally(function () {
        region.removeAttribute("aria-busy");
        if (button) { button.disabled = false; }
      });
    });
  }

  function stampPrintDate() {
    document.querySelectorAll("[data-print-date]").forEach(function (el) {
      el.textContent = new Date().toLocaleString();
    });
  }
  window.addEventListener("beforeprint", stampPrintDate);

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.hasAttribute && target.hasAttribute("data-print")) {
      stampPrintDate();
      window.print();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form#calc-form, form#grade-form").forEach(enhance);
  });
})();
