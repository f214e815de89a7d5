// minegate pages: refresh the live part in place; everything else works without script.
(function () {
  "use strict";
  function refresh(box) {
    var url = box.getAttribute("data-refresh");
    var every = parseInt(box.getAttribute("data-every") || "3000", 10);
    var busy = false;
    function tick() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.status === 401 || r.redirected && r.url.indexOf("/login") >= 0) { window.location.reload(); return null; }
          return r.ok ? r.text() : null;
        })
        .then(function (html) { if (html !== null && html !== undefined) { box.innerHTML = html; box.setAttribute("data-updated", String(Date.now())); } })
        .catch(function () { /* keep the last values; the next tick tries again */ })
        .then(function () { busy = false; });
    }
    window.setInterval(tick, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var boxes = document.querySelectorAll("[data-refresh]");
    for (var i = 0; i < boxes.length; i++) refresh(boxes[i]);
  });
})();
