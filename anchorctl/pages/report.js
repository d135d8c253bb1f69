// anchorctl report: layer toggles and a width x height readout on the log-log scatter.
(function () {
  "use strict";
  var chart = document.querySelector("svg.scatter");
  if (!chart) { return; }
  var hidden = {};
  function apply() {
    var marks = chart.querySelectorAll(".region, .ok, .miss, .anc, .sug");
    for (var i = 0; i < marks.length; i++) {
      var el = marks[i], off = false;
      for (var name in hidden) {
        if (hidden[name] && el.classList.contains(name)) { off = true; break; }
      }
      el.style.display = off ? "none" : "";
    }
  }
  var boxes = document.querySelectorAll('.toggles[data-for="scatter"] input[data-layer]');
  for (var i = 0; i < boxes.length; i++) {
    boxes[i].addEventListener("change", function (ev) {
      hidden[ev.target.getAttribute("data-layer")] = !ev.target.checked;
      apply();
    });
  }
  var d = chart.dataset, readout = document.getElementById("scatter-readout");
  function logAt(p, p0, p1, v0, v1) {
    var f = (p - p0) / (p1 - p0);
    return Math.pow(10, Math.log10(v0) + f * (Math.log10(v1) - Math.log10(v0)));
  }
  chart.addEventListener("mousemove", function (ev) {
    var m = chart.getScreenCTM();
    if (!m || !readout) { return; }
    var pt = chart.createSVGPoint();
    pt.x = ev.clientX; pt.y = ev.clientY;
    var p = pt.matrixTransform(m.inverse());
    var inside = p.x >= +d.px0 && p.x <= +d.px1 && p.y >= +d.py1 && p.y <= +d.py0;
    if (!inside) { readout.textContent = ""; return; }
    var w = logAt(p.x, +d.px0, +d.px1, +d.x0, +d.x1);
    var h = logAt(p.y, +d.py0, +d.py1, +d.y0, +d.y1);
    readout.textContent = "w " + w.toFixed(1) + " x h " + h.toFixed(1) + " px (w/h " +
      (w / h).toFixed(2) + ")";
  });
})();
