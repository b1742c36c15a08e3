/**
 * The health dashboard: one self-contained HTML page (no external file, no library) whose
 * inline script fetches the monitor's JSON and draws a card per integration with its state,
 * figures, two inline SVG charts over the window (success rate, mean and p95 latency) and
 * the success rate of the last 24 h in periods of 15 min,
 * and a table of the durable queues heard (depth, in flight, oldest age, dead letters,
 * delivered; alert and stale marks), of the checkpoints heard (watermark, how far behind, last
 * commit) and of the refusals counted (mllp-in limits), refreshing
 * itself. Integration, store and queue names
 * reach the page only as data and are set as text, never as markup.
 */
export interface DashboardOptions {
  /** URL of the JSON (relative to the page), e.g. `../health?format=json&series=1`. */
  src: string;
  /** localStorage key under which the Node-RED editor keeps its access token (`auth-tokens` + suffix). */
  authKey: string;
  refreshSeconds: number;
  /** A fresh random value per response, for the Content-Security-Policy. */
  nonce: string;
  title: string;
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Headers for the page: only its own nonce'd script and style run, and it may fetch only its own origin. */
export function dashboardHeaders(nonce: string): Record<string, string> {
  return {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      "connect-src 'self'",
      "img-src data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'self'",
    ].join("; "),
  };
}

const STYLE = `
:root { color-scheme: light; --ok: #2e8b57; --warn: #d49b00; --crit: #c0392b; --unk: #888; --line: #ddd; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; background: #f4f5f7; }
header { display: flex; align-items: center; gap: 12px; padding: 12px 20px; background: #2b3a4a; color: #fff; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; }
header .meta { margin-left: auto; font-size: 12px; opacity: 0.9; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 14px; padding: 16px 20px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; border-top-width: 4px; }
.card.healthy { border-top-color: var(--ok); } .card.warning { border-top-color: var(--warn); }
.card.critical { border-top-color: var(--crit); } .card.unknown { border-top-color: var(--unk); }
.card h2 { font-size: 15px; margin: 0 0 6px; display: flex; gap: 8px; align-items: center; word-break: break-all; }
.badge { font-size: 11px; text-transform: uppercase; letter-spacing: 0.04em; padding: 2px 7px; border-radius: 10px; color: #fff; background: var(--unk); white-space: nowrap; }
.badge.healthy { background: var(--ok); } .badge.warning { background: var(--warn); }
.badge.critical { background: var(--crit); } .badge.alert { background: #000; }
.stats { display: grid; grid-template-columns: repeat(4, 1fr); gap: 4px 10px; margin: 8px 0; }
.stats div { display: flex; flex-direction: column; } .stats span { font-size: 11px; color: #666; } .stats b { font-weight: 600; }
.reasons, .error { font-size: 12px; color: #555; margin: 4px 0; } .error { color: var(--crit); }
.chart { margin-top: 6px; } .chart .title { font-size: 11px; color: #666; display: flex; justify-content: space-between; }
svg { width: 100%; height: 70px; display: block; background: #fafafa; border: 1px solid #eee; }
.legend i { display: inline-block; width: 10px; height: 2px; vertical-align: middle; margin: 0 3px 0 8px; background: #1f6fb2; }
.legend i.p95 { background: #e67e22; }
#message { margin: 20px; padding: 12px; background: #fff3cd; border: 1px solid #e0c36c; border-radius: 6px; }
.empty { color: #666; padding: 20px; }
#queues, #refusals, #checkpoints { margin: 0 20px 20px; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; }
#queues h2, #refusals h2, #checkpoints h2 { font-size: 15px; margin: 0 0 8px; }
#queues table, #refusals table, #checkpoints table { border-collapse: collapse; width: 100%; font-size: 13px; }
#queues th, #refusals th, #checkpoints th { text-align: left; font-size: 11px; font-weight: normal; color: #666; border-bottom: 1px solid var(--line); padding: 4px 8px; }
#queues td, #refusals td, #checkpoints td { padding: 4px 8px; border-bottom: 1px solid #f0f0f0; word-break: break-all; }
#queues .num, #refusals .num, #checkpoints .num { text-align: right; white-space: nowrap; }
#queues tr.alert td { background: #fdecea; }
#queues tr.stale td { color: #888; }
#queues .reasons { margin: 0 0 0 6px; }
.badge.stale { background: var(--unk); }
`;

/*
 * Plain ES2019 for the browser, kept free of template-literal syntax so that it can sit in
 * this file as it is.
 */
const SCRIPT = String.raw`
(function () {
  "use strict";
  var me = document.currentScript;
  var src = me.getAttribute("data-src");
  var authKey = me.getAttribute("data-auth-key");
  var refreshMs = Math.max(1, Number(me.getAttribute("data-refresh")) || 5) * 1000;
  var SVG = "http://www.w3.org/2000/svg";
  var RANK = { critical: 3, warning: 2, healthy: 1, unknown: 0 };
  var token = null;
  var hash = /(?:^#|&)access_token=([^&]+)/.exec(location.hash);
  if (hash) {
    token = decodeURIComponent(hash[1]);
    try { sessionStorage.setItem("health-dashboard-token", token); } catch (e) { /* storage off */ }
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (!token) {
    try { token = sessionStorage.getItem("health-dashboard-token"); } catch (e) { token = null; }
  }
  if (!token) {
    try {
      var stored = JSON.parse(localStorage.getItem(authKey) || "null");
      if (stored && typeof stored.access_token === "string") token = stored.access_token;
    } catch (e) { token = null; }
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svgEl(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function ms(v) {
    if (v === null || v === undefined || isNaN(v)) return "–";
    if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 1 : 2) + " s";
    if (v >= 100) return Math.round(v) + " ms";
    return Number(v.toPrecision(3)) + " ms";
  }
  function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(v >= 0.9995 || v === 0 ? 0 : 1) + "%"; }
  function time(iso) { return iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "–"; }
  function stat(label, value) {
    var d = el("div");
    d.appendChild(el("span", null, label));
    d.appendChild(el("b", null, value));
    return d;
  }

  var W = 300, H = 70;
  function successChart(series) {
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img", "class": "success" });
    var n = series.length || 1, bw = W / n;
    svg.appendChild(svgEl("line", { x1: 0, x2: W, y1: H * 0.05, y2: H * 0.05, stroke: "#eee" }));
    for (var i = 0; i < series.length; i++) {
      var p = series[i];
      if (!p.total) continue;
      var rate = (p.total - p.failures) / p.total;
      var h = Math.max(1, rate * H);
      svg.appendChild(svgEl("rect", {
        x: (i * bw).toFixed(2), y: (H - h).toFixed(2), width: Math.max(0.5, bw - 0.5).toFixed(2), height: h.toFixed(2),
        fill: rate >= 0.98 ? "#2e8b57" : rate >= 0.95 ? "#d49b00" : "#c0392b"
      }));
    }
    return svg;
  }
  function latencyChart(series) {
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img", "class": "latency" });
    var max = 0, i;
    for (i = 0; i < series.length; i++) if (series[i].p95Ms !== null && series[i].p95Ms > max) max = series[i].p95Ms;
    if (series[0] && max === 0) max = 1;
    var n = series.length, step = n > 1 ? W / (n - 1) : W;
    ["meanMs", "p95Ms"].forEach(function (key) {
      var pts = [];
      for (var j = 0; j < n; j++) {
        var v = series[j][key];
        if (v === null) continue;
        pts.push((j * step).toFixed(2) + "," + (H - 2 - (v / max) * (H - 6)).toFixed(2));
      }
      if (pts.length === 1) pts.push(pts[0]);
      if (pts.length) {
        svg.appendChild(svgEl("polyline", {
          points: pts.join(" "), fill: "none", "stroke-width": 1.5,
          stroke: key === "meanMs" ? "#1f6fb2" : "#e67e22", "class": key === "meanMs" ? "mean" : "p95"
        }));
      }
    });
    svg.setAttribute("data-max", String(max));
    return { svg: svg, max: max };
  }
  function chart(title, right, svg) {
    var box = el("div", "chart");
    var t = el("div", "title");
    t.appendChild(el("span", null, title));
    t.appendChild(right);
    box.appendChild(t);
    box.appendChild(svg);
    return box;
  }

  function card(i) {
    var c = el("section", "card " + i.state);
    c.setAttribute("data-integration", i.integration);
    var h2 = el("h2");
    h2.appendChild(el("span", "name", i.integration));
    h2.appendChild(el("span", "badge state " + i.state, i.state));
    if (i.alert) h2.appendChild(el("span", "badge alert", "alert"));
    c.appendChild(h2);
    var s = el("div", "stats");
    var l = i.latencyMs;
    s.appendChild(stat("calls", i.total));
    s.appendChild(stat("success", pct(i.successRate)));
    s.appendChild(stat("failures", i.failures));
    s.appendChild(stat("in a row", i.consecutiveFailures));
    s.appendChild(stat("mean", ms(l && l.mean)));
    s.appendChild(stat("p50", ms(l && l.p50)));
    s.appendChild(stat("p95", ms(l && l.p95)));
    s.appendChild(stat("p99", ms(l && l.p99)));
    s.appendChild(stat("per second", i.throughput.toFixed(i.throughput >= 10 ? 0 : 2)));
    s.appendChild(stat("last call", time(i.lastEventAt)));
    c.appendChild(s);
    if (i.reasons && i.reasons.length && i.state !== "healthy") c.appendChild(el("div", "reasons", i.reasons.join("; ")));
    if (i.lastError) c.appendChild(el("div", "error", "last error " + i.lastError.error + " at " + time(i.lastError.time)));
    var series = i.series || [];
    c.appendChild(chart("success rate", el("span", null, pct(i.successRate)), successChart(series)));
    var lat = latencyChart(series);
    var legend = el("span", "legend");
    legend.appendChild(el("i"));
    legend.appendChild(document.createTextNode("mean"));
    legend.appendChild(el("i", "p95"));
    legend.appendChild(document.createTextNode("p95 (max " + ms(lat.max) + ")"));
    c.appendChild(chart("latency", legend, lat.svg));
    var day = i.history || [];
    var calls = 0, fails = 0;
    day.forEach(function (p) { calls += p.total; fails += p.failures; });
    var dayChart = successChart(day);
    dayChart.setAttribute("class", "history");
    c.appendChild(chart("last 24 h (15 min)", el("span", null, calls + " calls, " + fails + " failed"), dayChart));
    return c;
  }

  function age(v) {
    if (v === null || v === undefined || isNaN(v)) return "–";
    var s = v / 1000;
    if (s < 60) return (s < 10 ? s.toFixed(1) : String(Math.round(s))) + " s";
    if (s < 3600) return (s / 60).toFixed(s < 600 ? 1 : 0) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }
  function queueRow(q) {
    var tr = el("tr", q.alert ? "alert" : q.stale ? "stale" : null);
    tr.setAttribute("data-store", q.store);
    tr.setAttribute("data-queue", q.queue);
    tr.appendChild(el("td", "store", q.store));
    tr.appendChild(el("td", "queue", q.queue));
    tr.appendChild(el("td", "num depth", q.depth));
    tr.appendChild(el("td", "num in-flight", q.inFlight));
    tr.appendChild(el("td", "num oldest", q.depth > 0 ? age(q.oldestAgeMs) : "–"));
    tr.appendChild(el("td", "num dead", q.deadLetters));
    tr.appendChild(el("td", "num delivered", q.deliveredTotal));
    tr.appendChild(el("td", "num reported", time(q.reportedAt)));
    var mark = el("td", "mark");
    if (q.alert) mark.appendChild(el("span", "badge alert", "alert"));
    if (q.stale) mark.appendChild(el("span", "badge stale", "stale"));
    if (q.reasons && q.reasons.length) mark.appendChild(el("span", "reasons", q.reasons.join("; ")));
    tr.appendChild(mark);
    return tr;
  }
  function renderQueues(queues) {
    var list = (queues || []).slice();
    list.sort(function (a, b) {
      return (b.alert ? 1 : 0) - (a.alert ? 1 : 0) || (a.stale ? 1 : 0) - (b.stale ? 1 : 0) ||
        (a.store < b.store ? -1 : a.store > b.store ? 1 : a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0);
    });
    var frag = document.createDocumentFragment();
    list.forEach(function (q) { frag.appendChild(queueRow(q)); });
    queueRows.replaceChildren(frag);
    queuesBox.hidden = list.length === 0;
    var alerts = list.filter(function (q) { return q.alert; }).length;
    queueAlerts.textContent = alerts === 1 ? "1 queue alert" : alerts + " queue alerts";
    queueAlerts.hidden = alerts === 0;
  }

  function renderRefusals(refusals) {
    var frag = document.createDocumentFragment();
    (refusals || []).forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", "integration", r.integration));
      tr.appendChild(el("td", "source", r.source));
      tr.appendChild(el("td", "reason", r.reason));
      tr.appendChild(el("td", "num count", r.count));
      tr.appendChild(el("td", "num last", time(r.lastAt)));
      frag.appendChild(tr);
    });
    refusalRows.replaceChildren(frag);
    refusalsBox.hidden = !refusals || refusals.length === 0;
  }

  function renderCheckpoints(checkpoints) {
    var frag = document.createDocumentFragment();
    (checkpoints || []).forEach(function (c) {
      var tr = el("tr");
      tr.setAttribute("data-checkpoint", c.checkpoint);
      tr.appendChild(el("td", "checkpoint", c.checkpoint));
      tr.appendChild(el("td", "watermark", c.highWater));
      tr.appendChild(el("td", "num lag", age(c.lagSeconds * 1000)));
      tr.appendChild(el("td", "num committed", c.lastCommitAt ? time(c.lastCommitAt) : "–"));
      tr.appendChild(el("td", "num reported", time(c.reportedAt)));
      frag.appendChild(tr);
    });
    checkpointRows.replaceChildren(frag);
    checkpointsBox.hidden = !checkpoints || checkpoints.length === 0;
  }

  var cards = document.getElementById("cards");
  var checkpointsBox = document.getElementById("checkpoints");
  var checkpointRows = document.getElementById("checkpoint-rows");
  var refusalsBox = document.getElementById("refusals");
  var refusalRows = document.getElementById("refusal-rows");
  var queuesBox = document.getElementById("queues");
  var queueRows = document.getElementById("queue-rows");
  var queueAlerts = document.getElementById("queue-alerts");
  var overall = document.getElementById("overall");
  var updated = document.getElementById("updated");
  var message = document.getElementById("message");

  function render(snap) {
    message.hidden = true;
    var list = Object.keys(snap.integrations).map(function (k) { return snap.integrations[k]; });
    list.sort(function (a, b) { return RANK[b.state] - RANK[a.state] || (a.integration < b.integration ? -1 : 1); });
    var frag = document.createDocumentFragment();
    list.forEach(function (i) { frag.appendChild(card(i)); });
    if (!list.length) frag.appendChild(el("p", "empty", "No integration has reported yet."));
    cards.replaceChildren(frag);
    renderQueues(snap.queues);
    renderRefusals(snap.refusals);
    renderCheckpoints(snap.checkpoints);
    overall.className = "badge " + snap.state;
    overall.textContent = snap.state;
    updated.textContent = "window " + snap.windowSeconds + " s · updated " + time(snap.time);
    document.body.setAttribute("data-loaded", String(Date.now()));
  }
  function show(text) {
    message.textContent = text;
    message.hidden = false;
  }
  function load() {
    var headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    fetch(src, { headers: headers, cache: "no-store", credentials: "same-origin" })
      .then(function (res) {
        if (res.status === 401 || res.status === 403) {
          throw new Error("Not signed in: open this page from the Node-RED editor after signing in.");
        }
        if (!res.ok) throw new Error("The monitor answered HTTP " + res.status + ".");
        return res.json();
      })
      .then(render, function (err) { show(err.message || String(err)); })
      .then(function () { setTimeout(load, refreshMs); });
  }
  load();
})();
`;

export function renderDashboard(o: DashboardOptions): string {
  const nonce = escapeHtml(o.nonce);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(o.title)}</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(o.title)}</h1><span id="overall" class="badge unknown">…</span><span id="queue-alerts" class="badge alert" hidden></span><span id="updated" class="meta"></span></header>
<p id="message" hidden></p>
<main id="cards"></main>
<section id="queues" hidden>
<h2>Queues</h2>
<table>
<thead><tr><th>store</th><th>queue</th><th class="num">depth</th><th class="num">in flight</th><th class="num">oldest</th><th class="num">dead letters</th><th class="num">delivered</th><th class="num">last report</th><th></th></tr></thead>
<tbody id="queue-rows"></tbody>
</table>
</section>
<section id="checkpoints" hidden>
<h2>Checkpoints</h2>
<table>
<thead><tr><th>checkpoint</th><th>watermark</th><th class="num">behind now</th><th class="num">last commit</th><th class="num">last report</th></tr></thead>
<tbody id="checkpoint-rows"></tbody>
</table>
</section>
<section id="refusals" hidden>
<h2>Refusals</h2>
<table>
<thead><tr><th>integration</th><th>source</th><th>reason</th><th class="num">count</th><th class="num">last</th></tr></thead>
<tbody id="refusal-rows"></tbody>
</table>
</section>
<script nonce="${nonce}" data-src="${escapeHtml(o.src)}" data-auth-key="${escapeHtml(o.authKey)}" data-refresh="${escapeHtml(String(o.refreshSeconds))}">${SCRIPT}</script>
</body>
</html>
`;
}
