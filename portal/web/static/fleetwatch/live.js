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
