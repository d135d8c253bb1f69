// anchorctl viewer: the anchors of the feature-map cell under the pointer, level by level.
// Every anchor coordinate is looked up in the page's data (anchorctl's own numbers); the
// script only finds the cell under the pointer and scales input pixels onto the image.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("view-data").textContent);
  var stage = document.getElementById("stage");
  var anchorsLayer = document.getElementById("anchors");
  var cellsLayer = document.getElementById("cells");
  var truthLayer = document.getElementById("truth");
  var cellBox = document.getElementById("cell");
  var pinLabel = document.getElementById("pin");
  var sx = data.scale[0], sy = data.scale[1];
  var enabled = {};
  var pinned = null;  // input-pixel point of a pinned cell
  var last = null;

  function fmt(v) {
    var r = Math.round(v * 100) / 100;
    return (Object.is(r, -0) ? 0 : r).toString();
  }
  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) { node.setAttribute(key, attrs[key]); }
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function html(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }

  // The cell of `level` containing input-pixel point (x, y): cell (r, c) spans
  // [c * stride_x, (c + 1) * stride_x) x [r * stride_y, (r + 1) * stride_y).
  function cellAt(level, x, y) {
    var col = Math.floor(x / level.stride[0]), row = Math.floor(y / level.stride[1]);
    return { row: Math.min(Math.max(row, 0), level.rows - 1),
             col: Math.min(Math.max(col, 0), level.cols - 1) };
  }
  // Anchor (row, col, slot) of a level, xyxy in input pixels, from the embedded numbers.
  function anchor(level, row, col, slot) {
    if (level.separable) {
      return [level.x0[slot][col], level.y0[slot][row], level.x1[slot][col], level.y1[slot][row]];
    }
    var i = ((row * level.cols + col) * level.k + slot) * 4;
    return level.anchors.slice(i, i + 4);
  }
  function centre(level, row, col) {
    return [level.center0[0] + col * level.stride[0], level.center0[1] + row * level.stride[1]];
  }

  function rect(box, attrs, parent) {
    var x0 = Math.min(box[0], box[2]) * sx, y0 = Math.min(box[1], box[3]) * sy;
    var w = Math.abs(box[2] - box[0]) * sx, h = Math.abs(box[3] - box[1]) * sy;
    attrs.x = x0; attrs.y = y0; attrs.width = w; attrs.height = h;
    attrs.fill = attrs.fill || "none";
    attrs["vector-effect"] = "non-scaling-stroke";
    return el("rect", attrs, parent);
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function show(x, y) {
    last = [x, y];
    clear(anchorsLayer); clear(cellsLayer); clear(cellBox);
    var any = false;
    data.levels.forEach(function (level) {
      if (!enabled[level.index]) { return; }
      any = true;
      var c = cellAt(level, x, y), mid = centre(level, c.row, c.col);
      var sxp = level.stride[0], syp = level.stride[1];
      rect([c.col * sxp, c.row * syp, (c.col + 1) * sxp, (c.row + 1) * syp],
           { stroke: "#fff", "stroke-width": 1.5, "stroke-dasharray": "4 3" }, cellsLayer);
      el("circle", { cx: mid[0] * sx, cy: mid[1] * sy, r: 3.5, fill: "#fff", stroke: "#000",
                     "vector-effect": "non-scaling-stroke" }, cellsLayer);
      var section = html("div");
      section.className = "cell-level";
      section.setAttribute("data-level", level.index);
      section.setAttribute("data-row", c.row);
      section.setAttribute("data-col", c.col);
      var head = html("div");
      head.innerHTML = "";
      var sw = html("span", "", "swatch");
      sw.style.background = level.colour;
      head.appendChild(sw);
      head.appendChild(html("b", "level " + level.index + " · cell (row " + c.row + ", col " +
                                  c.col + ")"));
      section.appendChild(head);
      section.appendChild(html("div", "centre (" + fmt(mid[0]) + ", " + fmt(mid[1]) +
        ") px · stride " + fmt(sxp) + " x " + fmt(syp) + " px (x, y) · map " + level.rows +
        " x " + level.cols + " (rows x cols)", "muted"));
      var table = html("table");
      var tr = html("tr");
      ["slot", "params", "w x h px", "box x0, y0, x1, y1 px"].forEach(function (t) {
        tr.appendChild(html("th", t));
      });
      table.appendChild(tr);
      level.slots.forEach(function (s) {
        var box = anchor(level, c.row, c.col, s.slot);
        rect(box, { stroke: s.colour, "stroke-width": 2, class: "anchor",
                    "data-level": level.index, "data-slot": s.slot }, anchorsLayer);
        var row = html("tr");
        row.className = "slot-row";
        row.setAttribute("data-level", level.index);
        row.setAttribute("data-slot", s.slot);
        row.setAttribute("data-box", JSON.stringify(box));
        var first = html("td");
        var swatch = html("span", "", "swatch");
        swatch.style.background = s.colour;
        first.appendChild(swatch);
        first.appendChild(document.createTextNode(String(s.slot)));
        row.appendChild(first);
        row.appendChild(html("td", s.label, "l"));
        row.appendChild(html("td", fmt(s.w) + " x " + fmt(s.h)));
        row.appendChild(html("td", box.map(fmt).join(", "), "box"));
        table.appendChild(row);
      });
      section.appendChild(table);
      cellBox.appendChild(section);
    });
    if (!any) { cellBox.textContent = "no level shown: tick one above"; }
    drawGrid();
  }

  function drawGrid() {
    var on = document.getElementById("show-grid").checked;
    var existing = document.getElementById("grid-lines");
    if (existing) { existing.parentNode.removeChild(existing); }
    if (!on) { return; }
    var level = null;
    data.levels.forEach(function (lv) { if (!level && enabled[lv.index]) { level = lv; } });
    if (!level) { return; }
    // one path; a map finer than 3 screen px per cell would be a solid sheet: every n-th line
    var px = stage.getBoundingClientRect().width / data.image.width * sx * level.stride[0];
    var step = Math.max(1, Math.ceil(3 / Math.max(px, 1e-9)));
    var d = "";
    for (var c = 0; c <= level.cols; c += step) {
      d += "M" + c * level.stride[0] * sx + " 0V" + data.image.height;
    }
    for (var r = 0; r <= level.rows; r += step) {
      d += "M0 " + r * level.stride[1] * sy + "H" + data.image.width;
    }
    var path = el("path", { id: "grid-lines", d: d, stroke: "#fff", "stroke-opacity": 0.45,
                            fill: "none", "vector-effect": "non-scaling-stroke" });
    stage.insertBefore(path, cellsLayer);
  }

  function toInput(ev) {
    var m = stage.getScreenCTM();
    var pt = stage.createSVGPoint();
    pt.x = ev.clientX; pt.y = ev.clientY;
    var p = pt.matrixTransform(m.inverse());
    return [p.x / sx, p.y / sy];
  }

  stage.addEventListener("mousemove", function (ev) {
    if (pinned) { return; }
    var p = toInput(ev);
    show(p[0], p[1]);
  });
  stage.addEventListener("click", function (ev) {
    if (pinned) { pinned = null; pinLabel.textContent = ""; }
    else { pinned = toInput(ev); pinLabel.textContent = "(pinned)"; }
    var p = pinned || toInput(ev);
    show(p[0], p[1]);
  });

  var toggles = document.getElementById("levels");
  // Two levels read well together; with more, the first is shown and the rest are a tick away.
  data.levels.forEach(function (level, i) {
    enabled[level.index] = data.levels.length <= 2 || i === 0;
    var label = html("label");
    var box = html("input");
    box.type = "checkbox"; box.checked = enabled[level.index];
    box.setAttribute("data-level", level.index);
    box.addEventListener("change", function () {
      enabled[level.index] = box.checked;
      if (last) { show(last[0], last[1]); } else { drawGrid(); }
    });
    label.appendChild(box);
    var sw = html("span", "", "swatch");
    sw.style.background = level.colour;
    label.appendChild(sw);
    label.appendChild(document.createTextNode("level " + level.index + ": " + level.rows + "x" +
      level.cols + ", stride " + fmt(level.stride[0]) + " px, " + level.k + " per cell"));
    toggles.appendChild(label);
  });
  document.getElementById("show-grid").addEventListener("change", drawGrid);

  // Ground truth: solid boxes numbered, their best anchors dashed, a tick or a cross.
  if (data.boxes.length) {
    document.getElementById("truth-toggle").hidden = false;
    document.getElementById("truth-card").hidden = false;
    var list = document.getElementById("truth-list");
    var table = html("table");
    var head = html("tr");
    ["#", "best IoU", "", "best anchor (level, row, col, slot)"].forEach(function (t) {
      head.appendChild(html("th", t));
    });
    table.appendChild(head);
    data.boxes.forEach(function (b) {
      var colour = b.covered ? "#28c846" : "#e62828";
      rect(b.best, { stroke: colour, "stroke-width": 2, "stroke-dasharray": "6 4" }, truthLayer);
      rect(b.box, { stroke: colour, "stroke-width": 2.5 }, truthLayer);
      var label = el("text", { x: Math.min(b.box[0], b.box[2]) * sx + 2,
                               y: Math.min(b.box[1], b.box[3]) * sy + 14, fill: colour,
                               "font-size": 14, "font-weight": 700, stroke: "#000",
                               "stroke-width": 0.6, "paint-order": "stroke" }, truthLayer);
      label.textContent = "#" + b.n + (b.covered ? " \u2713" : " \u2717");
      var row = html("tr");
      row.appendChild(html("td", "#" + b.n));
      row.appendChild(html("td", b.iou.toFixed(3)));
      var tag = html("td");
      tag.appendChild(html("span", b.covered ? "\u2713 covered" : "\u2717 missed",
                           "tag " + (b.covered ? "ok" : "miss")));
      row.appendChild(tag);
      row.appendChild(html("td", b.level + ", " + b.row + ", " + b.col + ", " + b.slot));
      table.appendChild(row);
    });
    list.appendChild(table);
    list.appendChild(html("p", "Solid: the box; dashed: its best anchor. Covered when the " +
      "best IoU is at least " + data.threshold + ".", "note"));
    document.getElementById("show-truth").addEventListener("change", function (ev) {
      truthLayer.style.display = ev.target.checked ? "" : "none";
    });
  }
  // Until the pointer comes, show the centre cell, so the slot legend is there from the start.
  show(data.input[0] / 2, data.input[1] / 2);
  window.anchorctlView = { data: data, show: show, cellAt: cellAt, anchor: anchor };
})();
