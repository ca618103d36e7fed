// splitbrain timeline: decodes the embedded columns and draws nodes, clients, faults and
// anomalies on a canvas. Everything is drawn into an ImageData at device resolution, so
// the cost of a frame depends on the pixels, not on the number of ops: ops narrower than
// a pixel are aggregated per pixel column from prefix counts.
(function () {
  "use strict";

  var errorCount = 0;
  function reportError(message) {
    errorCount += 1;
    var el = document.getElementById("sb-errors");
    if (!el) {
      el = document.createElement("pre");
      el.id = "sb-errors";
      document.body.insertBefore(el, document.body.firstChild);
    }
    el.textContent += message + "\n";
    document.body.setAttribute("data-errors", String(errorCount));
    document.title = "splitbrain timeline: error";
  }
  window.onerror = function (message, source, line, column, error) {
    reportError("error: " + message + " at line " + line + ":" + column + (error && error.stack ? "\n" + error.stack : ""));
  };
  window.addEventListener("unhandledrejection", function (e) {
    var r = e.reason;
    reportError("unhandled rejection: " + (r && r.stack ? r.stack : String(r)));
  });

  var metaEl = document.getElementById("sb-meta");
  var meta = JSON.parse(metaEl.textContent);
  // The text is no longer needed; dropping it frees memory and keeps a DOM dump small.
  metaEl.textContent = "";

  // ---- colours (ABGR words for ImageData, CSS strings for the 2D context) ----
  function word(hex) {
    var n = parseInt(hex.slice(1), 16);
    return (0xff000000 | ((n & 0xff) << 16) | (n & 0xff00) | ((n >> 16) & 0xff)) >>> 0;
  }
  var CSS = {
    ok: "#2ca02c", fail: "#d62728", info: "#ff9800", open: "#ffcc80",
    nemOk: "#555555", leader: "#2456c7", follower: "#b9cdf0", candidate: "#9b59b6",
    noAnswer: "#d0d0d0", other: "#8c8c8c", bg: "#ffffff", laneAlt: "#f7f7f7",
    partition: "#eadcf7", pause: "#d9ecfb", kill: "#e2e2e2", clock: "#fbf1c7",
    packet: "#d5f0e3", "power-loss": "#f6d3cf",
  };
  var C = {};
  Object.keys(CSS).forEach(function (k) { C[k] = word(CSS[k]); });
  var FAULT_STRONG = { partition: "#9b6cc9", pause: "#4a90c8", kill: "#777777", clock: "#c9a227", packet: "#2e9e6b", "power-loss": "#b5473a" };
  var ROLE_COLOURS = [C.leader, C.follower, C.candidate, C.noAnswer];
  var ROLE_NAMES = ["leader", "follower", "candidate", "no answer"];
  var OUTCOMES = ["ok", "fail", "info", "never completed"];

  // ---- decoding ----
  function base64Bytes(text) {
    var bin = atob(text.trim());
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function inflate(bytes) {
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (b) { return new Uint8Array(b); });
  }
  // Reads `count` LEB128 varints (zigzag when `signed`) into a new array of `Type`.
  function varints(bytes, pos, count, signed, Type) {
    var out = new Type(count);
    var p = pos;
    for (var i = 0; i < count; i++) {
      var v = 0, mul = 1, b;
      do { b = bytes[p++]; v += (b & 127) * mul; mul *= 128; } while (b >= 128);
      if (signed) v = v % 2 === 1 ? -(v + 1) / 2 : v / 2;
      out[i] = v;
    }
    return out;
  }
  function prefixSum(a) { for (var i = 1; i < a.length; i++) a[i] += a[i - 1]; return a; }

  var D = {}; // decoded columns

  function decode(bytes) {
    var pos = 0, raw = {};
    meta.columns.forEach(function (c) {
      var name = c[0], count = c[1], len = c[2];
      var signed = name === "t0" || name === "iInv" || name === "proc" || name === "sStart" || name === "sIdx";
      var wide = name === "t0" || name === "dur" || name === "iInv" || name === "sStart" || name === "sDur" || name === "sIdx" || name === "sTerm" || name === "iCmp";
      raw[name] = varints(bytes, pos, count, signed, wide ? Float64Array : Int32Array);
      pos += len;
    });
    var values = JSON.parse(new TextDecoder().decode(bytes.subarray(pos, pos + meta.values_bytes)));
    var n = meta.ops;
    D.S = prefixSum(raw.t0);
    D.E = new Float64Array(n);
    for (var i = 0; i < n; i++) D.E[i] = D.S[i] + raw.dur[i];
    D.code = raw.code; D.I = prefixSum(raw.iInv); D.J = raw.iCmp; D.P = prefixSum(raw.proc);
    D.N = raw.node; D.NC = raw.nodeC; D.ER = raw.err; D.VI = raw.vInv; D.VC = raw.vCmp;
    D.values = values;
    // Prefix counts per outcome, for aggregating a pixel's ops in O(1).
    D.cumOk = new Int32Array(n + 1); D.cumFail = new Int32Array(n + 1); D.cumInfo = new Int32Array(n + 1);
    for (i = 0; i < n; i++) {
      var o = D.code[i] & 3;
      D.cumOk[i + 1] = D.cumOk[i] + (o === 0 ? 1 : 0);
      D.cumFail[i + 1] = D.cumFail[i] + (o === 1 ? 1 : 0);
      D.cumInfo[i + 1] = D.cumInfo[i] + (o >= 2 ? 1 : 0);
    }
    D.laneStart = new Int32Array(meta.lane_counts.length + 1);
    meta.lane_counts.forEach(function (c, k) { D.laneStart[k + 1] = D.laneStart[k] + c; });
    var m = raw.sStart.length;
    D.sS = prefixSum(raw.sStart);
    D.sE = new Float64Array(m);
    for (i = 0; i < m; i++) D.sE[i] = D.sS[i] + raw.sDur[i];
    D.sR = raw.sRole; D.sT = raw.sTerm; D.sL = raw.sLeader; D.sI = prefixSum(raw.sIdx); D.sN = raw.sCount;
    D.cumLeader = new Int32Array(m + 1);
    for (i = 0; i < m; i++) D.cumLeader[i + 1] = D.cumLeader[i] + (D.sR[i] === 0 ? 1 : 0);
    D.nodeStart = new Int32Array(meta.node_lanes.length + 1);
    meta.node_lanes.forEach(function (l, k) { D.nodeStart[k + 1] = D.nodeStart[k] + l.segments; });
  }

  // First position in [lo, hi) whose a[i] >= t (a sorted ascending there).
  function lowerBound(a, lo, hi, t) {
    while (lo < hi) {
      var mid = (lo + hi) >>> 1;
      if (a[mid] < t) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // ---- history lines, reconstructed from the columns ----
  function nodeName(code) { return code > 0 ? meta.nodes[code - 1] : null; }
  function opLine(i, completion) {
    var code = D.code[i], outcome = code & 3, orphan = (code & 4) !== 0;
    var f = meta.fs[code >> 3];
    var index, time, type, node, value = -1, error = null;
    if (!completion) {
      if (orphan) return null;
      index = D.I[i]; time = D.S[i]; type = "invoke"; node = nodeName(D.N[i]);
      value = D.VI[i] - 1;
    } else {
      if (outcome === 3) return null;
      index = orphan ? D.I[i] : D.I[i] + D.J[i]; time = D.E[i]; type = ["ok", "fail", "info"][outcome];
      node = D.NC[i] === 0 ? nodeName(D.N[i]) : D.NC[i] === 1 ? null : meta.nodes[D.NC[i] - 2];
      value = D.VC[i] === 0 ? -1 : D.VC[i] === 1 ? D.VI[i] - 1 : D.VC[i] - 2;
      if (D.ER[i] > 0) error = meta.errors[D.ER[i] - 1];
    }
    var proc = D.P[i] === 0 ? '"nemesis"' : String(D.P[i] - 1);
    return '{"index":' + index + ',"time":' + time + ',"process":' + proc + ',"type":"' + type + '","f":"' + f + '"' +
      (node !== null ? ',"node":' + JSON.stringify(node) : "") +
      (value >= 0 ? ',"value":' + D.values[value] : "") +
      (error !== null ? ',"error":' + JSON.stringify(error) : "") + "}";
  }

  // ---- formatting ----
  function fmtDuration(ns) {
    if (ns >= 1e9) return (ns / 1e9).toFixed(ns >= 1e10 ? 1 : 3) + " s";
    if (ns >= 1e6) return (ns / 1e6).toFixed(ns >= 1e7 ? 1 : 2) + " ms";
    if (ns >= 1e3) return (ns / 1e3).toFixed(1) + " µs";
    return Math.round(ns) + " ns";
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- page structure ----
  var UI = {};
  function buildPage() {
    var header = el("header");
    header.appendChild(el("h1", null, meta.title));
    var valid = meta.results && meta.results.valid;
    var verdict = valid === true ? ["valid", "valid"] : valid === false ? ["invalid", "invalid"] :
      [meta.results ? "unknown" : "unknown", meta.results ? "unknown" : "no results.json"];
    header.appendChild(el("span", { "class": "verdict " + verdict[0] }, verdict[1]));
    var test = meta.test && typeof meta.test === "object" ? meta.test : {};
    // The run command nests the configuration under `spec`.
    var spec = test.spec && typeof test.spec === "object" ? test.spec : {};
    function field(k) { return test[k] !== undefined && test[k] !== null ? test[k] : spec[k]; }
    ["system", "nemesis", "seed", "nodes", "runtime", "concurrency", "time_limit_secs", "bugs", "guarantees"].forEach(function (k) {
      var v = field(k);
      if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) return;
      var text = Array.isArray(v) ? v.map(function (x) { return typeof x === "object" && x ? (x.name || JSON.stringify(x)) : String(x); }).join(" ")
        : typeof v !== "object" ? String(v)
        : v.name !== undefined ? String(v.name)
        : Object.keys(v).filter(function (g) { return v[g] === true; }).join(", ") || "none";
      var s = el("span", { "class": "kv" }, k.replace(/_/g, " ") + " ");
      s.appendChild(el("b", null, text));
      header.appendChild(s);
    });
    var checkers = meta.results && meta.results.checkers;
    if (checkers && typeof checkers === "object") {
      var span = el("span");
      Object.keys(checkers).forEach(function (name) {
        var v = checkers[name] && checkers[name].valid;
        span.appendChild(el("span", { "class": "badge " + (v === true ? "ok" : v === false ? "bad" : "unk") }, name + (v === true ? " ✓" : v === false ? " ✗" : " ?")));
      });
      header.appendChild(span);
    }
    header.appendChild(el("span", { "class": "kv" }, meta.lines + " history lines, " + meta.ops + " ops, " + fmtDuration(meta.time_end)));
    if (typeof test.command === "string") {
      var cmd = el("div", { "class": "kv", style: "flex-basis:100%" }, "reproduce: ");
      cmd.appendChild(el("code", null, test.command));
      header.appendChild(cmd);
    }
    document.body.insertBefore(header, document.body.firstChild);

    var toolbar = el("div", { id: "sb-toolbar" });
    var reset = el("button", null, "show all");
    reset.onclick = function () { setView(0, fullEnd()); };
    toolbar.appendChild(reset);
    toolbar.appendChild(el("span", null, "wheel: zoom · drag: pan · double-click: show all · keys + − ← → 0 · hover an op or a latency point for its history lines · click an anomaly (or n, p) to zoom to its ops"));
    var legend = el("span", { "class": "legend" });
    [["ok", CSS.ok], ["fail", CSS.fail], ["info", CSS.info], ["never completed", CSS.open], ["leader", CSS.leader],
     ["follower", CSS.follower], ["candidate", CSS.candidate], ["no answer", CSS.noAnswer],
     ["partition", CSS.partition], ["pause", CSS.pause], ["kill", CSS.kill], ["clock", CSS.clock],
     ["packet", CSS.packet], ["power loss", CSS["power-loss"]]].forEach(function (x) {
      var sw = el("span"); sw.style.background = x[1]; legend.appendChild(sw);
      legend.appendChild(document.createTextNode(x[0]));
    });
    toolbar.appendChild(legend);
    UI.range = el("span", { "class": "muted" });
    toolbar.appendChild(UI.range);
    header.after(toolbar);

    var main = el("div", { id: "sb-main" });
    var box = el("div", { id: "sb-canvas-box" });
    UI.canvas = el("canvas");
    UI.latency = el("canvas");
    UI.tip = el("div", { id: "sb-tip" });
    box.appendChild(UI.canvas);
    box.appendChild(el("div", { "class": "muted", style: "padding:2px 8px" }, "latency of client ops by invocation time (log scale)"));
    box.appendChild(UI.latency);
    box.appendChild(UI.tip);
    UI.box = box;
    main.appendChild(box);
    var side = el("div", { id: "sb-side" });
    main.appendChild(side);
    toolbar.after(main);
    buildAnomalyPanel(side);
    var after = main;
    [buildFailover(), buildCounts(), buildRaw()].forEach(function (s) { after.after(s); after = s; });
  }

  // Violations one by one, first; observations folded per kind, since a run can have
  // dozens of them (a leaderless window per election). Selecting a row opens its fold.
  function buildAnomalyPanel(side) {
    var total = meta.anomalies_total;
    var violations = meta.anomalies.filter(function (a) { return a.severity === "violation"; }).length;
    side.appendChild(el("h2", null, "Anomalies: " + total + " (" + violations + " violations)"));
    if (total > meta.anomalies.length) side.appendChild(el("div", { "class": "muted", style: "padding:0 12px" }, "showing the first " + meta.anomalies.length));
    if (total === 0) side.appendChild(el("div", { "class": "muted", style: "padding:0 12px" }, "none"));
    var folds = [], foldOf = {};
    UI.anomalyRows = meta.anomalies.map(function (a, k) {
      var row = el("div", { "class": "anomaly " + a.severity, "data-anomaly": String(k) });
      row.appendChild(el("div", { "class": "k" }, a.kind + " "));
      row.firstChild.appendChild(el("span", { "class": "muted" }, a.severity + " · " + a.checker));
      row.appendChild(el("div", { "class": "m" }, a.message));
      row.onclick = function () { selectAnomaly(k, true); };
      if (a.severity === "violation") {
        side.appendChild(row);
        return row;
      }
      var key = a.severity + " " + a.kind;
      var fold = foldOf[key];
      if (!fold) {
        fold = foldOf[key] = { el: el("details", { "class": "fold " + a.severity, "data-kind": a.kind }), kind: a.kind, severity: a.severity, rows: 0 };
        fold.el.appendChild(el("summary"));
        folds.push(fold);
      }
      fold.rows += 1;
      fold.el.appendChild(row);
      return row;
    });
    folds.forEach(function (f) {
      f.el.firstChild.textContent = f.kind + ": " + f.rows + " " + (f.severity || "anomal") + (f.rows === 1 ? "" : "s");
      side.appendChild(f.el);
    });
  }

  function buildFailover() {
    var s = el("section");
    s.appendChild(el("h2", null, "Failover time per fault kind"));
    s.appendChild(el("div", { "class": "muted" }, "from each fault's start to the completion of the first ok write invoked at or after it"));
    if (meta.failover.length === 0) { s.appendChild(el("div", { "class": "muted" }, "no faults")); return s; }
    var t = el("table", { "class": "fo" });
    var head = el("tr");
    ["fault", "faults", "without a write", "p50", "p99", "max", "distribution"].forEach(function (h) { head.appendChild(el("th", null, h)); });
    t.appendChild(head);
    var max = 1;
    meta.failover.forEach(function (k) { if (k.max) max = Math.max(max, k.max); });
    meta.failover.forEach(function (k) {
      var tr = el("tr");
      [k.kind, String(k.times.length + k.without_write), String(k.without_write),
       k.p50 === null ? "–" : fmtDuration(k.p50), k.p99 === null ? "–" : fmtDuration(k.p99),
       k.max === null ? "–" : fmtDuration(k.max)].forEach(function (v) { tr.appendChild(el("td", null, v)); });
      var td = el("td");
      var cv = el("canvas", { width: "320", height: "22" });
      td.appendChild(cv);
      tr.appendChild(td);
      t.appendChild(tr);
      var g = cv.getContext("2d");
      g.fillStyle = "#f3f3f3"; g.fillRect(0, 0, 320, 22);
      g.fillStyle = FAULT_STRONG[k.kind] || "#555";
      k.times.forEach(function (v) { g.fillRect(Math.round(v / max * 316), 3, 2, 16); });
      g.fillStyle = "#000";
      if (k.p50 !== null) g.fillRect(Math.round(k.p50 / max * 316), 0, 1, 22);
    });
    s.appendChild(t);
    s.appendChild(el("div", { "class": "muted" }, "distribution axis: 0 to " + fmtDuration(max) + " (black line: p50)"));
    return s;
  }

  function buildCounts() {
    var s = el("section");
    s.appendChild(el("h2", null, "Ops by kind and outcome"));
    var counts = {};
    for (var i = 0; i < meta.ops; i++) {
      var f = meta.fs[D.code[i] >> 3], o = D.code[i] & 3;
      (counts[f] = counts[f] || [0, 0, 0, 0])[o] += 1;
    }
    var t = el("table", { "class": "fo" });
    var head = el("tr");
    ["f"].concat(OUTCOMES).forEach(function (h) { head.appendChild(el("th", null, h)); });
    t.appendChild(head);
    Object.keys(counts).forEach(function (f) {
      var tr = el("tr");
      tr.appendChild(el("td", null, f));
      counts[f].forEach(function (c) { tr.appendChild(el("td", null, String(c))); });
      t.appendChild(tr);
    });
    s.appendChild(t);
    return s;
  }

  function buildRaw() {
    var s = el("section");
    [["test.json", meta.test], ["results.json (without anomalies)", meta.results]].forEach(function (x) {
      var d = el("details");
      d.appendChild(el("summary", null, x[0]));
      d.appendChild(el("pre", null, JSON.stringify(x[1], null, 2)));
      s.appendChild(d);
    });
    return s;
  }

  // ---- view and layout ----
  var GUTTER = 120;
  var AXIS_H = 22, ANOM_H = 12, FAULT_H = 16, NODE_H = 20, NEM_H = 14;
  var V = { t0: 0, t1: 1 };
  var layout = null;
  var selected = -1;
  var started = false;

  function fullEnd() { return Math.max(meta.time_end, 1); }

  function computeLayout() {
    var clientLanes = meta.lanes.length - 1;
    var laneH = clientLanes > 0 ? Math.max(3, Math.min(16, Math.floor(4000 / clientLanes))) : 16;
    var y = AXIS_H;
    var L = { anomY: y, faultY: y + ANOM_H, nodes: [], lanes: [] };
    y += ANOM_H + FAULT_H;
    meta.node_lanes.forEach(function () { L.nodes.push(y); y += NODE_H; });
    L.lanesTop = y;
    meta.lanes.forEach(function (_, k) { L.lanes.push(y); y += k === 0 ? NEM_H : laneH; });
    L.laneH = laneH;
    L.height = y + 4;
    return L;
  }

  // The view and the selected anomaly live in the URL's fragment, so a link shows the
  // same picture: #view=T0,T1&anomaly=K (times in ns).
  function readHash() {
    var out = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var p = kv.split("=");
      if (p[0]) out[p[0]] = p.length > 1 ? p.slice(1).join("=") : "";
    });
    return out;
  }
  var hashTimer = null;
  function writeHash() {
    if (hashTimer !== null) return;
    hashTimer = setTimeout(function () {
      hashTimer = null;
      var h = "#view=" + Math.round(V.t0) + "," + Math.round(V.t1) + (selected >= 0 ? "&anomaly=" + selected : "");
      if (history.replaceState) history.replaceState(null, "", h);
    }, 300);
  }

  function setView(t0, t1) {
    var span = Math.max(t1 - t0, 1000);
    var full = fullEnd();
    var pad = full * 0.02;
    if (span > full + 2 * pad) { t0 = -pad; span = full + 2 * pad; }
    t0 = Math.max(-pad, Math.min(t0, full + pad - span));
    V.t0 = t0; V.t1 = t0 + span;
    if (started) writeHash();
    scheduleDraw();
  }

  var drawPending = false;
  function scheduleDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(function () { drawPending = false; drawAll(); });
  }

  function sizeCanvas(cv, cssW, cssH) {
    var dpr = window.devicePixelRatio || 1;
    var w = Math.max(1, Math.floor(cssW * dpr)), h = Math.max(1, Math.floor(cssH * dpr));
    if (cv.width !== w || cv.height !== h) { cv.width = w; cv.height = h; }
    cv.style.width = cssW + "px"; cv.style.height = cssH + "px";
    return dpr;
  }

  function drawAll() {
    var cssW = Math.max(400, UI.box.clientWidth);
    layout = computeLayout();
    drawTimeline(cssW);
    drawLatency(cssW);
    UI.range.textContent = "showing " + fmtDuration(Math.max(0, V.t0)) + " – " + fmtDuration(V.t1) + " (" + fmtDuration(V.t1 - V.t0) + ")";
  }

  // ---- pixel painting ----
  // One reusable pixel buffer per canvas: a frame allocates nothing.
  function Painter(ctx, w, h) {
    var cache = ctx.canvas.sbImage;
    if (!cache || cache.width !== w || cache.height !== h) {
      cache = ctx.canvas.sbImage = ctx.createImageData(w, h);
    }
    this.ctx = ctx; this.w = w; this.h = h;
    this.img = cache;
    this.px = new Uint32Array(cache.data.buffer);
    this.px.fill(C.bg);
  }
  Painter.prototype.rect = function (x0, y0, x1, y1, c) {
    x0 = Math.max(0, Math.floor(x0)); x1 = Math.min(this.w, Math.ceil(x1));
    y0 = Math.max(0, Math.floor(y0)); y1 = Math.min(this.h, Math.ceil(y1));
    if (x1 <= x0) return;
    if (x1 - x0 === 1) { this.col(x0, y0, y1, c); return; }
    for (var y = y0; y < y1; y++) this.px.fill(c, y * this.w + x0, y * this.w + x1);
  };
  // A one-pixel-wide column, the common case when zoomed out: plain stores beat fill().
  Painter.prototype.col = function (x, y0, y1, c) {
    if (x < 0 || x >= this.w) return;
    y0 = Math.max(0, y0 | 0); y1 = Math.min(this.h, Math.ceil(y1));
    var px = this.px, w = this.w;
    for (var at = y0 * w + x, end = y1 * w; at < end; at += w) px[at] = c;
  };
  Painter.prototype.put = function () { this.ctx.putImageData(this.img, 0, 0); };

  function drawTimeline(cssW) {
    var dpr = sizeCanvas(UI.canvas, cssW, layout.height);
    var ctx = UI.canvas.getContext("2d");
    var W = UI.canvas.width, H = UI.canvas.height;
    var g = Math.round(GUTTER * dpr);
    var scale = (W - g) / (V.t1 - V.t0);
    var X = function (t) { return g + (t - V.t0) * scale; };
    var p = new Painter(ctx, W, H);
    var labels = [];
    // Lane backgrounds, then fault bands across every lane.
    meta.lanes.forEach(function (_, k) {
      if (k % 2 === 1) p.rect(g, layout.lanes[k] * dpr, W, (layout.lanes[k] + layout.laneH) * dpr, C.laneAlt);
    });
    meta.faults.forEach(function (f) {
      var c = C[f.kind] || C.kill;
      var x0 = Math.max(g, X(f.start)), x1 = Math.min(W, Math.max(X(f.end), X(f.start) + 1));
      if (x1 > x0) p.rect(x0, (layout.faultY) * dpr, x1, H, c);
    });
    meta.node_lanes.forEach(function (_, k) {
      paintSegments(p, D.nodeStart[k], D.nodeStart[k + 1], (layout.nodes[k] + 2) * dpr, (layout.nodes[k] + NODE_H - 2) * dpr, X, g, scale, labels);
    });
    meta.lanes.forEach(function (_, k) {
      var h = k === 0 ? NEM_H : layout.laneH;
      var pad = h >= 8 ? 2 : 0;
      paintOps(p, D.laneStart[k], D.laneStart[k + 1], (layout.lanes[k] + pad) * dpr, (layout.lanes[k] + h - pad) * dpr, X, g, scale, labels, k === 0);
    });
    paintAnomalyTrack(p, X, g, dpr);
    p.put();
    ctx.save();
    ctx.scale(dpr, dpr);
    drawOverlays(ctx, cssW, labels, dpr, function (t) { return X(t) / dpr; });
    ctx.restore();
  }

  // Segments of one node lane: wide ones drawn with their term, narrow ones folded into
  // pixel columns that show a leader if any segment inside was one.
  function paintSegments(p, lo, hi, y0, y1, X, g, scale, labels) {
    var i = lowerBound(D.sE, lo, hi, V.t0);
    while (i < hi && D.sS[i] <= V.t1) {
      var xs = X(D.sS[i]), xe = X(D.sE[i]);
      if (xe - xs >= 1) {
        p.rect(Math.max(g, xs), y0, xe, y1, roleColour(D.sR[i]));
        if (xe - Math.max(g, xs) > 34 && labels.length < 4000) labels.push(["seg", i, Math.max(g, xs), xe, y0, y1]);
        i++;
        continue;
      }
      var px = Math.floor(xs);
      var j = Math.max(i + 1, lowerBound(D.sS, i + 1, hi, V.t0 + (px + 1 - g) / scale));
      if (j - 1 > i && X(D.sE[j - 1]) > px + 2) j--;
      // A leader anywhere in the pixel shows (two leaders at once must never hide);
      // otherwise the segment at the pixel's middle stands for it.
      var leader = D.cumLeader[j] - D.cumLeader[i] > 0;
      var mid = Math.min(j - 1, Math.max(i, lowerBound(D.sE, i, j, V.t0 + (px + 0.5 - g) / scale)));
      if (px >= g) p.col(px, y0, y1, leader ? C.leader : roleColour(D.sR[mid]));
      i = j;
    }
  }
  function roleColour(r) { return r < 4 ? ROLE_COLOURS[r] : C.other; }

  var OUTCOME_COLOURS = [C.ok, C.fail, C.info, C.open];
  // Ops of one lane. Ops in a lane never overlap, so starts and ends are both sorted:
  // the first visible op is a binary search on ends, and the ops starting inside one
  // pixel column are a binary search on starts, counted by prefix sums.
  function paintOps(p, lo, hi, y0, y1, X, g, scale, labels, nemesis) {
    var i = lowerBound(D.E, lo, hi, V.t0);
    var h = y1 - y0;
    while (i < hi && D.S[i] <= V.t1) {
      var xs = X(D.S[i]), xe = X(D.E[i]);
      if (xe - xs >= 1.5) {
        var o = D.code[i] & 3;
        p.rect(Math.max(g, xs), y0, Math.max(xe - 0.5, xs + 1), y1, nemesis && o === 0 ? C.nemOk : OUTCOME_COLOURS[o]);
        if (xe - Math.max(g, xs) > 40 && labels.length < 4000) labels.push(["op", i, Math.max(g, xs), xe, y0, y1]);
        i++;
        continue;
      }
      var px = Math.floor(xs);
      var j = Math.max(i + 1, lowerBound(D.S, i + 1, hi, V.t0 + (px + 1 - g) / scale));
      if (j - 1 > i && X(D.E[j - 1]) > px + 2) j--;
      if (px >= g) {
        // Failures on top, then infos, in proportion, at least a pixel each.
        var n = j - i, nf = D.cumFail[j] - D.cumFail[i], ni = D.cumInfo[j] - D.cumInfo[i];
        var yf = nf > 0 ? Math.min(y1, y0 + Math.max(1, Math.round(h * nf / n))) : y0;
        var yi = ni > 0 ? Math.min(y1, yf + Math.max(1, Math.round(h * ni / n))) : yf;
        if (yf > y0) p.col(px, y0, yf, C.fail);
        if (yi > yf) p.col(px, yf, yi, C.info);
        if (y1 > yi) p.col(px, yi, y1, n - nf - ni > 0 ? (nemesis ? C.nemOk : C.ok) : ni > 0 ? C.info : C.fail);
      }
      i = j;
    }
  }

  function paintAnomalyTrack(p, X, g, dpr) {
    var y0 = (layout.anomY + 2) * dpr, y1 = (layout.anomY + ANOM_H - 2) * dpr;
    meta.anomalies.forEach(function (a, k) {
      if (a.t0 === null || a.t0 === undefined) return;
      var x0 = Math.max(g, X(a.t0)), x1 = Math.min(p.w, Math.max(X(a.t1), X(a.t0) + 2 * dpr));
      if (x1 <= x0) return;
      p.rect(x0, y0, x1, y1, a.severity === "violation" ? C.fail : C.leader);
    });
  }

  function drawOverlays(ctx, cssW, labels, dpr, Xc) {
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    // Axis.
    var span = V.t1 - V.t0, plotW = cssW - GUTTER;
    var step = niceStep(span / Math.max(1, plotW / 90));
    ctx.fillStyle = "#333"; ctx.strokeStyle = "#ccc";
    ctx.beginPath();
    for (var t = Math.ceil(V.t0 / step) * step; t <= V.t1; t += step) {
      var x = Xc(t);
      if (x < GUTTER) continue;
      ctx.moveTo(x + 0.5, AXIS_H - 5); ctx.lineTo(x + 0.5, AXIS_H);
      ctx.fillText(fmtTick(t, step), x + 3, AXIS_H / 2 - 2);
    }
    ctx.stroke();
    // Lane labels.
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, GUTTER, layout.height);
    ctx.fillStyle = "#222";
    ctx.fillText("anomalies", 6, layout.anomY + ANOM_H / 2);
    ctx.fillText("faults", 6, layout.faultY + FAULT_H / 2);
    meta.node_lanes.forEach(function (l, k) { ctx.fillText("node " + l.name, 6, layout.nodes[k] + NODE_H / 2); });
    if (layout.laneH >= 8) {
      meta.lanes.forEach(function (l, k) { ctx.fillText(l.label, 6, layout.lanes[k] + (k === 0 ? NEM_H : layout.laneH) / 2); });
    } else {
      ctx.fillText("nemesis", 6, layout.lanes[0] + NEM_H / 2);
      ctx.fillText((meta.lanes.length - 1) + " client lanes", 6, layout.lanes[1] + 8);
    }
    // Fault bands again, translucent over the bars they cover.
    ctx.globalAlpha = 0.13;
    meta.faults.forEach(function (f) {
      var x0 = Math.max(GUTTER, Xc(f.start)), x1 = Math.min(cssW, Math.max(Xc(f.end), Xc(f.start) + 1));
      if (x1 <= x0) return;
      ctx.fillStyle = FAULT_STRONG[f.kind] || "#777";
      ctx.fillRect(x0, layout.faultY + FAULT_H, x1 - x0, layout.height - layout.faultY - FAULT_H);
    });
    ctx.globalAlpha = 1;
    // Fault labels.
    meta.faults.forEach(function (f) {
      var x0 = Math.max(GUTTER, Xc(f.start)), x1 = Math.min(cssW, Math.max(Xc(f.end), Xc(f.start) + 1));
      if (x1 <= x0) return;
      ctx.fillStyle = FAULT_STRONG[f.kind] || "#777";
      ctx.fillRect(x0, layout.faultY + 1, x1 - x0, FAULT_H - 2);
      if (x1 - x0 > 30) {
        ctx.save(); ctx.beginPath(); ctx.rect(x0, layout.faultY, x1 - x0, FAULT_H); ctx.clip();
        ctx.fillStyle = "#fff";
        ctx.fillText(f.label + (f.uncertain ? " (uncertain)" : "") + (f.healed ? "" : " (never healed)"), x0 + 3, layout.faultY + FAULT_H / 2);
        ctx.restore();
      }
    });
    // Labels on wide bars.
    // Only labels that fit are drawn, so no clipping is needed; widths are cached since
    // the same few strings recur.
    labels.forEach(function (l) {
      var x0 = l[2] / dpr, x1 = l[3] / dpr, y = (l[4] + l[5]) / 2 / dpr, i = l[1];
      var text = l[0] === "seg" ? (D.sR[i] < 4 ? ROLE_NAMES[D.sR[i]] : meta.roles[D.sR[i] - 4]) + (D.sT[i] > 0 ? " t" + (D.sT[i] - 1) : "")
        : meta.fs[D.code[i] >> 3];
      if (textWidth(ctx, text) + 5 > x1 - x0) return;
      ctx.fillStyle = l[0] === "seg" && D.sR[i] === 0 ? "#fff" : "#111";
      ctx.fillText(text, x0 + 3, y);
    });
    if (selected >= 0) drawSelection(ctx, Xc);
  }

  var widths = {};
  function textWidth(ctx, text) {
    var w = widths[text];
    if (w === undefined) w = widths[text] = ctx.measureText(text).width;
    return w;
  }

  function drawSelection(ctx, Xc) {
    var a = meta.anomalies[selected];
    if (a.t0 !== null && a.t0 !== undefined) {
      ctx.fillStyle = "rgba(214,39,40,0.08)";
      var x0 = Math.max(GUTTER, Xc(a.t0)), x1 = Math.max(Xc(a.t1), x0 + 2);
      ctx.fillRect(x0, layout.anomY, x1 - x0, layout.height - layout.anomY);
    }
    // A refuted lock history: everything called before this line can be linearized.
    if (a.linearizable_until !== null && a.linearizable_until !== undefined) {
      var xl = Xc(a.linearizable_until);
      if (xl >= GUTTER) {
        ctx.strokeStyle = "#2ca02c"; ctx.lineWidth = 2;
        ctx.setLineDash([6, 4]);
        ctx.beginPath(); ctx.moveTo(xl, 0); ctx.lineTo(xl, layout.height); ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = "#2ca02c";
        ctx.fillText("linearizable up to here", xl + 6, layout.anomY + 10);
      }
    }
    ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
    a.lines.forEach(function (l) {
      if (l.ord < 0) return;
      var lane = lowerBound(D.laneStart, 0, D.laneStart.length, l.ord + 1) - 1;
      var h = lane === 0 ? NEM_H : layout.laneH;
      var xs = Xc(D.S[l.ord]), xe = Math.max(Xc(D.E[l.ord]), xs + 3);
      ctx.strokeRect(xs - 1, layout.lanes[lane], xe - xs + 2, h);
    });
    ctx.lineWidth = 1;
  }

  function niceStep(raw) {
    var e = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1))));
    var m = raw / e;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * e;
  }
  function fmtTick(t, step) {
    var digits = Math.max(0, Math.min(9, Math.ceil(-Math.log10(step / 1e9))));
    return (t / 1e9).toFixed(digits) + " s";
  }

  // ---- latency plot ----
  var LAT_H = 180;
  function drawLatency(cssW) {
    var dpr = sizeCanvas(UI.latency, cssW, LAT_H);
    var ctx = UI.latency.getContext("2d");
    var W = UI.latency.width, H = UI.latency.height;
    var g = Math.round(GUTTER * dpr);
    var scale = (W - g) / (V.t1 - V.t0);
    var p = new Painter(ctx, W, H);
    meta.faults.forEach(function (f) {
      var x0 = Math.max(g, g + (f.start - V.t0) * scale), x1 = Math.min(W, g + (f.end - V.t0) * scale + 1);
      if (x1 > x0) p.rect(x0, 0, x1, H, C[f.kind] || C.kill);
    });
    var lo = latencyBounds();
    var top = 6 * dpr, bottom = H - 6 * dpr;
    var Y = function (d) { return bottom - (Math.log10(Math.max(d, 1)) - lo[0]) / (lo[1] - lo[0]) * (bottom - top); };
    // Priority per pixel so one failure is not hidden under many oks.
    var prio = UI.latency.sbPrio;
    if (!prio || prio.length !== W * H) prio = UI.latency.sbPrio = new Uint8Array(W * H);
    else prio.fill(0);
    var colours = [0, C.ok, C.open, C.info, C.fail];
    for (var k = 1; k < meta.lanes.length; k++) {
      var hi = D.laneStart[k + 1];
      for (var i = lowerBound(D.S, D.laneStart[k], hi, V.t0); i < hi && D.S[i] <= V.t1; i++) {
        var c = D.code[i], o = c & 3;
        if (c & 4) continue;
        var x = Math.floor(g + (D.S[i] - V.t0) * scale), y = Math.floor(Y(D.E[i] - D.S[i]));
        if (x < g || x >= W - 1 || y < 0 || y >= H - 1) continue;
        var pr = o === 0 ? 1 : o === 3 ? 2 : o === 2 ? 3 : 4;
        var at = y * W + x;
        if (prio[at] < pr) { prio[at] = pr; prio[at + 1] = Math.max(prio[at + 1], pr); prio[at + W] = Math.max(prio[at + W], pr); }
      }
    }
    for (var q = 0; q < prio.length; q++) if (prio[q]) p.px[q] = colours[prio[q]];
    p.put();
    ctx.save(); ctx.scale(dpr, dpr);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, GUTTER, LAT_H);
    ctx.fillStyle = "#222"; ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
    ctx.strokeStyle = "#ddd";
    for (var e = Math.ceil(lo[0]); e <= lo[1]; e++) {
      var yy = Y(Math.pow(10, e)) / dpr;
      ctx.fillText(fmtDuration(Math.pow(10, e)), 6, yy);
      ctx.beginPath(); ctx.moveTo(GUTTER, yy + 0.5); ctx.lineTo(cssW, yy + 0.5); ctx.stroke();
    }
    ctx.restore();
  }
  var latencyCache = null;
  function latencyBounds() {
    if (latencyCache) return latencyCache;
    var mn = Infinity, mx = 0;
    for (var i = D.laneStart[1] || 0; i < meta.ops; i++) {
      var d = D.E[i] - D.S[i];
      if (d > 0) { if (d < mn) mn = d; if (d > mx) mx = d; }
    }
    if (!(mx > 0)) { mn = 1e6; mx = 1e9; }
    var a = Math.floor(Math.log10(mn)), b = Math.ceil(Math.log10(mx));
    if (b <= a) b = a + 1;
    latencyCache = [a, b];
    return latencyCache;
  }

  // ---- interaction ----
  function timeAt(clientX) {
    var r = UI.canvas.getBoundingClientRect();
    var x = clientX - r.left;
    return V.t0 + (x - GUTTER) / (r.width - GUTTER) * (V.t1 - V.t0);
  }

  function hitTest(ev) {
    var r = UI.canvas.getBoundingClientRect();
    var x = ev.clientX - r.left, y = ev.clientY - r.top;
    if (x < GUTTER || !layout) return null;
    var t = timeAt(ev.clientX);
    var tol = 3 * (V.t1 - V.t0) / (r.width - GUTTER);
    if (y >= layout.anomY && y < layout.anomY + ANOM_H) {
      for (var k = 0; k < meta.anomalies.length; k++) {
        var a = meta.anomalies[k];
        if (a.t0 !== null && a.t0 !== undefined && a.t0 - tol <= t && t <= a.t1 + tol) return { anomaly: k };
      }
      return null;
    }
    if (y >= layout.faultY && y < layout.faultY + FAULT_H) {
      var hits = meta.faults.filter(function (f) { return f.start - tol <= t && t <= f.end + tol; });
      return hits.length ? { faults: hits } : null;
    }
    for (var n = 0; n < layout.nodes.length; n++) {
      if (y >= layout.nodes[n] && y < layout.nodes[n] + NODE_H) {
        var lo = D.nodeStart[n], hi = D.nodeStart[n + 1];
        var i = lowerBound(D.sE, lo, hi, t);
        return i < hi && D.sS[i] <= t ? { segment: i, node: meta.node_lanes[n].name } : null;
      }
    }
    for (var k2 = 0; k2 < layout.lanes.length; k2++) {
      var h = k2 === 0 ? NEM_H : layout.laneH;
      if (y >= layout.lanes[k2] && y < layout.lanes[k2] + h) {
        var lo2 = D.laneStart[k2], hi2 = D.laneStart[k2 + 1];
        var j = lowerBound(D.E, lo2, hi2, t - tol);
        return j < hi2 && D.S[j] <= t + tol ? { op: j } : null;
      }
    }
    return null;
  }

  // The op nearest the pointer in the latency plot, within a few pixels.
  var LAT_SCAN_MAX = 4000;
  function latencyHit(ev) {
    var r = UI.latency.getBoundingClientRect();
    var x = ev.clientX - r.left, y = ev.clientY - r.top;
    if (x < GUTTER) return null;
    var perPx = (V.t1 - V.t0) / (r.width - GUTTER);
    var t = V.t0 + (x - GUTTER) * perPx, tol = 4 * perPx;
    var lo = latencyBounds(), top = 6, bottom = LAT_H - 6;
    var best = -1, bestD = 25;
    for (var k = 1; k < meta.lanes.length; k++) {
      var hi = D.laneStart[k + 1], n = 0;
      for (var i = lowerBound(D.S, D.laneStart[k], hi, t - tol); i < hi && D.S[i] <= t + tol && n < LAT_SCAN_MAX; i++, n++) {
        if (D.code[i] & 4) continue;
        var yy = bottom - (Math.log10(Math.max(D.E[i] - D.S[i], 1)) - lo[0]) / (lo[1] - lo[0]) * (bottom - top);
        var dx = (D.S[i] - t) / perPx, d = dx * dx + (yy - y) * (yy - y);
        if (d < bestD) { bestD = d; best = i; }
      }
    }
    return best >= 0 ? { op: best } : null;
  }

  function describe(hit) {
    if (hit.op !== undefined) {
      var i = hit.op, o = D.code[i] & 3;
      var lines = [opLine(i, false), opLine(i, true)].filter(function (l) { return l !== null; });
      var head = meta.fs[D.code[i] >> 3] + " · " + OUTCOMES[o] + " · " + fmtDuration(D.E[i] - D.S[i]) +
        (o === 3 ? " (counts as info)" : "") + ((D.code[i] & 4) ? " · completion without an invoke" : "");
      return head + "\n" + lines.join("\n");
    }
    if (hit.segment !== undefined) {
      var s = hit.segment, r = D.sR[s];
      return "node " + hit.node + ": " + (r < 4 ? ROLE_NAMES[r] : meta.roles[r - 4]) +
        (D.sT[s] > 0 ? ", term " + (D.sT[s] - 1) : "") + (D.sL[s] > 0 ? ", leader " + meta.nodes[D.sL[s] - 1] : "") +
        "\nfrom " + fmtDuration(D.sS[s]) + " for " + fmtDuration(D.sE[s] - D.sS[s]) +
        "\n" + D.sN[s] + " status op(s), first at index " + D.sI[s];
    }
    if (hit.faults) {
      return hit.faults.map(function (f) {
        return f.label + "\n" + fmtDuration(f.start) + " – " + fmtDuration(f.end) + " (" + fmtDuration(f.end - f.start) + ")" +
          (f.healed ? "" : ", never healed") + (f.uncertain ? ", the nemesis op did not end ok" : "") + ", op index " + f.index;
      }).join("\n\n");
    }
    if (hit.anomaly !== undefined) {
      var a = meta.anomalies[hit.anomaly];
      return a.kind + " (" + a.severity + ")\n" + a.message + "\nclick to select";
    }
    return "";
  }

  function showTip(ev, text) {
    if (!text) { UI.tip.style.display = "none"; return; }
    UI.tip.textContent = "";
    UI.tip.appendChild(el("pre", null, text));
    UI.tip.style.display = "block";
    var box = UI.box.getBoundingClientRect();
    var x = ev.clientX - box.left + 14, y = ev.clientY - box.top + 14;
    if (x + UI.tip.offsetWidth > box.width) x = Math.max(0, ev.clientX - box.left - UI.tip.offsetWidth - 14);
    UI.tip.style.left = x + "px"; UI.tip.style.top = y + "px";
  }

  function selectAnomaly(k, jump) {
    if (selected >= 0 && UI.anomalyRows[selected]) {
      var old = UI.anomalyRows[selected];
      old.classList.remove("selected");
      var pre = old.querySelector("pre");
      if (pre) pre.remove();
    }
    selected = k;
    var a = meta.anomalies[k], row = UI.anomalyRows[k];
    row.classList.add("selected");
    var fold = row.closest("details");
    if (fold) fold.open = true;
    var text = a.lines.map(function (l) { return l.text || ("index " + l.index + ": not in the history"); }).join("\n");
    if (a.ops_total > a.lines.length) text += "\n… and " + (a.ops_total - a.lines.length) + " more ops";
    row.appendChild(el("pre", null, text || "no ops"));
    row.scrollIntoView({ block: "nearest" });
    if (started) writeHash();
    if (jump && a.t0 !== null && a.t0 !== undefined) {
      var span = Math.max(a.t1 - a.t0, 1e6);
      var from = Math.max(0, a.t0 - span * 0.25);
      setView(from, a.t1 + span * 0.25);
    } else {
      scheduleDraw();
    }
  }

  function attach() {
    var cv = UI.canvas, drag = null;
    cv.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var t = timeAt(ev.clientX);
      var f = Math.exp(Math.max(-300, Math.min(300, ev.deltaY)) * 0.002);
      setView(t - (t - V.t0) * f, t + (V.t1 - t) * f);
    }, { passive: false });
    cv.addEventListener("mousedown", function (ev) {
      drag = { x: ev.clientX, t0: V.t0, t1: V.t1, moved: false };
      cv.classList.add("dragging");
    });
    window.addEventListener("mouseup", function (ev) {
      if (drag && !drag.moved) {
        var hit = hitTest(ev);
        if (hit && hit.anomaly !== undefined) selectAnomaly(hit.anomaly, true);
      }
      drag = null;
      cv.classList.remove("dragging");
    });
    window.addEventListener("mousemove", function (ev) {
      if (drag) {
        var r = cv.getBoundingClientRect();
        var dt = (ev.clientX - drag.x) / (r.width - GUTTER) * (drag.t1 - drag.t0);
        if (Math.abs(ev.clientX - drag.x) > 2) drag.moved = true;
        setView(drag.t0 - dt, drag.t1 - dt);
        UI.tip.style.display = "none";
        return;
      }
      if (ev.target === UI.latency) {
        var lh = latencyHit(ev);
        showTip(ev, lh ? describe(lh) : "");
        return;
      }
      if (ev.target !== cv) { UI.tip.style.display = "none"; return; }
      var hit = hitTest(ev);
      showTip(ev, hit ? describe(hit) : "");
    });
    cv.addEventListener("dblclick", function () { setView(0, fullEnd()); });
    // Keys: + and - zoom about the middle, arrows pan, 0 shows all, n and p step
    // through the anomalies.
    window.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      var span = V.t1 - V.t0, mid = (V.t0 + V.t1) / 2;
      var zoom = { "+": 0.5, "=": 0.5, "-": 2 }[ev.key];
      if (zoom) setView(mid - span * zoom / 2, mid + span * zoom / 2);
      else if (ev.key === "ArrowLeft") setView(V.t0 - span * 0.2, V.t1 - span * 0.2);
      else if (ev.key === "ArrowRight") setView(V.t0 + span * 0.2, V.t1 + span * 0.2);
      else if (ev.key === "0") setView(0, fullEnd());
      else if ((ev.key === "n" || ev.key === "p") && meta.anomalies.length > 0) {
        var n = meta.anomalies.length;
        selectAnomaly(selected < 0 ? 0 : (selected + (ev.key === "n" ? 1 : n - 1)) % n, true);
      } else return;
      ev.preventDefault();
    });
    window.addEventListener("resize", scheduleDraw);
  }

  // #bench: zooms in step by step from the whole history, drawing each frame, between
  // two console messages; the browser's log stamps them with wall-clock times (the
  // page's own clocks may run on virtual time in a headless browser).
  var BENCH_FRAMES = 40;
  function bench() {
    var full = fullEnd();
    console.log("splitbrain timeline: bench start, " + BENCH_FRAMES + " frames a pass");
    for (var pass = 1; pass <= 2; pass++) {
      for (var k = 0; k < BENCH_FRAMES; k++) {
        var span = full / Math.pow(1.5, k % 20), mid = full * 0.37;
        setView(mid - span / 2, mid + span / 2);
        drawAll();
      }
      console.log("splitbrain timeline: bench pass " + pass + " end");
    }
    setView(0, full);
  }

  // #selftest: drives the page as a user would (wheel, drag, hovering a grid of points,
  // selecting every anomaly, double-click) so a headless browser exercises every
  // handler; any exception lands in the error report like any other.
  function selftest() {
    var cv = UI.canvas, r = cv.getBoundingClientRect();
    var tips = 0, opTips = 0, sample = "";
    function at(x, y, type) {
      cv.dispatchEvent(new MouseEvent(type, { clientX: r.left + x, clientY: r.top + y, bubbles: true, cancelable: true }));
    }
    for (var k = 0; k < 5; k++) {
      cv.dispatchEvent(new WheelEvent("wheel", { deltaY: -300, clientX: r.left + r.width / 2, clientY: r.top + 100, bubbles: true, cancelable: true }));
    }
    drawAll();
    at(400, 300, "mousedown"); at(300, 300, "mousemove"); at(300, 300, "mouseup");
    drawAll();
    for (var y = 1; y < layout.height; y += 5) {
      for (var x = GUTTER + 1; x < r.width; x += 37) {
        at(x, y, "mousemove");
        if (UI.tip.style.display !== "block") continue;
        tips += 1;
        if (UI.tip.textContent.indexOf('"index":') >= 0) {
          opTips += 1;
          var lines = UI.tip.textContent.split("\n");
          if (!sample || lines.length > 2) sample = lines[lines.length - 1];
        }
      }
    }
    var lr = UI.latency.getBoundingClientRect(), latTips = 0;
    for (var ly = 2; ly < LAT_H; ly += 4) {
      for (var lx = GUTTER + 1; lx < lr.width; lx += 23) {
        UI.latency.dispatchEvent(new MouseEvent("mousemove", { clientX: lr.left + lx, clientY: lr.top + ly, bubbles: true }));
        if (UI.tip.style.display === "block" && UI.tip.textContent.indexOf('"index":') >= 0) latTips += 1;
      }
    }
    UI.anomalyRows.forEach(function (row) { row.click(); drawAll(); });
    ["+", "-", "ArrowLeft", "ArrowRight", "n", "p", "0"].forEach(function (key) {
      window.dispatchEvent(new KeyboardEvent("keydown", { key: key, bubbles: true, cancelable: true }));
      drawAll();
    });
    at(GUTTER + 10, 10, "dblclick");
    drawAll();
    console.log("splitbrain timeline: selftest ok, " + tips + " tooltips, " + opTips + " with history lines, " + latTips +
      " in the latency plot, e.g. " + sample);
  }

  function start() {
    var t0 = performance.now();
    var dataEl = document.getElementById("sb-data");
    var packed = base64Bytes(dataEl.textContent);
    dataEl.textContent = "";
    inflate(packed).then(function (bytes) {
      decode(bytes);
      buildPage();
      attach();
      var h = readHash();
      var view = (h.view || "").split(",").map(Number);
      if (h.anomaly !== undefined && meta.anomalies[Number(h.anomaly)]) selectAnomaly(Number(h.anomaly), view.length !== 2);
      if (view.length === 2 && view[1] > view[0]) setView(view[0], view[1]);
      else if (selected < 0) setView(0, fullEnd());
      started = true;
      drawPending = false;
      drawAll();
      var ms = Math.round(performance.now() - t0);
      document.body.setAttribute("data-load-ms", String(ms));
      document.body.setAttribute("data-ready", "1");
      if (errorCount === 0) document.title = "splitbrain timeline: ready";
      console.log("splitbrain timeline: ready, " + meta.ops + " ops decoded and drawn in " + ms + " ms");
      if (h.bench !== undefined) setTimeout(bench, 0);
      if (h.selftest !== undefined) setTimeout(selftest, 0);
    });
  }
  start();
})();
