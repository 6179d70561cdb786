(function () {
  var canvas = document.getElementById("voice-by-hour");
  if (!canvas || !window.Chart || canvas.dataset.drawn) { return; }
  canvas.dataset.drawn = "1";
  var values = canvas.dataset.values.split(",").map(Number);
  var labels = values.map(function (_, h) { return h + ":00"; });
  new Chart(canvas, { type: "bar", data: { labels: labels, datasets: [{ label: canvas.getAttribute("aria-label"), data: values, backgroundColor: "#2563eb" }] },
    options: { maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
})();
