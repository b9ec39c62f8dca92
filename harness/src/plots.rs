//! Jepsen-style latency and rate graphs of a run (`plots.html`): every
//! operation's latency against the time it was invoked, and completions per
//! second by outcome, with fault intervals shaded. Self-contained SVG, no
//! scripts; built from `history.jsonl` and `nemesis.jsonl` alone.

use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;

/// One completed operation.
#[derive(Clone, Debug, PartialEq)]
pub struct OpPoint {
    /// Invocation time, seconds from the first event.
    pub t: f64,
    /// Latency in milliseconds.
    pub latency_ms: f64,
    /// `ok`, `fail` or `info`.
    pub outcome: String,
    pub f: String,
    /// How many completed ops this point stands for: 1, or more once a long history's
    /// `ok` points are sampled (see [`MAX_OK_POINTS`]).
    pub weight: u32,
}

/// At most this many `ok` points are kept (every `fail` and `info` is): beyond it every
/// other kept `ok` point is dropped and each survivor counts for twice as many ops, so a
/// history of any length plots in bounded memory, with exact rates up to the sampling.
pub const MAX_OK_POINTS: usize = 40_000;

/// One fault interval (seconds from the first event of the history).
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpan {
    pub start: f64,
    pub stop: f64,
    pub fault: String,
    pub detail: String,
}

/// Pairs invocations with completions (per process). Returns the points and the time origin (ns).
pub fn ops_from_history(text: &str) -> (Vec<OpPoint>, i64) {
    ops_from_reader(text.as_bytes())
}

/// [`ops_from_history`] reading line by line (a long run's history is never held whole),
/// sampling `ok` points beyond [`MAX_OK_POINTS`].
pub fn ops_from_reader<R: std::io::BufRead>(r: R) -> (Vec<OpPoint>, i64) {
    let mut open: HashMap<i64, (i64, String)> = HashMap::new();
    let mut out: Vec<OpPoint> = Vec::new();
    let mut origin = None;
    // Keep one `ok` in `stride`; `oks` = ok points kept, `seen` = ok ops since the last kept.
    let (mut stride, mut oks, mut seen) = (1u32, 0usize, 0u32);
    for line in r.lines() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let (Some(p), Some(t), Some(ty)) = (
            v["process"].as_i64(),
            v["time"].as_i64(),
            v["type"].as_str(),
        ) else {
            continue;
        };
        let o = *origin.get_or_insert(t);
        if ty == "invoke" {
            open.insert(p, (t, v["f"].as_str().unwrap_or("").to_string()));
        } else if let Some((t0, f)) = open.remove(&p) {
            if ty == "ok" {
                seen += 1;
                if seen < stride {
                    continue;
                }
                seen = 0;
                oks += 1;
            }
            out.push(OpPoint {
                t: (t0 - o) as f64 / 1e9,
                latency_ms: (t - t0).max(0) as f64 / 1e6,
                outcome: ty.to_string(),
                f,
                weight: if ty == "ok" { stride } else { 1 },
            });
            if oks > MAX_OK_POINTS {
                // Thin the kept ok points by half; each survivor stands for twice as many.
                let mut i = 0usize;
                out.retain_mut(|p| {
                    if p.outcome != "ok" {
                        return true;
                    }
                    i += 1;
                    p.weight = p.weight.saturating_mul(2);
                    i % 2 == 1
                });
                oks = oks.div_ceil(2);
                stride = stride.saturating_mul(2);
            }
        }
    }
    (out, origin.unwrap_or(0))
}

/// Fault intervals from `nemesis.jsonl` (start/stop pairs per fault name, in order), skipped ones left out.
pub fn spans_from_nemesis(text: &str, origin: i64, end: f64) -> Vec<FaultSpan> {
    let mut open: HashMap<String, Vec<(f64, String, bool)>> = HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let (Some(t), Some(ty), Some(f)) =
            (v["time"].as_i64(), v["type"].as_str(), v["fault"].as_str())
        else {
            continue;
        };
        let t = (t - origin) as f64 / 1e9;
        let skipped = v["outcome"].as_str() == Some("skipped");
        let detail = v["detail"].as_str().unwrap_or("").to_string();
        if ty == "start" {
            open.entry(f.to_string())
                .or_default()
                .push((t, detail, skipped));
        } else if let Some((s, d, sk)) = open.get_mut(f).and_then(|v| {
            if v.is_empty() {
                None
            } else {
                Some(v.remove(0))
            }
        }) {
            if !sk {
                out.push(FaultSpan {
                    start: s,
                    stop: t.max(s),
                    fault: f.to_string(),
                    detail: d,
                });
            }
        }
    }
    for (f, v) in open {
        for (s, d, sk) in v {
            if !sk {
                out.push(FaultSpan {
                    start: s,
                    stop: end.max(s),
                    fault: f.clone(),
                    detail: d,
                });
            }
        }
    }
    out.sort_by(|a, b| a.start.total_cmp(&b.start));
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(outcome: &str) -> &'static str {
    match outcome {
        "ok" => "#2b8a3e",
        "fail" => "#c92a2a",
        _ => "#e8890c",
    }
}

fn fault_color(f: &str) -> &'static str {
    match f {
        "partition" => "#74c0fc",
        "kill" | "torn-wal" | "terminate" => "#ffa8a8",
        "pause" => "#d0bfff",
        "latency" => "#ffe066",
        _ => "#ced4da",
    }
}

const W: f64 = 900.0;
const H: f64 = 300.0;
const L: f64 = 60.0;
const R: f64 = 20.0;
const T: f64 = 20.0;
const B: f64 = 40.0;

fn frame(
    svg: &mut String,
    title: &str,
    t_end: f64,
    spans: &[FaultSpan],
    y_label: &str,
    ticks: &[(f64, String)],
    y_of: &dyn Fn(f64) -> f64,
) {
    let x = |t: f64| L + (W - L - R) * (t / t_end.max(1e-9));
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        svg,
        r#"<text x="{L}" y="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    for s in spans {
        let (a, b) = (x(s.start), x(s.stop).max(x(s.start) + 1.5));
        let _ = write!(
            svg,
            r#"<rect x="{a:.1}" y="{T}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.35"><title>{} {:.2}–{:.2} s: {}</title></rect>"#,
            b - a,
            H - T - B,
            fault_color(&s.fault),
            esc(&s.fault),
            s.start,
            s.stop,
            esc(&s.detail)
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{L}" y="{T}" width="{}" height="{}" fill="none" stroke="#495057"/>"##,
        W - L - R,
        H - T - B
    );
    for (v, label) in ticks {
        let y = y_of(*v);
        let _ = write!(
            svg,
            r##"<line x1="{L}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#dee2e6"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - R,
            L - 4.0,
            y + 4.0,
            esc(label)
        );
    }
    let step = nice_step(t_end / 10.0);
    let mut t = 0.0;
    while t <= t_end + 1e-9 {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(t),
            H - B + 14.0,
            fmt_num(t)
        );
        t += step;
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">time (s)</text>"#,
        (L + W - R) / 2.0,
        H - 6.0
    );
    let _ = write!(
        svg,
        r#"<text x="12" y="{}" transform="rotate(-90 12 {})" text-anchor="middle">{}</text>"#,
        H / 2.0,
        H / 2.0,
        esc(y_label)
    );
}

fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= raw {
            return m * p;
        }
    }
    10.0 * p
}

fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// Latency (log scale) of every op against its invocation time.
pub fn latency_svg(ops: &[OpPoint], spans: &[FaultSpan], t_end: f64) -> String {
    let max = ops
        .iter()
        .map(|o| o.latency_ms)
        .fold(1.0f64, f64::max)
        .max(10.0);
    let (lo, hi) = (0.1f64.log10(), max.log10().ceil());
    let y_of = move |ms: f64| T + (H - T - B) * (1.0 - (ms.max(0.1).log10() - lo) / (hi - lo));
    let mut ticks = Vec::new();
    let mut d: f64 = 0.1;
    while d.log10() <= hi + 1e-9 {
        ticks.push((
            d,
            if d < 1.0 {
                format!("{d}")
            } else {
                format!("{}", d as i64)
            },
        ));
        d *= 10.0;
    }
    let mut svg = String::new();
    frame(
        &mut svg,
        "Latency of each operation (ms, log scale) by invocation time",
        t_end,
        spans,
        "latency (ms)",
        &ticks,
        &y_of,
    );
    let x = |t: f64| L + (W - L - R) * (t / t_end.max(1e-9));
    for o in ops {
        let _ = write!(
            svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="{}" fill-opacity="0.6"/>"#,
            x(o.t),
            y_of(o.latency_ms),
            color(&o.outcome)
        );
    }
    legend(&mut svg);
    svg.push_str("</svg>");
    svg
}

fn legend(svg: &mut String) {
    for (i, k) in ["ok", "fail", "info"].iter().enumerate() {
        let x = W - R - 180.0 + i as f64 * 60.0;
        let _ = write!(
            svg,
            r#"<circle cx="{x}" cy="10" r="4" fill="{}"/><text x="{}" y="14">{k}</text>"#,
            color(k),
            x + 7.0
        );
    }
}

/// Completions per second (by outcome), bucketed by completion time.
pub fn rate_svg(ops: &[OpPoint], spans: &[FaultSpan], t_end: f64) -> String {
    let bucket = if t_end > 120.0 { 5.0 } else { 1.0 };
    let n = (t_end / bucket).ceil().max(1.0) as usize;
    let mut counts: HashMap<&str, Vec<f64>> = HashMap::new();
    for o in ops {
        let done = o.t + o.latency_ms / 1000.0;
        let i = ((done / bucket) as usize).min(n - 1);
        counts
            .entry(o.outcome.as_str())
            .or_insert_with(|| vec![0.0; n])[i] += o.weight as f64 / bucket;
    }
    let max = counts
        .values()
        .flat_map(|v| v.iter().copied())
        .fold(1.0f64, f64::max);
    let top = nice_step(max / 4.0) * 4.0_f64.max((max / nice_step(max / 4.0)).ceil());
    let y_of = move |r: f64| T + (H - T - B) * (1.0 - r / top);
    let ticks: Vec<(f64, String)> = (0..=4)
        .map(|i| (top * i as f64 / 4.0, fmt_num(top * i as f64 / 4.0)))
        .collect();
    let mut svg = String::new();
    frame(
        &mut svg,
        "Throughput: completions per second by outcome",
        t_end,
        spans,
        "ops/s",
        &ticks,
        &y_of,
    );
    let x = |t: f64| L + (W - L - R) * (t / t_end.max(1e-9));
    for k in ["ok", "fail", "info"] {
        let Some(v) = counts.get(k) else { continue };
        let pts: Vec<String> = v
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "{:.1},{:.1}",
                    x(((i as f64 + 0.5) * bucket).min(t_end)),
                    y_of(*r)
                )
            })
            .collect();
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
            pts.join(" "),
            color(k)
        );
    }
    legend(&mut svg);
    svg.push_str("</svg>");
    svg
}

/// The whole `plots.html` page.
pub fn plots_html(title: &str, history: &str, nemesis: &str) -> String {
    plots_html_from(title, history.as_bytes(), nemesis)
}

/// [`plots_html`] reading the history line by line.
pub fn plots_html_from<R: std::io::BufRead>(title: &str, history: R, nemesis: &str) -> String {
    let (ops, origin) = ops_from_reader(history);
    let total: u64 = ops.iter().map(|o| o.weight as u64).sum();
    let sampled = ops.iter().any(|o| o.weight > 1);
    let t_end = ops
        .iter()
        .map(|o| o.t + o.latency_ms / 1000.0)
        .fold(1.0f64, f64::max);
    let spans = spans_from_nemesis(nemesis, origin, t_end);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{0} — latency and rate</title>\
         <style>body{{font-family:sans-serif;margin:20px}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:2px 6px;font-size:12px}}</style>\
         </head><body><h2>{0}</h2><p>{1} operations{2}; shaded: fault intervals (hover for details). <a href=\"report.html\">checker report</a></p>",
        esc(title),
        total,
        if sampled {
            format!(" ({} drawn: ok operations sampled, every fail and info drawn)", ops.len())
        } else {
            String::new()
        }
    );
    h.push_str(&latency_svg(&ops, &spans, t_end));
    h.push_str("<br>");
    h.push_str(&rate_svg(&ops, &spans, t_end));
    h.push_str("<h3>Faults</h3><table><tr><th>fault</th><th>start (s)</th><th>stop (s)</th><th>detail</th></tr>");
    for s in &spans {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
            esc(&s.fault),
            s.start,
            s.stop,
            esc(&s.detail)
        );
    }
    h.push_str("</table></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const HIST: &str = r#"{"process":0,"type":"invoke","f":"write","key":"k","value":1,"time":1000000000}
{"process":1,"type":"invoke","f":"read","key":"k","value":null,"time":1100000000}
{"process":0,"type":"ok","f":"write","key":"k","value":1,"time":1005000000}
{"process":1,"type":"info","f":"read","key":"k","value":null,"time":3100000000}
"#;
    const NEM: &str = r#"{"time":1500000000,"type":"start","fault":"kill","detail":"n1","outcome":"installed"}
{"time":2500000000,"type":"stop","fault":"kill","detail":"n1","outcome":"installed"}
{"time":2600000000,"type":"start","fault":"pause","detail":"no leader","outcome":"skipped"}
{"time":2600000000,"type":"stop","fault":"pause","detail":"not installed","outcome":"skipped"}
{"time":2700000000,"type":"start","fault":"partition","detail":"n1 | n2 n3","outcome":"installed"}
"#;

    #[test]
    fn long_histories_sample_ok_points_and_keep_every_fail() {
        let mut h = String::new();
        let n = 200_000u64;
        for i in 0..n {
            let ty = if i % 1000 == 7 { "fail" } else { "ok" };
            let t = i as i64 * 1_000_000;
            h.push_str(&format!(
                "{{\"process\":{},\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\",\"time\":{t}}}\n\
                 {{\"process\":{},\"type\":\"{ty}\",\"f\":\"read\",\"key\":\"k\",\"time\":{}}}\n",
                i % 8,
                i % 8,
                t + 500_000
            ));
        }
        let (ops, _) = ops_from_reader(h.as_bytes());
        let oks = ops.iter().filter(|o| o.outcome == "ok").count();
        let fails = ops.iter().filter(|o| o.outcome == "fail").count();
        assert!(oks <= MAX_OK_POINTS + 1, "{oks}");
        assert!(oks > MAX_OK_POINTS / 4, "{oks}");
        assert_eq!(fails, 200);
        let total: u64 = ops.iter().map(|o| o.weight as u64).sum();
        assert!(total.abs_diff(n) < n / 10, "{total} stands for {n}");
        // Points stay in time order.
        assert!(ops.windows(2).all(|w| w[0].t <= w[1].t));
    }

    #[test]
    fn pairs_ops_and_faults() {
        let (ops, origin) = ops_from_history(HIST);
        assert_eq!(origin, 1_000_000_000);
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].outcome, "ok");
        assert!((ops[0].latency_ms - 5.0).abs() < 1e-9);
        assert!((ops[1].t - 0.1).abs() < 1e-9);
        assert_eq!(ops[1].outcome, "info");
        let spans = spans_from_nemesis(NEM, origin, 4.0);
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert_eq!(spans[0].fault, "kill");
        assert!((spans[0].start - 0.5).abs() < 1e-9 && (spans[0].stop - 1.5).abs() < 1e-9);
        assert_eq!(spans[1].fault, "partition");
        assert_eq!(spans[1].stop, 4.0, "an open fault lasts until the end");
    }

    #[test]
    fn page_has_both_plots_and_shading() {
        let h = plots_html("t seed 1", HIST, NEM);
        assert_eq!(h.matches("<svg").count(), 2);
        assert!(h.contains("fill=\"#ffa8a8\""), "kill shading");
        assert!(h.contains("<polyline"));
        assert!(h.contains("report.html"));
    }
}
