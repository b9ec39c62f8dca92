//! The recorder: one monotonic time base for the whole run and the two JSONL
//! files written on it — `history.jsonl` (client ops, each line a typed
//! [`sdr_checker::event::Event`], docs/history-format.md)
//! and `nemesis.jsonl` (fault intervals, the checker's `--nemesis` format).
//!
//! Invariants enforced here (not left to callers):
//! - a process has at most one op in flight ([`RecordError::Busy`]);
//! - every invocation gets exactly one completion (an [`Invocation`] is consumed);
//! - after an `info` the process is retired ([`RecordError::Retired`]); the
//!   client continues under a fresh id from [`Recorder::new_process`];
//! - events are timestamped under the file lock, so file order is time order.

use crate::streaming_check::Tap;
use sdr_checker::event::{Event, EventKind};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

/// Recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("process {0} invokes while its op is still in flight")]
    Busy(u64),
    #[error("process {0} was retired after an info completion; continue under a new process id")]
    Retired(u64),
    #[error("writing the history: {0}")]
    Io(#[from] std::io::Error),
    #[error("recorder lock poisoned")]
    Poisoned,
}

/// The run's clock: nanoseconds since the run started.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    t0: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock { t0: Instant::now() }
    }
    pub fn now_ns(&self) -> i64 {
        i64::try_from(self.t0.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }
}

/// How an op ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    /// Took effect; `value` is the result (docs/history-format.md "ok value").
    Ok(Value),
    /// Definitely no effect. `error: None` is only meaningful for a cas whose
    /// comparison failed (the checker keeps it as an observation).
    Fail { error: Option<String> },
    /// Unknown outcome; the process retires.
    Info { error: String },
}

impl Completion {
    /// The history's `type` for this completion.
    pub fn kind(&self) -> EventKind {
        match self {
            Completion::Ok(_) => EventKind::Ok,
            Completion::Fail { .. } => EventKind::Fail,
            Completion::Info { .. } => EventKind::Info,
        }
    }
    pub fn type_name(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// Writes one event as a JSON line (the checker's typed [`Event`]), and hands the same
/// line to the streaming checker's tap when there is one.
fn write_event(out: &mut dyn Write, tap: Option<&Tap>, ev: &Event) -> Result<(), RecordError> {
    match tap {
        None => serde_json::to_writer(&mut *out, ev).map_err(std::io::Error::from)?,
        Some(t) => {
            let line = serde_json::to_string(ev).map_err(std::io::Error::from)?;
            out.write_all(line.as_bytes())?;
            t.line(&ev.key, &line, ev.kind);
        }
    }
    out.write_all(b"\n")?;
    Ok(())
}

/// The history's process id (the checker reads a signed integer).
fn process_id(p: u64) -> i64 {
    i64::try_from(p).unwrap_or(i64::MAX)
}

/// An op in flight; consumed by [`Recorder::complete`].
#[derive(Debug)]
#[must_use = "every invocation must be completed"]
pub struct Invocation {
    pub process: u64,
    pub f: &'static str,
    pub key: String,
    pub value: Value,
    pub time: i64,
}

/// Counters for the progress bar and the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub invoked: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub faults: u64,
}

struct Inner {
    out: Box<dyn Write + Send>,
    /// The streaming checker's input (`check: streaming`), fed under this lock so that
    /// it sees the lines in file order.
    tap: Option<Tap>,
    in_flight: HashMap<u64, i64>,
    retired: HashSet<u64>,
    next_process: u64,
    counts: Counts,
}

/// Records history and nemesis events on one clock.
pub struct Recorder {
    clock: Clock,
    inner: Mutex<Inner>,
    nemesis: Mutex<Box<dyn Write + Send>>,
}

impl Recorder {
    pub fn new(
        clock: Clock,
        history: Box<dyn Write + Send>,
        nemesis: Box<dyn Write + Send>,
    ) -> Recorder {
        Recorder {
            clock,
            inner: Mutex::new(Inner {
                out: history,
                tap: None,
                in_flight: HashMap::new(),
                retired: HashSet::new(),
                next_process: 0,
                counts: Counts::default(),
            }),
            nemesis: Mutex::new(nemesis),
        }
    }

    /// Creates `history.jsonl` and `nemesis.jsonl` in `dir`.
    pub fn create_in(dir: &std::path::Path, clock: Clock) -> Result<Recorder, RecordError> {
        let h = std::fs::File::create(dir.join("history.jsonl"))?;
        let n = std::fs::File::create(dir.join("nemesis.jsonl"))?;
        Ok(Recorder::new(
            clock,
            Box::new(std::io::BufWriter::with_capacity(1 << 16, h)),
            Box::new(std::io::BufWriter::new(n)),
        ))
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, RecordError> {
        self.inner.lock().map_err(|_| RecordError::Poisoned)
    }

    /// From now on every history line also goes to `tap` (the streaming checker).
    pub fn set_tap(&self, tap: Tap) -> Result<(), RecordError> {
        self.lock()?.tap = Some(tap);
        Ok(())
    }

    /// Stops feeding the streaming checker (so that it can finish).
    pub fn clear_tap(&self) {
        if let Ok(mut g) = self.lock() {
            g.tap = None;
        }
    }

    /// A fresh process id.
    pub fn new_process(&self) -> Result<u64, RecordError> {
        let mut g = self.lock()?;
        let p = g.next_process;
        g.next_process += 1;
        Ok(p)
    }

    pub fn counts(&self) -> Counts {
        self.lock().map(|g| g.counts).unwrap_or_default()
    }

    /// Records an invocation.
    pub fn invoke(
        &self,
        process: u64,
        f: &'static str,
        key: &str,
        value: Value,
    ) -> Result<Invocation, RecordError> {
        let mut g = self.lock()?;
        if g.retired.contains(&process) {
            return Err(RecordError::Retired(process));
        }
        if g.in_flight.contains_key(&process) {
            return Err(RecordError::Busy(process));
        }
        if process >= g.next_process {
            g.next_process = process + 1;
        }
        let time = self.clock.now_ns();
        let ev = Event {
            process: process_id(process),
            kind: EventKind::Invoke,
            f: f.to_string(),
            key: key.to_string(),
            value,
            time: Some(time),
            error: None,
        };
        {
            let g = &mut *g;
            write_event(&mut g.out, g.tap.as_ref(), &ev)?;
        }
        g.in_flight.insert(process, time);
        g.counts.invoked += 1;
        Ok(Invocation {
            process,
            f,
            key: ev.key,
            value: ev.value,
            time,
        })
    }

    /// Records the completion of `inv`. For `fail`/`info` the completion repeats
    /// the invocation's value. Returns the completion time.
    pub fn complete(&self, inv: Invocation, c: &Completion) -> Result<i64, RecordError> {
        let mut g = self.lock()?;
        g.in_flight.remove(&inv.process);
        let time = self.clock.now_ns().max(inv.time);
        let (value, error) = match c {
            Completion::Ok(v) => {
                g.counts.ok += 1;
                (v.clone(), None)
            }
            Completion::Fail { error } => {
                g.counts.fail += 1;
                (inv.value, error.as_ref().map(|e| json!(e)))
            }
            Completion::Info { error } => {
                g.retired.insert(inv.process);
                g.counts.info += 1;
                (inv.value, Some(json!(error)))
            }
        };
        let ev = Event {
            process: process_id(inv.process),
            kind: c.kind(),
            f: inv.f.to_string(),
            key: inv.key,
            value,
            time: Some(time),
            error,
        };
        {
            let g = &mut *g;
            write_event(&mut g.out, g.tap.as_ref(), &ev)?;
        }
        Ok(time)
    }

    /// Records a nemesis event (`type` is `start` or `stop`).
    pub fn nemesis(
        &self,
        ty: &str,
        fault: &str,
        detail: &str,
        outcome: &str,
    ) -> Result<i64, RecordError> {
        self.nemesis_at(None, ty, fault, detail, outcome)
    }

    /// Like [`Recorder::nemesis`], at a time taken earlier on this clock (`None`: now).
    pub fn nemesis_at(
        &self,
        time: Option<i64>,
        ty: &str,
        fault: &str,
        detail: &str,
        outcome: &str,
    ) -> Result<i64, RecordError> {
        let mut n = self.nemesis.lock().map_err(|_| RecordError::Poisoned)?;
        let time = time.unwrap_or_else(|| self.clock.now_ns());
        let ev =
            json!({"time": time, "type": ty, "fault": fault, "detail": detail, "outcome": outcome});
        writeln!(n, "{ev}")?;
        n.flush()?;
        drop(n);
        if ty == "start" {
            if let Ok(mut g) = self.lock() {
                g.counts.faults += 1;
            }
        }
        Ok(time)
    }

    /// Flushes both files.
    pub fn flush(&self) -> Result<(), RecordError> {
        self.lock()?.out.flush()?;
        self.nemesis
            .lock()
            .map_err(|_| RecordError::Poisoned)?
            .flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A shared in-memory sink.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf8")
        }
    }

    fn recorder() -> (Recorder, Sink, Sink) {
        let h = Sink::default();
        let n = Sink::default();
        (
            Recorder::new(Clock::start(), Box::new(h.clone()), Box::new(n.clone())),
            h,
            n,
        )
    }

    #[test]
    fn one_op_in_flight_per_process() {
        let (r, h, _) = recorder();
        let p = r.new_process().expect("id");
        let inv = r.invoke(p, "write", "k", json!(1)).expect("invoke");
        assert!(matches!(
            r.invoke(p, "read", "k", Value::Null),
            Err(RecordError::Busy(_))
        ));
        let other = r.new_process().expect("id");
        assert_ne!(other, p);
        let inv2 = r
            .invoke(other, "read", "k", Value::Null)
            .expect("another process may invoke");
        r.complete(inv, &Completion::Ok(json!(1)))
            .expect("complete");
        r.complete(inv2, &Completion::Ok(json!(1)))
            .expect("complete");
        let inv = r
            .invoke(p, "read", "k", Value::Null)
            .expect("free again after completion");
        r.complete(
            inv,
            &Completion::Fail {
                error: Some("TRYAGAIN".into()),
            },
        )
        .expect("complete");
        r.flush().expect("flush");
        let hist =
            sdr_checker::history::parse_jsonl_str(&h.text()).expect("checker accepts the history");
        assert_eq!(hist.ops.len(), 2, "the failed read is dropped");
    }

    #[test]
    fn info_retires_the_process() {
        let (r, h, _) = recorder();
        let p = r.new_process().expect("id");
        let inv = r.invoke(p, "write", "k", json!(5)).expect("invoke");
        r.complete(
            inv,
            &Completion::Info {
                error: "timeout".into(),
            },
        )
        .expect("complete");
        assert!(matches!(
            r.invoke(p, "read", "k", Value::Null),
            Err(RecordError::Retired(_))
        ));
        let q = r.new_process().expect("id");
        assert_ne!(q, p);
        let inv = r
            .invoke(q, "read", "k", Value::Null)
            .expect("new process works");
        r.complete(inv, &Completion::Ok(json!(5)))
            .expect("complete");
        assert_eq!(
            r.counts(),
            Counts {
                invoked: 2,
                ok: 1,
                fail: 0,
                info: 1,
                faults: 0
            }
        );
        let text = h.text();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines[1]["type"], "info");
        assert_eq!(lines[1]["error"], "timeout");
        assert_eq!(lines[1]["value"], 5);
        // Times are non-decreasing in file order and completions follow invocations.
        let times: Vec<i64> = lines
            .iter()
            .map(|l| l["time"].as_i64().expect("time"))
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        let hist = sdr_checker::history::parse_jsonl_str(&text).expect("checker accepts");
        let c = sdr_checker::check(
            &hist,
            sdr_checker::models::ModelKind::Kv,
            &Default::default(),
        )
        .expect("check");
        assert_eq!(c.verdict, sdr_checker::Verdict::Linearizable);
    }

    /// Every line is the checker's typed event, and the checker parses the whole.
    #[test]
    fn writes_typed_events_the_checker_parses() {
        let (r, h, _) = recorder();
        let p = r.new_process().expect("id");
        let inv = r.invoke(p, "write", "k1", json!(1)).expect("invoke");
        r.complete(inv, &Completion::Ok(json!(1))).expect("ok");
        let inv = r.invoke(p, "cas", "k1", json!([7, 2])).expect("invoke");
        r.complete(inv, &Completion::Fail { error: None })
            .expect("fail");
        let inv = r.invoke(p, "read", "k1", Value::Null).expect("invoke");
        r.complete(
            inv,
            &Completion::Fail {
                error: Some("CLUSTERDOWN".into()),
            },
        )
        .expect("fail");
        let inv = r.invoke(p, "write", "k1", json!(3)).expect("invoke");
        r.complete(
            inv,
            &Completion::Info {
                error: "timeout".into(),
            },
        )
        .expect("info");
        let text = h.text();
        let events: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a typed event"))
            .collect();
        let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
        use EventKind::*;
        assert_eq!(
            kinds,
            [Invoke, Ok, Invoke, Fail, Invoke, Fail, Invoke, Info]
        );
        assert!(events.iter().all(|e| e.process == 0 && e.key == "k1"));
        assert!(events.iter().all(|e| e.time.is_some()));
        assert_eq!(events[3].error, None, "failed comparison: no error");
        assert_eq!(events[3].value, json!([7, 2]));
        assert_eq!(events[5].error, Some(json!("CLUSTERDOWN")));
        assert_eq!(events[7].error, Some(json!("timeout")));
        assert_eq!(events[7].value, json!(3), "info repeats the invoke value");
        let hist = sdr_checker::history::parse_jsonl_str(&text).expect("checker accepts");
        // write ok, the failed comparison, the info write (the failed read is dropped).
        assert_eq!(hist.ops.len(), 3);
        let c = sdr_checker::check(
            &hist,
            sdr_checker::models::ModelKind::Register,
            &Default::default(),
        )
        .expect("check");
        assert_eq!(c.verdict, sdr_checker::Verdict::Linearizable);
    }

    #[test]
    fn failed_cas_without_error_is_kept_by_the_checker() {
        let (r, h, _) = recorder();
        let p = r.new_process().expect("id");
        let inv = r.invoke(p, "cas", "k", json!([1, 2])).expect("invoke");
        r.complete(inv, &Completion::Fail { error: None })
            .expect("complete");
        let text = h.text();
        assert!(!text.lines().nth(1).expect("line").contains("error"));
        let hist = sdr_checker::history::parse_jsonl_str(&text).expect("checker accepts");
        assert_eq!(hist.ops.len(), 1, "a failed comparison is an observation");
    }

    #[test]
    fn concurrent_clients_produce_a_valid_history() {
        let (r, h, n) = recorder();
        let r = Arc::new(r);
        let mut threads = Vec::new();
        for t in 0..4 {
            let r = Arc::clone(&r);
            threads.push(std::thread::spawn(move || {
                let mut p = r.new_process().expect("id");
                for i in 0..200 {
                    let inv = r
                        .invoke(p, "write", &format!("k{t}"), json!(i))
                        .expect("invoke");
                    if i % 50 == 49 {
                        r.complete(
                            inv,
                            &Completion::Info {
                                error: "lost".into(),
                            },
                        )
                        .expect("complete");
                        p = r.new_process().expect("id");
                    } else {
                        r.complete(inv, &Completion::Ok(json!(i)))
                            .expect("complete");
                    }
                }
            }));
        }
        r.nemesis("start", "kill", "n1", "installed")
            .expect("nemesis");
        for t in threads {
            t.join().expect("thread");
        }
        r.nemesis("stop", "kill", "n1", "installed")
            .expect("nemesis");
        let hist = sdr_checker::history::parse_jsonl_str(&h.text()).expect("checker accepts");
        assert_eq!(hist.ops.len(), 800);
        let faults = sdr_checker::nemesis::parse_nemesis(std::io::Cursor::new(n.text()))
            .expect("nemesis parses");
        assert_eq!(faults.len(), 1);
        assert!(faults[0].end.is_some());
    }
}
