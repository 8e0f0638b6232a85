// The review pages' behaviour: charts (plotly.js, served by this server), the live log of a
// running job, a jobs list that refreshes while jobs run, selects that submit their form.
"use strict";

const STATE_COLORS = {
  COMPLETED: "#2e9d57", FAILED: "#d64545", TIMEOUT: "#e39b27", CANCELLED: "#9aa1ad",
  RUNNING: "#3d6fe0", SUBMITTED: "#7fa1ee", QUEUED: "#c5cbd6", OUT_OF_MEMORY: "#8e2a2a",
  NODE_FAIL: "#7a3d9d", PREEMPTED: "#c77d1c", LOST: "#4a4a4a",
};
const PALETTE = ["#2f5fd0", "#d64545", "#2e9d57", "#e39b27", "#7a3d9d", "#16a3b3",
                 "#a0522d", "#c2185b", "#5d6d1e", "#455a64", "#ff7043", "#6d4c41"];

function dataOf(el) {
  return JSON.parse(document.getElementById(el.dataset.source).textContent);
}

function msDate(unix) { return new Date(unix * 1000); }

function timelineChart(el) {
  const data = dataOf(el);
  const cols = data.jobs;
  const byState = {};
  cols.id.forEach((id, i) => { (byState[cols.state[i]] = byState[cols.state[i]] || []).push(i); });
  const lanes = Object.entries(cols.lanes);
  // a bar is at least 1/400 of the time shown wide, so a job of a second stays visible
  const span = Math.max(...cols.end) - Math.min(...cols.start);
  const minMs = Math.max(span * 1000 / 400, 50);
  const traces = Object.entries(byState).map(([state, rows]) => ({
    type: "bar", orientation: "h", name: state, marker: { color: STATE_COLORS[state] || "#888" },
    base: rows.map(i => msDate(cols.start[i])),
    x: rows.map(i => Math.max((cols.end[i] - cols.start[i]) * 1000, minMs)),
    y: rows.map(i => `${cols.target[i]} · ${cols.lane[i] + 1}`),
    customdata: rows.map(i => cols.id[i]),
    hovertext: rows.map(i => `${cols.id[i]} ${state}${cols.experiment[i] ? " · " + cols.experiment[i] : ""}` +
                             `${cols.name[i] ? " · " + cols.name[i] : ""}<br>${Math.round(cols.end[i] - cols.start[i])} s`),
    hoverinfo: "text",
  }));
  const categories = [];
  for (const [target, n] of lanes) for (let i = n; i >= 1; i--) categories.push(`${target} · ${i}`);
  const height = Math.min(900, Math.max(240, 140 + categories.length * 22));
  Plotly.newPlot(el, traces, {
    barmode: "overlay", height, margin: { l: 130, r: 20, t: 50, b: 50 },
    xaxis: { type: "date", title: { text: "time" } },
    yaxis: { type: "category", categoryorder: "array", categoryarray: categories.reverse(),
             title: { text: "target · lane" } },
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
  }, { displaylogo: false, responsive: true });
  el.on("plotly_click", ev => {
    const id = ev.points && ev.points[0] && ev.points[0].customdata;
    if (id) window.location.href = `${data.base}/jobs/${encodeURIComponent(id)}`;
  });
}

function curvesChart(el) {
  const data = dataOf(el);
  const colors = {};
  const traces = data.runs.map(run => {
    if (!(run.experiment in colors)) colors[run.experiment] = PALETTE[Object.keys(colors).length % PALETTE.length];
    const mine = run.experiment === data.first;
    return {
      type: "scatter", mode: run.steps.length > 1 ? "lines" : "markers",
      x: run.steps, y: run.values, connectgaps: false,
      name: `${run.experiment} seed ${run.seed === null ? "–" : run.seed} (run ${run.run})${run.valid ? "" : " invalid"}`,
      legendgroup: run.experiment,
      line: { color: colors[run.experiment], width: mine ? 1.8 : 1.2, dash: run.valid ? (mine ? "solid" : "dash") : "dot" },
      opacity: mine ? 0.95 : 0.6,
    };
  });
  Plotly.newPlot(el, traces, {
    title: { text: data.metric }, height: 360, margin: { l: 60, r: 20, t: 40, b: 40 },
    xaxis: { title: { text: "step" } }, yaxis: { title: { text: data.metric } },
    hovermode: "closest",
  }, { displaylogo: false, responsive: true });
}

// plotly.js (4.8 MB to evaluate) is fetched once the page has loaded: tables and cards show at
// once, the charts fill in after; performance mark "charts-drawn" says when.
function loadCharts() {
  const charts = document.querySelectorAll("[data-chart]");
  const src = document.querySelector('meta[name="rigorlab-charts"]');
  if (!charts.length || !src) return;
  const script = document.createElement("script");
  script.src = src.content;
  script.onload = () => drawCharts(charts);
  script.onerror = () => charts.forEach(el => { el.textContent = "the chart library did not load"; });
  document.head.append(script);
}

function drawCharts(charts) {
  charts.forEach(el => {
    try {
      ({ timeline: timelineChart, curves: curvesChart })[el.dataset.chart](el);
      el.dataset.drawn = "yes";
    } catch (err) {
      el.textContent = `chart failed: ${err}`;
    }
  });
  performance.mark("charts-drawn");
}

async function followLog(pre) {
  let offset = null;
  const note = document.getElementById(pre.id.replace("log-", "") + "-note");
  const stateTag = document.getElementById("job-state");
  const exitCell = document.getElementById("job-exit");
  let live = pre.dataset.live === "yes";
  for (;;) {
    let body;
    try {
      const url = pre.dataset.log + (offset === null ? "" : `&offset=${offset}`);
      const res = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      body = await res.json();
      if (!res.ok) { if (note) note.textContent = body.error || res.statusText; return; }
    } catch (err) {
      if (note) note.textContent = `cannot reach the server (${err}); retrying`;
      await new Promise(r => setTimeout(r, 3000));
      continue;
    }
    if (body.text) {
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(document.createTextNode(body.text));
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    }
    offset = body.next_offset;
    live = body.live;
    if (stateTag && body.state) { stateTag.textContent = body.state; stateTag.className = `tag js-${body.state}`; }
    if (exitCell && body.exit_code !== null && body.exit_code !== undefined) exitCell.textContent = body.exit_code;
    if (note) note.textContent = live ? "live: follows the job while it runs" : (body.note || "");
    pre.dataset.offset = String(offset);
    if (!live && !body.text) return;      // finished, and everything it wrote is shown
    await new Promise(r => setTimeout(r, live ? 1000 : 200));
  }
}

function refreshJobs(box) {
  const seconds = Number(box.dataset.refreshS);
  setTimeout(async () => {
    try {
      const res = await fetch(window.location.href, { credentials: "same-origin", cache: "no-store" });
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const fresh = doc.getElementById("jobs-live");
      if (fresh) {
        box.replaceWith(fresh);
        if (fresh.dataset.refreshS) refreshJobs(fresh);
        return;
      }
    } catch (err) { /* the next page load shows it */ }
    refreshJobs(box);
  }, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("select[data-autosubmit]").forEach(s =>
    s.addEventListener("change", () => s.form.submit()));
  if (document.readyState === "complete") loadCharts();
  else window.addEventListener("load", loadCharts);
  document.querySelectorAll("pre[data-log]").forEach(followLog);
  const jobs = document.getElementById("jobs-live");
  if (jobs && jobs.dataset.refreshS) refreshJobs(jobs);
});
