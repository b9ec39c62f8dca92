//! Streaming per-key check for long runs (`check: streaming`, docs/chaos.md "Long runs").
//!
//! With independent keys (`ops-per-key`), a key's history is complete once the key has
//! retired, its close read has completed and none of its ops is still in flight: no later
//! op can name it. So a run of any length can be checked while it runs, one finished key
//! at a time, and forgotten: the harness holds the events of the live keys only, memory
//! stays flat however long the run, and the progress bar shows the keys checked so far.
//!
//! The [`crate::recorder::Recorder`] taps every history line it writes into this checker
//! ([`StreamingCheck::tap`]); the runner closes a key ([`Tap::close`]) after its
//! close read (retired keys during the run, the live keys after the final reads). A
//! background thread groups the lines by key and checks each closed key with
//! [`sdr_checker::check`] as soon as its in-flight count is zero. It keeps the lines of the
//! keys that were not linearizable or undecided (up to [`KEPT_BAD_KEYS`] of each) and of
//! the keys closed with `keep` (the final generation, a sample for the report); everything
//! else is dropped once checked.
//!
//! Soundness: the per-key check of a key's complete history is the same check the
//! end-of-run checker does on that key's partition, since linearizability is local
//! (Herlihy & Wing): a history is linearizable iff each key's is. What streaming gives up
//! is the final read of retired keys: a write on a key lost after the key's close read is
//! not seen (every key live at the time of the loss still shows it).

use sdr_checker::event::EventKind;
use sdr_checker::models::ModelKind;
use sdr_checker::{KeyVerdict, Options, Verdict};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many not-linearizable (and, separately, undecided) keys keep their lines for the
/// report; later ones are only named.
pub const KEPT_BAD_KEYS: usize = 8;

/// How many violating (and, separately, undecided) keys `result.json` names; the counts
/// are exact beyond it.
pub const NAMED_BAD_KEYS: usize = 1000;

/// One history line on its way to the checker thread.
enum Msg {
    Line {
        key: String,
        line: String,
        kind: EventKind,
    },
    Close {
        key: String,
        keep: bool,
        expect: Option<u64>,
    },
}

/// Counters the progress bar reads while the run goes on.
#[derive(Debug, Default)]
pub struct Progress {
    /// Keys checked so far.
    pub checked: AtomicU64,
    /// Ops (invocations) in the keys checked so far.
    pub ops: AtomicU64,
    pub violations: AtomicU64,
    pub unknown: AtomicU64,
    /// Lines sent to the checker thread and not yet taken by it.
    pub backlog: AtomicU64,
}

/// What the streaming check found, for `result.json` and the verdict.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct StreamOutcome {
    pub keys_checked: u64,
    pub ops_checked: u64,
    pub linearizable: u64,
    /// How many keys were found not linearizable, and the first [`NAMED_BAD_KEYS`] of
    /// them in the order they were checked.
    pub not_linearizable: u64,
    pub violations: Vec<String>,
    /// How many keys the checker could not decide in its budget, and the first ones.
    pub undecided: u64,
    pub unknown: Vec<String>,
    /// Keys that were never closed (the run ended first); checked at the end.
    pub unclosed: u64,
    /// Largest number of keys held at once (flat memory: about the live keys).
    pub max_open_keys: usize,
    #[serde(serialize_with = "secs")]
    pub check_time: Duration,
    /// History lines of the kept keys (violations, undecided, `keep` closes), in history
    /// order per key; the runner checks them once more to write `report.html`.
    #[serde(skip)]
    pub kept_lines: Vec<String>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl StreamOutcome {
    /// The run's verdict from the streamed keys alone.
    pub fn verdict(&self) -> Verdict {
        if self.not_linearizable > 0 {
            Verdict::NotLinearizable
        } else if self.undecided > 0 {
            Verdict::Unknown
        } else {
            Verdict::Linearizable
        }
    }
}

/// The streaming checker: a sender for the recorder's tap and the runner's closes, and the
/// thread that checks.
pub struct StreamingCheck {
    tx: Sender<Msg>,
    progress: Arc<Progress>,
    thread: JoinHandle<StreamOutcome>,
}

/// A cloneable handle that feeds history lines in (the recorder's tap) and closes keys
/// (the runner's close reads).
#[derive(Clone)]
pub struct Tap {
    tx: Sender<Msg>,
    progress: Arc<Progress>,
}

impl Tap {
    /// Hands one written history line to the checker thread. Never blocks; a checker that
    /// has already stopped (the run is ending) drops the line.
    pub fn line(&self, key: &str, line: &str, kind: EventKind) {
        self.progress.backlog.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Msg::Line {
            key: key.to_string(),
            line: line.to_string(),
            kind,
        });
    }

    /// `key` gets no more invocations beyond `expect` in all (when given): check it as soon
    /// as that many have been seen and all have completed. `keep`: keep its lines for the
    /// report even if it is linearizable.
    ///
    /// `expect` closes a race: a client draws an op's key before it records the invocation,
    /// so a key can retire — and be closed — while its last drawn op is not in the history
    /// yet. A retired key had exactly `ops-per-key` ops drawn, plus the close reads, so that
    /// count says when its history is complete; without it a late op would reopen the key as
    /// a fragment with no writes before it (a false violation).
    pub fn close(&self, key: &str, keep: bool, expect: Option<u64>) {
        self.progress.backlog.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Msg::Close {
            key: key.to_string(),
            keep,
            expect,
        });
    }
}

impl StreamingCheck {
    /// Starts the checker thread for `model`; `per_key_timeout` bounds each key's check.
    pub fn start(model: ModelKind, per_key_timeout: Duration) -> std::io::Result<StreamingCheck> {
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::default());
        let p = Arc::clone(&progress);
        let thread = std::thread::Builder::new()
            .name("streaming-check".into())
            .spawn(move || run(rx, model, per_key_timeout, p))?;
        Ok(StreamingCheck {
            tx,
            progress,
            thread,
        })
    }

    /// The handle the recorder writes through.
    pub fn tap(&self) -> Tap {
        Tap {
            tx: self.tx.clone(),
            progress: Arc::clone(&self.progress),
        }
    }

    /// Counters for the progress bar.
    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// Checks whatever is still open and returns the outcome. Every [`Tap`] must be dropped
    /// first (the recorder), or this waits for them.
    pub fn finish(self) -> StreamOutcome {
        drop(self.tx);
        self.thread.join().unwrap_or_default()
    }
}

/// One key's lines while it is open.
#[derive(Default)]
struct OpenKey {
    lines: Vec<String>,
    in_flight: u32,
    invocations: u64,
    closed: bool,
    keep: bool,
    /// The invocations the key will have in all, when known (see [`Tap::close`]).
    expect: Option<u64>,
}

struct State {
    model: ModelKind,
    timeout: Duration,
    progress: Arc<Progress>,
    out: StreamOutcome,
}

impl State {
    fn check(&mut self, key: &str, k: OpenKey) {
        let t0 = Instant::now();
        let text = k.lines.join("\n");
        let verdict = match sdr_checker::history::parse_jsonl_str(&text) {
            Ok(h) => {
                let opts = Options {
                    timeout: Some(self.timeout),
                    ..Options::default()
                };
                match sdr_checker::check(&h, self.model, &opts) {
                    Ok(r) => match r.keys.first().map(|k| k.verdict) {
                        Some(KeyVerdict::NotLinearizable) => Verdict::NotLinearizable,
                        Some(KeyVerdict::Unknown) | Some(KeyVerdict::Skipped) => Verdict::Unknown,
                        Some(KeyVerdict::Linearizable) | None => r.verdict,
                    },
                    Err(e) => {
                        tracing::warn!(key, error = %e, "streaming check: key not checkable");
                        Verdict::Unknown
                    }
                }
            }
            Err(e) => {
                tracing::warn!(key, error = %e, "streaming check: key's lines do not parse");
                Verdict::Unknown
            }
        };
        self.out.check_time += t0.elapsed();
        self.out.keys_checked += 1;
        self.out.ops_checked += k.invocations;
        self.progress.checked.fetch_add(1, Ordering::Relaxed);
        self.progress
            .ops
            .fetch_add(k.invocations, Ordering::Relaxed);
        let keep = match verdict {
            Verdict::Linearizable => {
                self.out.linearizable += 1;
                k.keep
            }
            Verdict::NotLinearizable => {
                self.out.not_linearizable += 1;
                if self.out.violations.len() < NAMED_BAD_KEYS {
                    self.out.violations.push(key.to_string());
                }
                self.progress.violations.fetch_add(1, Ordering::Relaxed);
                k.keep || self.out.not_linearizable <= KEPT_BAD_KEYS as u64
            }
            Verdict::Unknown => {
                self.out.undecided += 1;
                if self.out.unknown.len() < NAMED_BAD_KEYS {
                    self.out.unknown.push(key.to_string());
                }
                self.progress.unknown.fetch_add(1, Ordering::Relaxed);
                k.keep || self.out.undecided <= KEPT_BAD_KEYS as u64
            }
        };
        if keep {
            self.out.kept_lines.extend(k.lines);
        }
    }
}

fn run(
    rx: Receiver<Msg>,
    model: ModelKind,
    timeout: Duration,
    progress: Arc<Progress>,
) -> StreamOutcome {
    let mut open: HashMap<String, OpenKey> = HashMap::new();
    let mut st = State {
        model,
        timeout,
        progress,
        out: StreamOutcome::default(),
    };
    for msg in rx {
        st.progress.backlog.fetch_sub(1, Ordering::Relaxed);
        let key = match msg {
            Msg::Line { key, line, kind } => {
                let k = open.entry(key.clone()).or_default();
                k.lines.push(line);
                if kind == EventKind::Invoke {
                    k.in_flight += 1;
                    k.invocations += 1;
                } else {
                    k.in_flight = k.in_flight.saturating_sub(1);
                }
                key
            }
            Msg::Close { key, keep, expect } => {
                let k = open.entry(key.clone()).or_default();
                k.closed = true;
                k.keep |= keep;
                k.expect = expect;
                key
            }
        };
        st.out.max_open_keys = st.out.max_open_keys.max(open.len());
        let done = open.get(&key).is_some_and(|k| {
            k.closed && k.in_flight == 0 && k.expect.is_none_or(|e| k.invocations >= e)
        });
        if done {
            if let Some(k) = open.remove(&key) {
                if k.lines.is_empty() {
                    continue; // closed but never used (a slot's last generation unused)
                }
                st.check(&key, k);
            }
        }
    }
    // The run is over: what is still open is complete as far as it will ever be (pending
    // ops stay pending, as `info`). Keep those lines: the report shows the end of the run.
    let mut rest: Vec<(String, OpenKey)> = open.into_iter().collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, mut k) in rest {
        if k.lines.is_empty() {
            continue;
        }
        st.out.unclosed += 1;
        k.keep = true;
        st.check(&key, k);
    }
    st.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(
        p: u64,
        ty: &str,
        f: &str,
        key: &str,
        v: serde_json::Value,
        t: i64,
    ) -> (String, EventKind) {
        let kind = match ty {
            "invoke" => EventKind::Invoke,
            "ok" => EventKind::Ok,
            "fail" => EventKind::Fail,
            _ => EventKind::Info,
        };
        (
            serde_json::json!({"process": p, "type": ty, "f": f, "key": key, "value": v, "time": t})
                .to_string(),
            kind,
        )
    }

    fn feed(tap: &Tap, key: &str, evs: &[(String, EventKind)]) {
        for (l, k) in evs {
            tap.line(key, l, *k);
        }
    }

    #[test]
    fn checks_each_closed_key_and_names_the_violating_one() {
        let sc =
            StreamingCheck::start(ModelKind::Register, Duration::from_secs(10)).expect("thread");
        let tap = sc.tap();
        use serde_json::json;
        // k1: write 1, read 1 — linearizable.
        feed(
            &tap,
            "k1",
            &[
                ev(0, "invoke", "write", "k1", json!(1), 1),
                ev(0, "ok", "write", "k1", json!(1), 2),
                ev(1, "invoke", "read", "k1", json!(null), 3),
                ev(1, "ok", "read", "k1", json!(1), 4),
            ],
        );
        // k2: write 2 completes, then a read returns a value nobody wrote — a violation.
        feed(
            &tap,
            "k2",
            &[
                ev(2, "invoke", "write", "k2", json!(2), 5),
                ev(2, "ok", "write", "k2", json!(2), 6),
                ev(3, "invoke", "read", "k2", json!(null), 7),
                ev(3, "ok", "read", "k2", json!(7), 8),
            ],
        );
        tap.close("k1", false, None);
        tap.close("k2", false, None);
        // k3: an op still in flight when it is closed; its completion arrives later.
        let k3 = [
            ev(4, "invoke", "write", "k3", json!(3), 9),
            ev(4, "ok", "write", "k3", json!(3), 12),
        ];
        tap.line("k3", &k3[0].0, k3[0].1);
        tap.close("k3", true, None);
        let progress = sc.progress();
        tap.line("k3", &k3[1].0, k3[1].1);
        drop(tap);
        let out = sc.finish();
        assert_eq!(out.keys_checked, 3);
        assert_eq!(out.ops_checked, 5);
        assert_eq!(out.violations, vec!["k2".to_string()]);
        assert_eq!(out.verdict(), Verdict::NotLinearizable);
        assert_eq!(out.unclosed, 0);
        assert_eq!(progress.checked.load(Ordering::Relaxed), 3);
        assert_eq!(progress.backlog.load(Ordering::Relaxed), 0);
        // Kept: the violating key and the `keep` one, not the linearizable k1.
        let kept = out.kept_lines.join("\n");
        assert!(kept.contains("\"k2\"") && kept.contains("\"k3\"") && !kept.contains("\"k1\""));
    }

    #[test]
    fn a_key_closed_before_its_last_drawn_op_waits_for_it() {
        use serde_json::json;
        let sc =
            StreamingCheck::start(ModelKind::Register, Duration::from_secs(10)).expect("thread");
        let tap = sc.tap();
        let progress = sc.progress();
        // Two ops drawn on k: the write is recorded, the key is closed expecting 2
        // invocations, then the read (drawn before the close) is recorded.
        feed(
            &tap,
            "k",
            &[
                ev(0, "invoke", "write", "k", json!(5), 1),
                ev(0, "ok", "write", "k", json!(5), 2),
            ],
        );
        tap.close("k", false, Some(2));
        feed(
            &tap,
            "k",
            &[
                ev(1, "invoke", "read", "k", json!(null), 3),
                ev(1, "ok", "read", "k", json!(5), 4),
            ],
        );
        drop(tap);
        let out = sc.finish();
        // One key with both ops, linearizable: not a write-less fragment checked apart.
        assert_eq!((out.keys_checked, out.ops_checked, out.unclosed), (1, 2, 0));
        assert_eq!(out.verdict(), Verdict::Linearizable);
        assert_eq!(progress.checked.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn keys_never_closed_are_checked_at_finish_and_kept() {
        let sc = StreamingCheck::start(ModelKind::Kv, Duration::from_secs(10)).expect("thread");
        let tap = sc.tap();
        use serde_json::json;
        feed(
            &tap,
            "a",
            &[
                ev(0, "invoke", "write", "a", json!(1), 1),
                ev(0, "info", "write", "a", json!(1), 2),
            ],
        );
        drop(tap);
        let out = sc.finish();
        assert_eq!(
            (out.keys_checked, out.unclosed, out.linearizable),
            (1, 1, 1)
        );
        assert_eq!(out.verdict(), Verdict::Linearizable);
        assert_eq!(out.kept_lines.len(), 2);
    }
}
