// The workspace's small conveniences, all optional: without this file every menu is open and every link works.
document.documentElement.classList.add("js");

(function () {
  // One section menu open at a time; a click elsewhere or Escape closes it.
  function sections() { return document.querySelectorAll("[data-nav-section]"); }
  document.addEventListener("toggle", function (event) {
    var opened = event.target;
    if (!opened.matches || !opened.matches("[data-nav-section]") || !opened.open) { return; }
    sections().forEach(function (other) { if (other !== opened) { other.open = false; } });
  }, true);
  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-nav-section]")) {
      sections().forEach(function (section) { section.open = false; });
    }
    var toggle = event.target.closest("[data-nav-toggle]");
    if (toggle) {
      var bar = document.getElementById("topbar");
      var open = bar.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      sections().forEach(function (section) { section.open = false; });
      var results = document.getElementById("search-results");
      if (results) { results.innerHTML = ""; }
    }
    // "/" jumps to the global search, unless the user is typing somewhere already.
    var typing = event.target.closest && event.target.closest("input, textarea, select, [contenteditable]");
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      var box = document.getElementById("global-search");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    }
  });
})();

// The device page's tabs: the clicked tab becomes the current one when htmx has swapped its content in.
document.addEventListener("htmx:afterSwap", function (event) {
  var tab = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (!tab || !tab.matches || !tab.matches("[data-tab]")) { return; }
  document.querySelectorAll("[data-tab]").forEach(function (other) { other.removeAttribute("aria-current"); });
  tab.setAttribute("aria-current", "page");
});
