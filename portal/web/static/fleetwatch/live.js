// After the live socket comes back (server restart, network loss), re-fetch the page and swap its main
// content: pushes made while the socket was away were missed. The first open of a page needs nothing.
// A plain fetch (not htmx) so the server renders the whole page, as on a first load.
(function () {
  var opened = false;
  document.addEventListener("htmx:wsOpen", function () {
    if (!opened) {
      opened = true;
      return;
    }
    fetch(window.location.href, {credentials: "same-origin"})
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
