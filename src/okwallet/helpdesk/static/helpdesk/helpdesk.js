// Helpdesk pages: no inline scripts (strict CSP). Everything hangs off data attributes.
(function () {
  function typing(target) {
    var tag = (target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-autosubmit]")) { e.target.form.submit(); }
  });
  // Inbox: j / k move through the rows, Enter opens the focused one (native link behaviour).
  var idx = -1;
  document.addEventListener("keydown", function (e) {
    if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key !== "j" && e.key !== "k") { return; }
    var rows = Array.prototype.slice.call(document.querySelectorAll("#hd-inbox tbody tr"));
    if (!rows.length) { return; }
    idx = Math.max(0, Math.min(rows.length - 1, idx + (e.key === "j" ? 1 : -1)));
    var link = rows[idx].querySelector("a");
    if (link) { link.focus(); }
    e.preventDefault();
  });
  document.addEventListener("DOMContentLoaded", function () {
    var sel = document.getElementById("hd-macro"), body = document.getElementById("id_body");
    var mode = document.getElementById("hd-mode");
    if (sel && body) {
      var texts = JSON.parse(sel.getAttribute("data-macros") || "{}");
      sel.addEventListener("change", function () {
        if (texts[sel.value]) { body.value = (body.value ? body.value + "\n\n" : "") + texts[sel.value]; body.focus(); }
        sel.value = "";
      });
    }
    if (body) {
      body.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); document.getElementById("reply-form").submit(); }
      });
      if (mode) {
        body.addEventListener("focus", function () { mode.value = "replying"; });
        body.addEventListener("blur", function () { mode.value = body.value ? "replying" : "viewing"; });
      }
    }
    var statsEl = document.getElementById("hd-stats");
    if (statsEl && window.Chart) { drawDashboard(JSON.parse(statsEl.textContent), JSON.parse(document.getElementById("hd-weekdays").textContent)); }
  });
  function drawDashboard(s, days) {
    var colours = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569"];
    function chart(id, type, labels, data) {
      var el = document.getElementById(id); if (!el) { return; }
      new window.Chart(el, {type: type, data: {labels: labels, datasets: [{data: data, backgroundColor: colours}]},
        options: {plugins: {legend: {display: type === "doughnut"}}, animation: false, maintainAspectRatio: true}});
    }
    chart("ch-channel", "doughnut", Object.keys(s.volume_by_channel), Object.values(s.volume_by_channel));
    chart("ch-category", "bar", Object.keys(s.volume_by_category), Object.values(s.volume_by_category));
    chart("ch-backlog", "bar", s.backlog_age.map(function (b) { return b.label; }), s.backlog_age.map(function (b) { return b.n; }));
    var keys = ["1", "2", "3", "4", "5"];
    chart("ch-csat", "bar", keys, keys.map(function (k) { return s.csat.distribution[k]; }));
    chart("ch-load", "bar", s.agent_load.map(function (a) { return a.agent; }), s.agent_load.map(function (a) { return a.open; }));
    var max = 1;
    s.heatmap.forEach(function (row) { row.forEach(function (n) { if (n > max) { max = n; } }); });
    var tbody = document.querySelector("#hd-heatmap tbody");
    s.heatmap.forEach(function (row, wd) {
      var tr = document.createElement("tr"), th = document.createElement("th");
      th.scope = "row"; th.textContent = days[wd]; tr.appendChild(th);
      row.forEach(function (n, h) {
        var td = document.createElement("td"), a = n / max;
        td.style.background = "rgba(37,99,235," + (0.06 + 0.94 * a).toFixed(2) + ")";
        td.style.color = a > 0.5 ? "#fff" : "#0f172a";
        td.textContent = n || ""; td.title = days[wd] + " " + h + ":00 — " + n;
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }
})();
