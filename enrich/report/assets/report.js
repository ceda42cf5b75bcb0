// enrich report: draws the page from the JSON in #report-data. Every value reaches the page as
// text (textContent, SVG text nodes): nothing from the data is ever parsed as HTML.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const COLORS = {
    seen: "#c0392b", not_seen: "#4c9f70", invalid: "#8c8c8c",
    unsupported: "#8e6cc0", error: "#e67e22", pending: "#3b7dd8",
  };
  const LABELS = {
    seen: "seen", not_seen: "not seen", invalid: "invalid", unsupported: "unsupported",
    error: "errors", pending: "pending",
  };
  const PAGE_SIZE = 100;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function titled(node, text) {
    node.appendChild(svg("title", {}, text));
    return node;
  }
  function num(n) {
    if (n === null || n === undefined || n === "") return "";
    return Number(n).toLocaleString("en-US");
  }
  function when(text) {
    return text ? String(text).replace("T", " ").replace(/(\.\d+)?Z$/, " UTC") : "";
  }
  function time(text) {
    const t = Date.parse(text);
    return Number.isNaN(t) ? null : t;
  }

  // ---------------------------------------------------------------- headline, inputs, settings
  function headline() {
    const h = DATA.headline;
    document.getElementById("subtitle").textContent =
      "Made " + when(DATA.generated) + " by enrich " + DATA.version +
      (DATA.origin === "run" ? " at the end of the run" : " from earlier outputs");
    const cards = document.getElementById("headline");
    const items = [
      ["rows", "rows"], ["indicators", "indicators"], ["seen", "seen"], ["not_seen", "not seen"],
      ["invalid", "invalid"], ["unsupported", "unsupported"], ["error", "errors"],
    ];
    for (const [key, label] of items) {
      const card = el("div", { class: "card" + (key === "seen" ? " seen" : ""), "data-key": key });
      card.appendChild(el("div", { class: "n" }, num(h[key] || 0)));
      card.appendChild(el("div", { class: "l" }, label));
      cards.appendChild(card);
    }
    const more = [];
    more.push("lookback: " + (h.lookback_hours ? h.lookback_hours + " h" : "not recorded"));
    more.push("when: " + (h.when ? when(h.when) : "not recorded"));
    if (h.mode) more.push("mode: " + h.mode);
    const answered = Object.entries(h.answered_by || {});
    if (answered.length) {
      more.push("answered by: " + answered.map(([k, v]) => k + " (" + num(v) + " rows)").join(", "));
    }
    const byRow = Object.entries(h.rows_by_status || {});
    if (byRow.length) more.push("rows by status: " + byRow.map(([k, v]) => k + " " + num(v)).join(", "));
    more.push("indicators are counted one by one; a row of several indicators takes its most telling status");
    document.getElementById("headline-more").textContent = more.join(" \u00b7 ");
  }

  function inputsAndSettings() {
    const seenPerFile = new Map();
    const fileAt = DATA.columns.indexOf("file");
    for (const row of DATA.seen) seenPerFile.set(row[fileAt], (seenPerFile.get(row[fileAt]) || 0) + 1);
    const body = document.querySelector("#inputs-table tbody");
    DATA.inputs.forEach((input, i) => {
      const tr = el("tr");
      tr.appendChild(el("td", {}, input.name));
      tr.appendChild(el("td", {}, input.format || ""));
      tr.appendChild(el("td", { class: "num" }, num(input.rows)));
      tr.appendChild(el("td", { class: "num" }, num(seenPerFile.get(i) || 0)));
      body.appendChild(tr);
    });
    const settings = document.querySelector("#settings-table tbody");
    for (const [label, value] of DATA.settings) {
      const tr = el("tr");
      tr.appendChild(el("th", { scope: "row" }, label));
      tr.appendChild(el("td", {}, value));
      settings.appendChild(tr);
    }
    const notes = document.getElementById("notes");
    for (const note of DATA.notes) notes.appendChild(el("li", {}, note));
  }

  // ---------------------------------------------------------------------------------- charts
  function legend(root, statuses, x, y) {
    let at = x;
    for (const s of statuses) {
      root.appendChild(svg("rect", { x: at, y: y, width: 10, height: 10, fill: COLORS[s] }));
      const label = LABELS[s];
      root.appendChild(svg("text", { x: at + 14, y: y + 9 }, label));
      at += 24 + label.length * 7;
    }
  }

  function empty(root, width, text) {
    root.appendChild(svg("text", { x: width / 2, y: 30, "text-anchor": "middle", class: "empty" }, text));
  }

  function statusChart() {
    const rows = DATA.status_by_type;
    const statuses = DATA.statuses.filter((s) => rows.some(([, c]) => c[s]));
    const width = 820, left = 110, right = 80, top = 28, bar = 20, gap = 6;
    const height = top + Math.max(1, rows.length) * (bar + gap) + 10;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: width, height: height, "data-chart": "status" });
    const totals = rows.map(([, c]) => Object.values(c).reduce((a, b) => a + b, 0));
    const max = Math.max(1, ...totals);
    const scale = (width - left - right) / max;
    legend(root, statuses, left, 4);
    if (!rows.length) empty(root, width, "No indicator in the inputs");
    rows.forEach(([type, counts], i) => {
      const y = top + i * (bar + gap);
      root.appendChild(svg("text", { x: left - 8, y: y + bar * 0.7, "text-anchor": "end" },
        type === "none" ? "not an indicator" : type));
      let x = left;
      for (const s of statuses) {
        const n = counts[s] || 0;
        if (!n) continue;
        const w = Math.max(1, n * scale);
        root.appendChild(titled(svg("rect", { x: x, y: y, width: w, height: bar, fill: COLORS[s], "data-status": s }),
          `${type}: ${num(n)} ${LABELS[s]}`));
        x += w;
      }
      root.appendChild(svg("text", { x: x + 6, y: y + bar * 0.7 }, num(totals[i])));
    });
    document.getElementById("chart-status").appendChild(root);
  }

  function prevalenceChart() {
    const bins = DATA.prevalence.bins;
    const width = 820, height = 260, left = 56, bottom = 40, top = 12, right = 12;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: width, height: height, "data-chart": "prevalence" });
    const plotW = width - left - right, plotH = height - top - bottom;
    root.appendChild(svg("line", { x1: left, y1: top + plotH, x2: left + plotW, y2: top + plotH, class: "axis" }));
    root.appendChild(svg("line", { x1: left, y1: top, x2: left, y2: top + plotH, class: "axis" }));
    if (!bins.length) {
      empty(root, width, "No seen indicator");
      document.getElementById("chart-prevalence").appendChild(root);
      return;
    }
    const max = Math.max(1, ...bins.map((b) => b[2]));
    const step = plotW / bins.length;
    for (let k = 0; k <= 4; k++) {
      const v = Math.round((max * k) / 4);
      const y = top + plotH - (plotH * v) / max;
      root.appendChild(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, num(v)));
    }
    bins.forEach(([lo, hi, count], i) => {
      const h = (plotH * count) / max;
      const label = lo === hi ? num(lo) : num(lo) + "\u2013" + num(hi);
      const tick = lo >= 1000000 ? lo / 1048576 + "M" : lo >= 1000 ? lo / 1024 + "k" : String(lo);
      const x = left + i * step;
      root.appendChild(titled(svg("rect", {
        x: x + 2, y: top + plotH - h, width: Math.max(1, step - 4), height: h, fill: COLORS.seen, "data-count": count,
      }), `${label} devices: ${num(count)} values`));
      root.appendChild(svg("text", { x: x + step / 2, y: top + plotH + 14, "text-anchor": "middle" }, lo === hi ? label : tick + "+"));
    });
    root.appendChild(svg("text", { x: left + plotW / 2, y: height - 6, "text-anchor": "middle" },
      "devices (organisation prevalence); each bin from its value to just under the next (k = 1,024), log scale"));
    document.getElementById("chart-prevalence").appendChild(root);
  }

  function timelineChart() {
    const tl = DATA.timeline;
    const spans = tl.spans.map((s) => [s[0], s[1], time(s[2]), time(s[3]), s[4]]).filter((s) => s[2] !== null && s[3] !== null);
    document.getElementById("timeline-note").textContent = spans.length < tl.dated
      ? `The ${num(spans.length)} values seen on most devices, of ${num(tl.dated)} seen values with dates; ordered by first seen.`
      : `${num(spans.length)} seen values with dates, ordered by first seen.`;
    const width = 820, left = 220, right = 16, top = 24;
    const rowH = Math.max(2, Math.min(14, Math.floor(600 / Math.max(1, spans.length))));
    const height = top + Math.max(1, spans.length) * rowH + 30;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: width, height: height, "data-chart": "timeline" });
    if (!spans.length) {
      empty(root, width, "No seen indicator with first and last seen");
      document.getElementById("chart-timeline").appendChild(root);
      return;
    }
    const t0 = Math.min(...spans.map((s) => Math.min(s[2], s[3])));
    const t1 = Math.max(...spans.map((s) => Math.max(s[2], s[3])));
    const plotW = width - left - right;
    const x = (t) => left + (t1 === t0 ? plotW / 2 : ((t - t0) / (t1 - t0)) * plotW);
    const axisY = top + spans.length * rowH + 4;
    root.appendChild(svg("line", { x1: left, y1: axisY, x2: left + plotW, y2: axisY, class: "axis" }));
    for (let k = 0; k <= 4; k++) {
      const t = t0 + ((t1 - t0) * k) / 4;
      root.appendChild(svg("text", { x: x(t), y: axisY + 16, "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle" },
        new Date(t).toISOString().slice(0, 10)));
    }
    spans.forEach(([value, type, first, last, prevalence], i) => {
      const y = top + i * rowH;
      const a = x(Math.min(first, last)), b = x(Math.max(first, last));
      const tip = `${value} (${type}): ${new Date(first).toISOString()} to ${new Date(last).toISOString()}, ${num(prevalence)} devices`;
      root.appendChild(titled(svg("rect", {
        x: a, y: y + 1, width: Math.max(2, b - a), height: Math.max(2, rowH - 2), fill: COLORS.seen, "data-value": value,
      }), tip));
      if (rowH >= 12) {
        const shown = value.length > 27 ? value.slice(0, 26) + "\u2026" : value;
        root.appendChild(titled(svg("text", { x: left - 6, y: y + rowH - 3, "text-anchor": "end" }, shown), value));
      }
    });
    document.getElementById("chart-timeline").appendChild(root);
  }

  // ----------------------------------------------------------------------------------- table
  const HEADINGS = {
    value: "value", type: "type", prevalence: "prevalence", first_seen: "first seen (UTC)",
    last_seen: "last seen (UTC)", devices: "devices", events: "events", answered_by: "answered by",
    file: "input", row: "row",
  };
  const NUMERIC = new Set(["prevalence", "events", "row"]);

  function table() {
    const cols = DATA.columns;
    const rows = DATA.seen;
    const at = Object.fromEntries(cols.map((c, i) => [c, i]));
    const shown = cols.filter((c) => !["devices", "events", "answered_by"].includes(c) ||
      rows.some((r) => r[at[c]] !== "" && r[at[c]] !== null));
    const names = DATA.inputs.map((i) => i.name);
    const cell = (r, c) => (c === "file" ? names[r[at.file]] : r[at[c]]);
    const hay = rows.map((r) => [r[at.value], r[at.type], r[at.devices], r[at.answered_by], names[r[at.file]]]
      .join("\u0001").toLowerCase());
    const state = { filter: "", type: "", sort: null, dir: 1, page: 0, view: rows.map((_, i) => i) };
    const thead = document.querySelector("#seen-table thead tr");
    const tbody = document.querySelector("#seen-table tbody");

    for (const c of shown) {
      const th = el("th", { scope: "col", "data-col": c, "aria-sort": "none", tabindex: "0" }, HEADINGS[c] || c);
      const sort = () => {
        state.dir = state.sort === c ? -state.dir : 1;
        state.sort = c;
        for (const other of thead.children) other.setAttribute("aria-sort", "none");
        th.setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
        state.page = 0;
        update(false);
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") sort(); });
      thead.appendChild(th);
    }
    const types = Array.from(new Set(rows.map((r) => r[at.type]))).sort();
    const select = document.getElementById("type-filter");
    for (const t of types) select.appendChild(el("option", { value: t }, t));

    function compare(c) {
      const i = at[c];
      if (c === "file") return (a, b) => (names[rows[a][i]] < names[rows[b][i]] ? -1 : names[rows[a][i]] > names[rows[b][i]] ? 1 : 0);
      if (NUMERIC.has(c)) {
        return (a, b) => {
          const x = rows[a][i], y = rows[b][i];
          const nx = x === null || x === "", ny = y === null || y === "";
          if (nx || ny) return nx === ny ? 0 : nx ? 1 : -1;
          return x - y;
        };
      }
      return (a, b) => (rows[a][i] < rows[b][i] ? -1 : rows[a][i] > rows[b][i] ? 1 : 0);
    }

    function update(refilter) {
      if (refilter) {
        const f = state.filter, t = state.type;
        const view = [];
        for (let i = 0; i < rows.length; i++) {
          if (t && rows[i][at.type] !== t) continue;
          if (f && !hay[i].includes(f)) continue;
          view.push(i);
        }
        state.view = view;
        state.page = 0;
      }
      if (state.sort) {
        const cmp = compare(state.sort), dir = state.dir;
        state.view.sort((a, b) => dir * cmp(a, b) || a - b);
      } else if (!refilter) {
        state.view.sort((a, b) => a - b);
      }
      render();
    }

    function render() {
      const pages = Math.max(1, Math.ceil(state.view.length / PAGE_SIZE));
      state.page = Math.min(state.page, pages - 1);
      const start = state.page * PAGE_SIZE;
      const frag = document.createDocumentFragment();
      for (const i of state.view.slice(start, start + PAGE_SIZE)) {
        const r = rows[i];
        const tr = el("tr", { "data-row": i });
        for (const c of shown) {
          let v = cell(r, c);
          if (c === "first_seen" || c === "last_seen") v = when(v).replace(" UTC", "");
          else if (NUMERIC.has(c)) v = num(v);
          else if (c === "devices" && v) v = String(v).split(";").join("; ");
          const cls = NUMERIC.has(c) ? "num" : c === "value" ? "v" : c === "devices" || c === "file" ? "w" : "";
          tr.appendChild(el("td", cls ? { class: cls, "data-col": c } : { "data-col": c }, v));
        }
        frag.appendChild(tr);
      }
      tbody.replaceChildren(frag);
      document.getElementById("match-count").textContent =
        `${num(state.view.length)} of ${num(rows.length)} seen rows`;
      document.getElementById("page-info").textContent = `page ${state.page + 1} of ${pages}`;
      document.getElementById("prev").disabled = state.page === 0;
      document.getElementById("next").disabled = state.page >= pages - 1;
    }

    document.getElementById("filter").addEventListener("input", (e) => {
      state.filter = e.target.value.trim().toLowerCase();
      update(true);
    });
    select.addEventListener("change", (e) => { state.type = e.target.value; update(true); });
    document.getElementById("prev").addEventListener("click", () => { state.page -= 1; render(); });
    document.getElementById("next").addEventListener("click", () => { state.page += 1; render(); });
    render();
  }

  headline();
  statusChart();
  prevalenceChart();
  timelineChart();
  table();
  inputsAndSettings();
  document.body.setAttribute("data-ready", "1");
})();
