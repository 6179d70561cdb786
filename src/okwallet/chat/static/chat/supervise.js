(function () {
  "use strict";
  var node = document.getElementById("loads-data"), canvas = document.getElementById("loads-chart");
  if (!node || !canvas || !window.Chart) { return; }
  var d = JSON.parse(node.textContent);
  new window.Chart(canvas, {
    type: "bar",
    data: { labels: d.labels, datasets: [
      { label: canvas.getAttribute("aria-label"), data: d.active, backgroundColor: "#0b6e4f" },
      { label: "limit", data: d.capacity, backgroundColor: "#d9dee3" }] },
    options: { indexAxis: "y", animation: false, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
})();
