//! `report.html`: one self-contained page (inline CSS/JS/SVG, no network).
//!
//! The data of at most a few keys (violating keys first, or `--key`) is
//! embedded as JSON, windowed around the violation so the page stays usable
//! for 100k-op histories; a small script draws one SVG timeline per key: one
//! row per process, each op a bar from invoke to completion, info ops
//! open-ended, the linearization order numbered, the offending op marked
//! (`class="op offending"`, `data-offending="true"`), fault intervals shaded.

use super::{secs, ReportInput};
use crate::partition::KeyResult;
use crate::{initial_state, replay_states, KeyVerdict};
use serde_json::{json, Value};

/// Most keys drawn; most ops drawn per key.
const MAX_KEYS: usize = 3;
const MAX_OPS: usize = 400;
const VIOLATION_WINDOW: usize = 150;

fn key_data(r: &ReportInput<'_>, k: &KeyResult) -> Value {
    let h = r.history;
    let (order, offending, unplaced): (Vec<u32>, Option<u32>, Vec<u32>) =
        match (&k.failure, &k.linearization) {
            (Some(f), _) => (f.prefix.clone(), Some(f.offending), f.unplaced.clone()),
            (None, Some(l)) => (l.clone(), None, Vec::new()),
            _ => (Vec::new(), None, Vec::new()),
        };
    // Window of ops (in invocation order) around the offending op.
    let n = k.ops.len();
    let (lo, hi) = match offending.and_then(|o| k.ops.iter().position(|&i| i == o)) {
        // Around a violation: a narrow window, so bars stay readable.
        Some(pos) => {
            let hi = (pos + 30).min(n);
            (hi.saturating_sub(VIOLATION_WINDOW), hi)
        }
        None => (0, n.min(MAX_OPS)),
    };
    let mut shown: Vec<u32> = k.ops[lo..hi].to_vec();
    for u in &unplaced {
        if !shown.contains(u) {
            shown.push(*u);
        }
    }
    let shown_set: std::collections::HashSet<u32> = shown.iter().copied().collect();
    let ops: Vec<Value> = shown
        .iter()
        .map(|&i| {
            let op = &h.ops[i as usize];
            json!({
                "id": op.id, "p": op.process, "c": op.call,
                "r": if op.info { Value::Null } else { json!(op.ret) },
                "d": op.describe(), "line": op.line,
                "t": if op.info { "info" } else if matches!(op.output, crate::op::Output::CasFail) { "fail" } else { "ok" },
            })
        })
        .collect();
    let states = replay_states(r.result.model, h, &order);
    // Only the tail of the order that touches the window.
    let first = order
        .iter()
        .position(|i| shown_set.contains(i))
        .unwrap_or(order.len());
    let order_json: Vec<Value> = order
        .iter()
        .enumerate()
        .skip(first)
        .map(|(n, &i)| json!({"n": n + 1, "id": i, "d": h.ops[i as usize].describe(), "s": states.get(n)}))
        .collect();
    json!({
        "key": h.key_name(k.key),
        "verdict": k.verdict,
        "total_ops": n,
        "shown": shown.len(),
        "order": order_json,
        "order_len": order.len(),
        "offending": offending,
        "offending_desc": offending.map(|o| h.ops[o as usize].describe()),
        "window": k.failure.as_ref().and_then(|f| f.window.as_ref()).map(|w| {
            w.iter()
                .take(MAX_OPS)
                .map(|&i| {
                    let op = &h.ops[i as usize];
                    json!({"p": op.process, "d": op.describe(), "line": op.line})
                })
                .collect::<Vec<_>>()
        }),
        "unplaced": unplaced,
        "state_before": if order.is_empty() { initial_state(r.result.model) } else { states.last().cloned().unwrap_or_default() },
        "ops": ops,
    })
}

pub(crate) fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Builds the `report.html` page.
pub fn report_html(r: &ReportInput<'_>) -> String {
    let h = r.history;
    let res = r.result;
    let mut draw: Vec<&KeyResult> = Vec::new();
    if let Some(name) = r.chosen_key {
        draw.extend(res.keys.iter().filter(|k| h.key_name(k.key) == name));
    }
    draw.extend(res.violations().take(MAX_KEYS));
    if draw.is_empty() {
        if let Some(k) = res.keys.iter().find(|k| k.verdict == KeyVerdict::Unknown) {
            draw.push(k);
        } else if let Some(k) = res.keys.iter().max_by_key(|k| k.ops.len()) {
            draw.push(k);
        }
    }
    draw.dedup_by_key(|k| k.key);
    let keys: Vec<Value> = draw.iter().map(|k| key_data(r, k)).collect();
    let mut summary: Vec<&KeyResult> = res.keys.iter().collect();
    summary.sort_by_key(|k| {
        (
            k.verdict == KeyVerdict::Linearizable,
            std::cmp::Reverse(k.ops.len()),
        )
    });
    let summary: Vec<Value> = summary
        .iter()
        .take(200)
        .map(|k| json!({"key": h.key_name(k.key), "verdict": k.verdict, "ops": k.ops.len(), "info": k.info, "s": secs(k.time)}))
        .collect();
    let faults: Vec<Value> = r
        .faults
        .iter()
        .map(|f| json!({"fault": f.fault, "detail": f.detail, "start": f.start, "end": f.end}))
        .collect();
    let data = json!({
        "verdict": res.verdict,
        "model": res.model,
        "source": r.source,
        "ops": h.ops.len(),
        "nkeys": res.keys.len(),
        "parse_s": secs(r.parse_time),
        "check_s": secs(res.check_time),
        "summary": summary,
        "keys": keys,
        "faults": faults,
    });
    // Safe inside <script>: no '<' at all in the JSON text.
    let data = data.to_string().replace('<', "\\u003c");
    TEMPLATE
        .replace("__TITLE__", &escape_html(r.source))
        .replace("__DATA__", &data)
}

const TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>sdr-check: __TITLE__</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:.2em 0} h2{font-size:1.15em;margin:1.2em 0 .4em}
.verdict-linearizable{color:#1a7f37}.verdict-not_linearizable{color:#c62828}.verdict-unknown{color:#b26a00}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}
tr.bad td{background:#fdecea} .scroll{overflow-x:auto;border:1px solid #ccc;margin:.5em 0}
.tabs button{margin-right:.4em;padding:.2em .8em;cursor:pointer}.tabs button.active{font-weight:bold;border:2px solid #333}
svg text{font:11px monospace;pointer-events:none}
.op rect{fill:#9ec5fe;stroke:#1f5fbf;stroke-width:1}
.op.linearized rect{fill:#b7e4c7;stroke:#2d6a4f}
.op.info rect{fill:#fff3cd;stroke:#b26a00;stroke-dasharray:4 3}
.op.fail rect{fill:#e9ecef;stroke:#6c757d}
.op.unplaced rect{stroke:#c62828;stroke-width:2}
.op.offending rect{fill:#ff8a80;stroke:#b71c1c;stroke-width:3}
.op:hover rect{stroke-width:3}
.fault{fill:#ffcdd2;opacity:.35}.fault-label{fill:#b71c1c}
.lin{fill:#2d6a4f;font-weight:bold}.mark{fill:#b71c1c;font-weight:bold}
.legend span{display:inline-block;margin-right:1em}.sw{display:inline-block;width:18px;height:10px;border:1px solid #555;vertical-align:middle;margin-right:4px}
</style></head><body>
<h1 id="verdict"></h1><div id="meta"></div>
<div id="explain"></div>
<div class="tabs" id="tabs"></div>
<div id="key-title"></div>
<div class="legend">
<span><i class="sw" style="background:#b7e4c7"></i>linearized (number = position)</span>
<span><i class="sw" style="background:#9ec5fe"></i>not placed</span>
<span><i class="sw" style="background:#ff8a80"></i>offending op</span>
<span><i class="sw" style="background:#fff3cd"></i>info (open-ended)</span>
<span><i class="sw" style="background:#e9ecef"></i>failed cas (observation)</span>
<span><i class="sw" style="background:#ffcdd2"></i>fault</span></div>
<div class="scroll" id="timeline"></div>
<h2>Linearization</h2><div id="order"></div>
<h2>Keys</h2><div id="summary"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const NS = "http://www.w3.org/2000/svg";
function el(tag, attrs, parent, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(NS, tag.slice(4)) : document.createElement(tag);
  for (const k in (attrs || {})) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
const vtext = {linearizable: "linearizable", not_linearizable: "NOT linearizable", unknown: "unknown", skipped: "skipped"};
const h1 = document.getElementById("verdict");
h1.textContent = vtext[D.verdict] + " — " + D.source;
h1.className = "verdict-" + D.verdict;
document.getElementById("meta").textContent =
  `model ${D.model}; ${D.ops.toLocaleString("en-US")} ops, ${D.nkeys} keys; parse ${D.parse_s} s, check ${D.check_s} s`;

function drawKey(k) {
  const tl = document.getElementById("timeline"); tl.innerHTML = "";
  const ord = document.getElementById("order"); ord.innerHTML = "";
  document.getElementById("key-title").textContent =
    `key ${JSON.stringify(k.key)}: ${vtext[k.verdict]}; showing ${k.shown} of ${k.total_ops} ops`;
  const ex = document.getElementById("explain"); ex.innerHTML = "";
  if (k.offending !== null) {
    el("p", {}, ex, `Key ${JSON.stringify(k.key)}: after the longest linearizable prefix (${k.order_len} ops, state ${k.state_before}), ` +
      `no order of the ${k.unplaced.length} pending op(s) lets "${k.offending_desc}" take effect before it returned. It is marked in red.`);
  }
  if (k.window) {
    el("p", {}, ex, `Smallest counterexample: these ${k.window.length} op(s) are already not linearizable on their own (from an unknown initial state):`);
    const ul = el("ul", {id: "window"}, ex);
    k.window.forEach(o => el("li", {}, ul, `process ${o.p}, line ${o.line}: ${o.d}`));
  }
  const pos = new Map(); k.order.forEach(o => pos.set(o.id, o.n));
  const unpl = new Set(k.unplaced);
  const procs = [...new Set(k.ops.map(o => o.p))].sort((a, b) => a - b);
  const row = new Map(); procs.forEach((p, i) => row.set(p, i));
  let tmin = Infinity, tmax = -Infinity;
  for (const o of k.ops) { tmin = Math.min(tmin, o.c); tmax = Math.max(tmax, o.r === null ? o.c : o.r); }
  if (!isFinite(tmin)) { tmin = 0; tmax = 1; }
  const span0 = Math.max(1, tmax - tmin);
  const tend = tmax + span0 * 0.04;
  const left = 90, top = 24, rowH = 30, W = Math.max(900, Math.min(8000, k.ops.length * 16)) , right = 30;
  const H = top + procs.length * rowH + 20;
  const x = t => left + (t - tmin) / (tend - tmin) * (W - left - right);
  const svg = el("svg:svg", {width: W, height: H, id: "timeline-svg", "data-key": k.key}, tl);
  // fault intervals
  for (const f of D.faults) {
    const s = Math.max(f.start, tmin), e = Math.min(f.end === null ? tend : f.end, tend);
    if (e < tmin || s > tend) continue;
    const g = el("svg:g", {class: "fault-g"}, svg);
    el("svg:rect", {class: "fault", x: x(s), y: top - 4, width: Math.max(2, x(e) - x(s)), height: H - top}, g);
    el("svg:text", {class: "fault-label", x: x(s) + 2, y: top - 8}, g, f.fault + (f.detail ? " " + f.detail : ""));
    el("svg:title", {}, g, `${f.fault} ${f.detail} [${f.start}, ${f.end === null ? "∞" : f.end}]`);
  }
  procs.forEach((p, i) => {
    el("svg:text", {x: 4, y: top + i * rowH + 17}, svg, "process " + p);
    el("svg:line", {x1: left, x2: W - right, y1: top + i * rowH + rowH - 2, y2: top + i * rowH + rowH - 2, stroke: "#eee"}, svg);
  });
  for (const o of k.ops) {
    const cls = ["op"];
    if (o.t === "info") cls.push("info");
    if (o.t === "fail") cls.push("fail");
    if (pos.has(o.id)) cls.push("linearized");
    if (unpl.has(o.id)) cls.push("unplaced");
    const off = o.id === k.offending;
    if (off) cls.push("offending");
    const g = el("svg:g", {class: cls.join(" "), "data-op": o.id}, svg);
    if (off) g.setAttribute("data-offending", "true");
    const y = top + row.get(o.p) * rowH + 4;
    const x0 = x(o.c), x1 = o.r === null ? W - right : Math.max(x(o.r), x0 + 3);
    el("svg:rect", {x: x0, y: y, width: x1 - x0, height: rowH - 10, rx: 3}, g);
    if (o.r === null) el("svg:text", {x: x1 - 8, y: y + 14}, g, "▶");
    const label = (pos.has(o.id) ? "#" + pos.get(o.id) + " " : "") + o.d;
    const maxc = Math.max(0, Math.floor((x1 - x0 - 4) / 6.6));
    el("svg:text", {x: x0 + 3, y: y + 14, class: pos.has(o.id) ? "lin" : (off ? "mark" : "")}, g,
       label.length > maxc ? label.slice(0, Math.max(0, maxc - 1)) + (maxc > 1 ? "…" : "") : label);
    el("svg:title", {}, g, `${o.d}\nprocess ${o.p}, line ${o.line}\n[${o.c}, ${o.r === null ? "∞ (info)" : o.r}]` +
       (pos.has(o.id) ? `\nlinearized #${pos.get(o.id)}` : "") + (off ? "\nOFFENDING: cannot be placed" : ""));
  }
  // linearization table
  const t = el("table", {}, ord);
  el("tr", {}, t).innerHTML = "<th>#</th><th>op</th><th>state after</th>";
  if (k.order.length < k.order_len) el("tr", {}, t).innerHTML = `<td colspan=3>… ${k.order_len - k.order.length} earlier ops</td>`;
  for (const o of k.order) { const r = el("tr", {}, t); el("td", {}, r, o.n); el("td", {}, r, o.d); el("td", {}, r, o.s); }
  if (k.offending !== null) {
    const r = el("tr", {class: "bad", id: "offending-row"}, t);
    el("td", {}, r, "✗"); el("td", {}, r, k.offending_desc); el("td", {}, r, "cannot be placed after state " + k.state_before);
  }
}

const tabs = document.getElementById("tabs");
D.keys.forEach((k, i) => {
  const b = el("button", {}, tabs, `${k.key} (${vtext[k.verdict]})`);
  b.onclick = () => { [...tabs.children].forEach(c => c.classList.remove("active")); b.classList.add("active"); drawKey(k); };
  if (i === 0) b.classList.add("active");
});
if (D.keys.length) drawKey(D.keys[0]);
const st = el("table", {}, document.getElementById("summary"));
el("tr", {}, st).innerHTML = "<th>key</th><th>verdict</th><th>ops</th><th>info</th><th>check s</th>";
for (const s of D.summary) {
  const r = el("tr", {class: s.verdict === "not_linearizable" ? "bad" : ""}, st);
  [s.key, vtext[s.verdict], s.ops, s.info, s.s].forEach(v => el("td", {}, r, v));
}
if (D.nkeys > D.summary.length) el("p", {}, document.getElementById("summary"), `… and ${D.nkeys - D.summary.length} more keys (see result.json)`);
document.body.setAttribute("data-rendered", "true");
</script></body></html>
"##;
