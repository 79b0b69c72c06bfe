// Small enhancements; every page works without them.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Copy buttons: data-copy names the element whose text is copied.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.getElementById(btn.getAttribute("data-copy"));
    if (!el || !navigator.clipboard) return;
    navigator.clipboard.writeText(el.textContent.trim()).then(function () {
      var label = btn.textContent;
      btn.textContent = "Copied";
      setTimeout(function () { btn.textContent = label; }, 1500);
    });
  });

  // The schema editor says whether its text is JSON while one types; the
  // server checks the rest on save.
  var schemas = document.getElementById("schemas");
  var check = document.getElementById("schemas-check");
  if (schemas && check) {
    var run = function () {
      var text = schemas.value.trim();
      if (!text) { check.textContent = "No schema."; return; }
      try {
        var v = JSON.parse(text);
        if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("must be an object of versions");
        check.textContent = "Valid JSON.";
      } catch (e) {
        check.textContent = "Not valid yet: " + e.message;
      }
    };
    schemas.addEventListener("input", run);
    run();
  }

  // The console's live overview polls the same numbers every 2 seconds.
  var live = document.getElementById("live");
  if (live) {
    var src = live.getAttribute("data-src");
    var tick = function () {
      fetch(src, { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (data) {
        if (!data) return;
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var k = el.getAttribute("data-live");
          if (data[k] !== undefined) el.textContent = data[k];
        });
      }).catch(function () {});
    };
    setInterval(tick, 2000);
    tick();
  }
})();
