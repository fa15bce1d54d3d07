// Re-fetch the page and swap its main content: a plain fetch (not htmx) so the server renders the whole
// page, as on a first load.
function fleetwatchRefreshMain() {
  return fetch(window.location.href, {credentials: "same-origin"})
    .then(function (response) { return response.ok ? response.text() : null; })
    .then(function (html) {
      if (!html) { return; }
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("#main");
      var current = document.querySelector("#main");
      if (fresh && current) {
        current.replaceWith(fresh);
        htmx.process(fresh);
      }
    });
}

// After the live socket comes back (server restart, network loss), refresh: pushes made while the
// socket was away were missed. The first open of a page needs nothing.
(function () {
  var opened = false;
  document.addEventListener("htmx:wsOpen", function () {
    if (!opened) {
      opened = true;
      return;
    }
    fleetwatchRefreshMain();
  });
})();

// A sync from another system changed records this user may see: the notice offers a refresh rather than
// swapping the page under the technician's hands (a half-typed search, a selection for a bulk action).
(function () {
  function clearNotice() {
    var notice = document.querySelector("#live-notice");
    if (notice) { notice.innerHTML = ""; }
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-live-refresh]")) {
      fleetwatchRefreshMain().then(clearNotice);
    } else if (event.target.closest("[data-live-dismiss]")) {
      clearNotice();
    }
  });
})();

// A pushed row replaces the whole <tr>, its selection box included: keep the technician's selection
// for a bulk action across the swap.
(function () {
  var selected = [];
  var boxes = 'input[type="checkbox"][form="bulk-form"]';
  document.addEventListener("htmx:wsBeforeMessage", function () {
    selected = Array.prototype.map.call(document.querySelectorAll(boxes + ":checked"),
      function (box) { return box.value; });
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    document.querySelectorAll(boxes).forEach(function (box) {
      if (selected.indexOf(box.value) !== -1) { box.checked = true; }
    });
  });
})();

// Buttons that need a confirmation carry it in data-confirm (no inline script: the pages run under a strict
// Content-Security-Policy). A refusal stops the click, and so the form's submission.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.getAttribute("data-confirm"))) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);
