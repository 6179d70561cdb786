// Supervisor dashboard: help-centre visits vs self-served visits per day (Chart.js when present).
(function () {
  function draw() {
    var canvas = document.getElementById("kb-deflection-chart");
    var data = document.getElementById("kb-deflection-data");
    if (!canvas || !data || !window.Chart) { return; }
    var d = JSON.parse(data.textContent);
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: d.labels, datasets: [
        { label: d.visits_label, data: d.visits, backgroundColor: "#c7d2fe" },
        { label: d.deflected_label, data: d.deflected, backgroundColor: "#1f6feb" }
      ] },
      options: { responsive: true, plugins: { legend: { position: "bottom" } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }
  function whenReady() { if (window.Chart) { draw(); } else { setTimeout(whenReady, 100); } }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", whenReady); } else { whenReady(); }
})();
