// Help centre: the deposit self-check's connection test (round trip to the server).
(function () {
  function run() {
    var el = document.getElementById("kb-conn");
    if (!el) { return; }
    var started = Date.now();
    var ok = document.getElementById("kb-conn-ok").textContent;
    var bad = document.getElementById("kb-conn-bad").textContent;
    var ctrl = ("AbortController" in window) ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctrl) { ctrl.abort(); } }, 8000);
    fetch(el.getAttribute("data-ping") + "?t=" + started, { cache: "no-store", signal: ctrl ? ctrl.signal : undefined })
      .then(function (r) {
        clearTimeout(timer);
        var ms = Date.now() - started;
        el.setAttribute("data-state", r.ok ? "ok" : "bad");
        el.textContent = (r.ok ? "✓ " + ok : "✗ " + bad) + " (" + ms + " ms)";
      })
      .catch(function () { clearTimeout(timer); el.setAttribute("data-state", "bad"); el.textContent = "✗ " + bad; });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", run); } else { run(); }
})();
