//! Reports for transactional checks: `result.json` (the [`TxnResult`]) and a
//! self-contained `report.html`: the verdict per consistency level, the
//! anomaly counts, and for each reported anomaly its explanation and, for a
//! cycle, an SVG drawing (`<svg class="cycle">`): one box per transaction
//! (`<g class="txn">`) on a circle, one labelled arrow per edge
//! (`<g class="edge ww|wr|rw|process|realtime">`). Drawn server-side, so the
//! page needs no script and no network.

use super::{Anomaly, Level, TxnHistory, TxnResult};
use crate::report::html::escape_html as esc;
use std::fmt::Write as _;
use std::path::Path;

/// Writes `result.json` and `report.html` into `dir` (created if missing).
pub fn write_report(dir: &Path, h: &TxnHistory, r: &TxnResult) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut j = serde_json::to_value(r).map_err(std::io::Error::other)?;
    j["history"] =
        serde_json::json!({ "events": h.events, "txns": h.txns.len(), "keys": h.keys.len() });
    let text = serde_json::to_string_pretty(&j).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("result.json"), text + "\n")?;
    std::fs::write(dir.join("report.html"), report_html(h, r))
}

const BOX_W: f64 = 300.0;
const BOX_H: f64 = 54.0;

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The SVG of one cycle.
pub fn cycle_svg(a: &Anomaly) -> String {
    let n = a.cycle.len();
    if n == 0 {
        return String::new();
    }
    let radius = if n <= 2 {
        170.0
    } else {
        90.0 * n as f64 / std::f64::consts::PI + 120.0
    };
    let (cx, cy) = (radius + BOX_W / 2.0 + 20.0, radius + BOX_H + 20.0);
    let (w, hgt) = (2.0 * cx, 2.0 * cy);
    let pos: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let ang =
                -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            (cx + radius * ang.cos(), cy + radius * ang.sin())
        })
        .collect();
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="cycle" data-class="{}" xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{hgt:.0}" viewBox="0 0 {w:.0} {hgt:.0}">"#,
        esc(&a.class)
    );
    s.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#444"/></marker></defs>"##);
    for (i, st) in a.cycle.iter().enumerate() {
        let (x1, y1) = pos[i];
        let (x2, y2) = pos[(i + 1) % n];
        // Endpoints on the box borders (approximately), curved outward so
        // a 2-cycle's arrows do not overlap.
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let shrink = |x: f64, y: f64, sx: f64, sy: f64| {
            let tx = if sx.abs() > 1e-9 {
                (BOX_W / 2.0 + 6.0) / sx.abs()
            } else {
                f64::INFINITY
            };
            let ty = if sy.abs() > 1e-9 {
                (BOX_H / 2.0 + 6.0) / sy.abs()
            } else {
                f64::INFINITY
            };
            let t = tx.min(ty);
            (x + sx * t, y + sy * t)
        };
        let (ux, uy) = (dx / len, dy / len);
        let (ax, ay) = shrink(x1, y1, ux, uy);
        let (bx, by) = shrink(x2, y2, -ux, -uy);
        let bend = if n == 2 { 60.0 } else { 25.0 };
        let (mx, my) = ((ax + bx) / 2.0 - uy * bend, (ay + by) / 2.0 + ux * bend);
        let kind = st.edge.name();
        let _ = write!(
            s,
            r#"<g class="edge {kind}" data-from="{}"><path d="M{ax:.1},{ay:.1} Q{mx:.1},{my:.1} {bx:.1},{by:.1}" marker-end="url(#arrow)"/><text x="{mx:.1}" y="{my:.1}" text-anchor="middle">{kind}</text><title>{}</title></g>"#,
            st.txn.index,
            esc(&st.why)
        );
    }
    for (i, st) in a.cycle.iter().enumerate() {
        let (x, y) = pos[i];
        let _ = write!(
            s,
            r#"<g class="txn" data-index="{}"><rect x="{:.1}" y="{:.1}" width="{BOX_W}" height="{BOX_H}" rx="6"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="name">T{} · process {} · line {} · {}</text><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text><title>{}</title></g>"#,
            st.txn.index,
            x - BOX_W / 2.0,
            y - BOX_H / 2.0,
            y - 6.0,
            st.txn.index,
            st.txn.process,
            st.txn.line,
            match st.txn.ty {
                super::TxnType::Ok => "ok",
                super::TxnType::Fail => "fail",
                super::TxnType::Info => "info",
            },
            y + 14.0,
            esc(&truncate(&st.txn.mops, 40)),
            esc(&st.txn.mops)
        );
    }
    s.push_str("</svg>");
    s
}

/// The `report.html` page.
pub fn report_html(h: &TxnHistory, r: &TxnResult) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>sdr-check: ");
    s.push_str(r.model.name());
    s.push_str("</title><style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:.2em 0} h2{font-size:1.15em;margin:1.2em 0 .4em}
.valid{color:#1a7f37}.invalid{color:#c62828}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}
td.no{background:#fdecea}td.yes{background:#e6f4ea}
.anomaly{border:1px solid #ccc;margin:.8em 0;padding:.5em .8em}
ol.steps li{margin:.2em 0} code{font-size:12px}
svg text{font:12px monospace} svg text.name{font-weight:bold}
.txn rect{fill:#e7f0fe;stroke:#1f5fbf;stroke-width:1.2}
.edge path{fill:none;stroke:#444;stroke-width:1.5}
.edge.ww path{stroke:#1f5fbf}.edge.wr path{stroke:#2d6a4f}.edge.rw path{stroke:#c62828;stroke-dasharray:6 3}
.edge.realtime path,.edge.process path{stroke:#6c757d;stroke-dasharray:2 3}
.edge text{fill:#111;font-weight:bold}
</style></head><body>");
    let _ = write!(
        s,
        "<h1>{} history: <span class=\"{}\">{}</span> at {}</h1>",
        r.model.name(),
        if r.valid { "valid" } else { "invalid" },
        if r.valid { "valid" } else { "INVALID" },
        r.consistency.name()
    );
    let _ = write!(
        s,
        "<p>{} transactions ({} ok, {} fail, {} info), {} keys, {} dependency edges, {} cyclic components; checked in {:.3} s{}.</p>",
        h.txns.len(),
        r.txns.ok,
        r.txns.fail,
        r.txns.info,
        h.keys.len(),
        r.edges,
        r.cyclic_components,
        r.check_time.as_secs_f64(),
        if r.search_truncated { "; the cycle search budget ran out (some classes may be reported stronger than they are)" } else { "" }
    );
    s.push_str("<h2>Consistency levels</h2><table><tr>");
    for l in Level::ALL {
        let _ = write!(s, "<th>{}</th>", l.name());
    }
    s.push_str("</tr><tr>");
    for l in Level::ALL {
        let ok = r.levels.get(l);
        let _ = write!(
            s,
            "<td class=\"{}\" data-level=\"{}\">{}</td>",
            if ok { "yes" } else { "no" },
            l.name(),
            if ok { "holds" } else { "violated" }
        );
    }
    s.push_str("</tr></table>");
    if !r.anomaly_counts.is_empty() {
        s.push_str("<h2>Anomalies</h2><table><tr><th>class</th><th>found</th><th>weakest level it violates</th></tr>");
        for (c, n) in &r.anomaly_counts {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{n}</td><td>{}</td></tr>",
                esc(c),
                Level::weakest_forbidding(c).name()
            );
        }
        s.push_str("</table>");
    }
    for (i, a) in r.anomalies.iter().enumerate() {
        let _ = write!(
            s,
            "<div class=\"anomaly\" id=\"anomaly-{i}\" data-class=\"{}\"><h2>{} #{}</h2><p>{}</p>",
            esc(&a.class),
            esc(&a.class),
            i + 1,
            esc(&a.explanation)
        );
        if !a.cycle.is_empty() {
            s.push_str("<ol class=\"steps\">");
            for st in &a.cycle {
                let _ = write!(
                    s,
                    "<li><b>T{}</b> <code>{}</code> —{}→ {}</li>",
                    st.txn.index,
                    esc(&st.txn.mops),
                    st.edge.name(),
                    esc(&st.why)
                );
            }
            s.push_str("</ol>");
            s.push_str(&cycle_svg(a));
        } else if !a.txns.is_empty() {
            s.push_str("<ul>");
            for t in &a.txns {
                let _ = write!(
                    s,
                    "<li><b>T{}</b> (process {}, line {}, {:?}) <code>{}</code></li>",
                    t.index,
                    t.process,
                    t.line,
                    t.ty,
                    esc(&t.mops)
                );
            }
            s.push_str("</ul>");
        }
        s.push_str("</div>");
    }
    s.push_str("</body></html>\n");
    s
}
