// Small progressive enhancements shared by the portal and the console.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) { event.detail.headers["X-CSRFToken"] = meta.content; }
});
// Keyboard shortcuts: elements with data-shortcut="g i" style keys are focused or clicked.
(function () {
  var pending = "";
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key;
    var combo = pending ? pending + " " + key : key;
    var target = document.querySelector('[data-shortcut="' + combo + '"]');
    if (target) {
      event.preventDefault(); pending = "";
      if (target.tagName === "INPUT" || target.tagName === "TEXTAREA") { target.focus(); } else { target.click(); }
      return;
    }
    pending = document.querySelector('[data-shortcut^="' + key + ' "]') ? key : "";
  });
})();
