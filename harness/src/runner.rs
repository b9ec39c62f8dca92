//! One chaos run, start to finish:
//! setup (run folder, cluster) → load (clients + nemesis for `duration`) →
//! heal (undo every fault, restart/resume everything, wait for a leader) →
//! final reads (every key once more) → stop the cluster → check (the checker
//! library over the recorded files) → `result.json`, `report.html`, summary.
//!
//! Anything that goes wrong in the harness itself is a [`RunError`], never a
//! verdict.

use crate::client::Client;
use crate::cluster::ClusterError;
use crate::nemesis::{plan, Executor};
use crate::recorder::{Clock, Completion, RecordError, Recorder};
use crate::scenario::{Expect, Scenario, ScenarioError};
use crate::streaming_check::{StreamOutcome, StreamingCheck};
use crate::system::{ClientConfig, System, SystemError};
use crate::workload::{Generator, Keys, OpArgs};
use indicatif::{ProgressBar, ProgressStyle};
use sdr_checker::report::{html::report_html, json::result_json, ReportInput};
use sdr_checker::{Options, Verdict};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

/// The harness failed (exit 2): not a statement about the system under test.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    System(#[from] SystemError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the recorded history is unusable: {0}")]
    History(String),
    #[error("checking: {0}")]
    Check(String),
    #[error("no operation succeeded during the run ({0} attempted): the run says nothing about the system")]
    NoProgress(u64),
    #[error("the checker could not decide within its time budget (verdict unknown)")]
    Undecided,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

/// Options of one run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub scenario: PathBuf,
    pub seed: Option<u64>,
    /// Parent folder of run folders (default `runs`).
    pub out: PathBuf,
    pub node_bin: PathBuf,
    pub progress: bool,
    /// Checker time budget.
    pub check_timeout: Duration,
}

/// The result of a run that completed.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub dir: PathBuf,
    pub scenario: String,
    pub seed: u64,
    pub verdict: Verdict,
    pub expect: Expect,
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub faults: u64,
    pub cas: CasStats,
    pub summary: String,
}

impl RunOutcome {
    pub fn matches_expectation(&self) -> bool {
        matches!(
            (self.verdict, self.expect),
            (Verdict::Linearizable, Expect::Linearizable | Expect::Valid)
                | (Verdict::NotLinearizable, Expect::Violation)
        )
    }
}

/// UTC `YYYYMMDDTHHMMSSZ` without a date library (civil-from-days).
pub fn timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn int_of(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => sdr_checker::models::parse_redis_int(s),
        _ => None,
    }
}

/// How the run's compare-and-sets ended (shared by the client tasks).
#[derive(Debug, Default)]
pub struct CasCounts {
    /// Swapped.
    pub ok: AtomicU64,
    /// The comparison failed (`fail` without an error).
    pub mismatch: AtomicU64,
    /// Failed with an error, or the outcome is unknown.
    pub other: AtomicU64,
}

/// A snapshot of [`CasCounts`] for the summary and `result.json`.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct CasStats {
    pub ok: u64,
    pub mismatch: u64,
    pub other: u64,
    /// `ok / (ok + mismatch)`: the share of cas ops with a known outcome that
    /// swapped; `None` without any.
    pub success_rate: Option<f64>,
}

impl CasCounts {
    fn count(&self, c: &Completion) {
        let n = match c {
            Completion::Ok(_) => &self.ok,
            Completion::Fail { error: None } => &self.mismatch,
            _ => &self.other,
        };
        n.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> CasStats {
        let ok = self.ok.load(Ordering::Relaxed);
        let mismatch = self.mismatch.load(Ordering::Relaxed);
        CasStats {
            ok,
            mismatch,
            other: self.other.load(Ordering::Relaxed),
            success_rate: (ok + mismatch > 0).then(|| ok as f64 / (ok + mismatch) as f64),
        }
    }
}

/// What one client task shares with the others.
struct Shared {
    sc: Arc<Scenario>,
    seed: u64,
    addrs: Vec<String>,
    route: ClientConfig,
    rec: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    keys: Arc<Keys>,
    cas: Arc<CasCounts>,
}

/// Runs one client slot until `stop`.
async fn client_loop(slot: u32, sh: Shared) -> Result<(), RecordError> {
    let Shared {
        sc,
        seed,
        addrs,
        route,
        rec,
        stop,
        keys,
        cas,
    } = sh;
    let w = &sc.workload;
    let mut gen = Generator::shared(w, seed, slot, keys);
    let mut client = Client::new(addrs, slot as usize, w.op_timeout.0).with_config(route);
    if w.pin_clients {
        client = client.pinned();
    }
    let period = Duration::from_secs_f64(w.clients as f64 / w.rate);
    // Stagger the slots over one period.
    tokio::time::sleep(period.mul_f64(slot as f64 / w.clients as f64)).await;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut process = rec.new_process()?;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let op = gen.next_op();
        let inv = rec.invoke(process, op.args.f(), &op.key, op.args.invoke_value())?;
        let c = client.execute(&op.key, &op.args).await;
        if let Completion::Ok(v) = &c {
            gen.completed(&op, v, int_of);
        }
        if matches!(op.args, OpArgs::Cas(..)) {
            cas.count(&c);
        }
        rec.complete(inv, &c)?;
        if matches!(c, Completion::Info { .. }) {
            process = rec.new_process()?;
        }
    }
    Ok(())
}

/// The read that closes a key (final reads, and the close reads of retired keys when
/// streaming): `key` as the history names it and the op, per model.
fn close_read(model: crate::scenario::Model, key: String) -> (OpArgs, String) {
    use crate::scenario::Model;
    use crate::workload::Micro;
    // Transactional models read each key in a transaction of its own (`key` "" as every
    // transaction's).
    match model {
        Model::List => (OpArgs::LRange, key),
        Model::ListAppend => (OpArgs::Txn(vec![Micro::ReadList(key)]), String::new()),
        Model::RwRegister => (OpArgs::Txn(vec![Micro::Read(key)]), String::new()),
        Model::Kv | Model::Register => (OpArgs::Read, key),
    }
}

/// Reads `key` until a read is ok, `deadline` passes or `give_up` is set (retrying every
/// 100 ms); `process` moves on after an `info`. Returns whether a read was ok and how many
/// reads were invoked.
async fn read_key(
    model: crate::scenario::Model,
    key: String,
    client: &mut Client,
    rec: &Recorder,
    process: &mut u64,
    deadline: Instant,
    give_up: Option<&AtomicBool>,
) -> Result<(bool, u64), RecordError> {
    let (read, key) = close_read(model, key);
    let mut invoked = 0;
    loop {
        let inv = rec.invoke(*process, read.f(), &key, read.invoke_value())?;
        invoked += 1;
        let c = client.execute(&key, &read).await;
        rec.complete(inv, &c)?;
        match c {
            Completion::Ok(_) => return Ok((true, invoked)),
            Completion::Info { .. } => *process = rec.new_process()?,
            Completion::Fail { .. } => {}
        }
        if Instant::now() >= deadline || give_up.is_some_and(|g| g.load(Ordering::Relaxed)) {
            return Ok((false, invoked));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Final reads see what the primary holds, whatever `read-from` says during the run.
fn primary_route(route: ClientConfig) -> ClientConfig {
    ClientConfig {
        read_from_replicas: false,
        wait: None,
        ..route
    }
}

/// Reads each of `keys` once more after healing (retrying until ok or `deadline`);
/// returns how many could not be read.
async fn final_reads(
    sc: &Scenario,
    keys: Vec<String>,
    addrs: Vec<String>,
    route: ClientConfig,
    rec: &Recorder,
    deadline: Instant,
) -> Result<usize, RecordError> {
    let mut client =
        Client::new(addrs, 0, sc.workload.op_timeout.0).with_config(primary_route(route));
    let mut process = rec.new_process()?;
    let mut unread = 0;
    for key in keys {
        let model = sc.workload.model;
        let (ok, _) = read_key(model, key, &mut client, rec, &mut process, deadline, None).await?;
        if !ok {
            unread += 1;
        }
    }
    Ok(unread)
}

/// Streaming check: closes every key that retires during the run, after one close read
/// of it (the read a final read would have been; retried for at most [`CLOSE_READ_FOR`]).
/// Ends at `stop`; the keys retired and not yet closed by then are left in `keys` for the
/// final reads. Returns how many close reads never succeeded.
async fn close_retired(
    sc: Arc<Scenario>,
    addrs: Vec<String>,
    route: ClientConfig,
    rec: Arc<Recorder>,
    keys: Arc<Keys>,
    stop: Arc<AtomicBool>,
    tap: crate::streaming_check::Tap,
) -> Result<(Vec<String>, usize), RecordError> {
    let mut client =
        Client::new(addrs, 0, sc.workload.op_timeout.0).with_config(primary_route(route));
    let mut process = rec.new_process()?;
    let mut unread = 0;
    let mut queue = std::collections::VecDeque::new();
    let ops_per_key = u64::from(sc.workload.ops_per_key());
    while !stop.load(Ordering::Relaxed) {
        queue.extend(keys.take_retired());
        let Some(key) = queue.pop_front() else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let deadline = Instant::now() + CLOSE_READ_FOR;
        let model = sc.workload.model;
        let (ok, reads) = read_key(
            model,
            key.clone(),
            &mut client,
            &rec,
            &mut process,
            deadline,
            Some(&stop),
        )
        .await?;
        if ok || Instant::now() >= deadline {
            unread += usize::from(!ok);
            // A retired key had exactly `ops-per-key` ops drawn; some may not be recorded
            // yet (Tap::close), so the check waits for them and these reads.
            tap.close(&key, false, Some(ops_per_key + reads));
        } else {
            // Stopped mid-retry: the final reads read it after healing.
            queue.push_front(key);
        }
    }
    queue.extend(keys.take_retired());
    Ok((queue.into_iter().collect(), unread))
}

/// How long a close read of a retired key is retried during the run (through faults)
/// before the key is checked without it.
const CLOSE_READ_FOR: Duration = Duration::from_secs(10);

fn progress_bar(enabled: bool, total: Duration) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total.as_millis() as u64);
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:30}] {elapsed:>4}/{len_s} {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style.with_key(
        "len_s",
        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}s", s.len().unwrap_or(0) / 1000);
        },
    ));
    pb
}

/// Runs a scenario file.
pub async fn run(opts: &RunOptions) -> Result<RunOutcome, RunError> {
    let mut sc = Scenario::load(&opts.scenario)?;
    let seed = opts.seed.or(sc.seed).unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 % 1_000_000)
            .unwrap_or(1)
    });
    sc.seed = Some(seed);
    let dir_name = format!("{}-{}-{seed}", sc.name, timestamp(SystemTime::now()));
    let dir = opts.out.join(&dir_name);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let dir = dir.canonicalize().map_err(io("resolving the run folder"))?;
    std::fs::write(dir.join("scenario.yaml"), sc.to_yaml()?)
        .map_err(io("writing scenario.yaml"))?;
    run_in(sc, seed, &dir, opts).await
}

/// Runs a parsed scenario in an existing run folder.
pub async fn run_in(
    sc: Scenario,
    seed: u64,
    dir: &Path,
    opts: &RunOptions,
) -> Result<RunOutcome, RunError> {
    let sc = Arc::new(sc);
    let pb = progress_bar(opts.progress, sc.duration.0);
    pb.set_prefix("setup");
    let clock = Clock::start();
    let rec = Arc::new(Recorder::create_in(dir, clock)?);
    // The adapter the scenario names (`system:`, default sdr).
    let cluster: Box<dyn System> = crate::system::start(&sc, dir, &opts.node_bin).await?;
    let addrs = cluster.client_addrs();
    let route = cluster.client_config();

    // Load phase.
    pb.set_prefix("load");
    let stop = Arc::new(AtomicBool::new(false));
    let keys = Arc::new(Keys::new(&sc.workload));
    let cas = Arc::new(CasCounts::default());
    // `check: streaming`: every history line also goes to the per-key checker, and a
    // closer task reads and closes each key that retires.
    let streaming = match sc.workload.model.checker_kind() {
        Some(kind) if sc.streaming() => {
            let s = StreamingCheck::start(kind, opts.check_timeout)
                .map_err(io("starting the streaming checker"))?;
            rec.set_tap(s.tap())?;
            keys.track_retirements();
            Some(s)
        }
        _ => None,
    };
    let closer = streaming.as_ref().map(|s| {
        tokio::spawn(close_retired(
            Arc::clone(&sc),
            addrs.clone(),
            route.clone(),
            Arc::clone(&rec),
            Arc::clone(&keys),
            Arc::clone(&stop),
            s.tap(),
        ))
    });
    let stream_progress = streaming.as_ref().map(StreamingCheck::progress);
    let mut clients = Vec::new();
    for slot in 0..sc.workload.clients {
        clients.push(tokio::spawn(client_loop(
            slot,
            Shared {
                sc: Arc::clone(&sc),
                seed,
                addrs: addrs.clone(),
                route: route.clone(),
                rec: Arc::clone(&rec),
                stop: Arc::clone(&stop),
                keys: Arc::clone(&keys),
                cas: Arc::clone(&cas),
            },
        )));
    }
    let timeline = plan(&sc, seed);
    let mut exec = Executor::new(seed);
    let load_start = tokio::time::Instant::now();
    let load_end = load_start + sc.duration.0;
    let shared = Arc::new(Mutex::new(cluster));
    let started = Instant::now();
    {
        let mut i = 0;
        loop {
            let now = tokio::time::Instant::now();
            if now >= load_end {
                break;
            }
            let next = timeline
                .get(i)
                .map(|p| load_start + p.at)
                .unwrap_or(load_end)
                .min(load_end);
            let c = rec.counts();
            pb.set_position(started.elapsed().as_millis() as u64);
            let checked = stream_progress.as_ref().map_or(String::new(), |p| {
                format!(
                    " · keys checked {} ({} ops), violations {}, undecided {}",
                    p.checked.load(Ordering::Relaxed),
                    p.ops.load(Ordering::Relaxed),
                    p.violations.load(Ordering::Relaxed),
                    p.unknown.load(Ordering::Relaxed)
                )
            });
            pb.set_message(format!(
                "{} ops ({:.0}/s) ok {} fail {} info {} faults {}{checked}",
                c.invoked,
                c.invoked as f64 / started.elapsed().as_secs_f64().max(0.001),
                c.ok,
                c.fail,
                c.info,
                c.faults
            ));
            if next <= now {
                if let Some(p) = timeline.get(i) {
                    let mut g = shared.lock().await;
                    exec.apply(&p.action, &mut **g, &rec).await;
                    tracing::debug!(?p.action, "nemesis");
                }
                i += 1;
                continue;
            }
            tokio::time::sleep((next - now).min(Duration::from_millis(200))).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    pb.set_prefix("drain");
    for c in clients {
        match c.await {
            Ok(r) => r?,
            Err(e) => return Err(RunError::Check(format!("a client task failed: {e}"))),
        }
    }
    // The closer stops with the clients; what it had not closed is read after healing.
    let (mut pending, mut unread) = (Vec::new(), 0);
    if let Some(c) = closer {
        match c.await {
            Ok(r) => (pending, unread) = r?,
            Err(e) => return Err(RunError::Check(format!("the close-read task failed: {e}"))),
        }
    }
    // Keys a client retired after the closer stopped (it was finishing its last op).
    pending.extend(keys.take_retired());

    // Heal phase.
    pb.set_prefix("heal");
    let mut cluster = Arc::try_unwrap(shared)
        .map_err(|_| RunError::Check("cluster still shared".into()))?
        .into_inner();
    exec.stop_all(&mut *cluster, &rec).await;
    let heal_result = cluster.heal_all().await;
    let recovery = sc.recovery.0;
    let deadline = Instant::now() + recovery;
    if let Err(e) = heal_result {
        cluster.stop_all().await;
        return Err(e.into());
    }
    let _ = cluster.wait_leader(recovery).await;
    pb.set_prefix("final");
    // Every key ever used, retired ones included (a lost write shows on any of them);
    // streaming: the live keys and the retired ones not closed yet (the others had their
    // close read).
    let live = keys.live();
    let to_read = if streaming.is_some() {
        live.iter()
            .cloned()
            .chain(pending.iter().cloned())
            .collect()
    } else {
        keys.all()
    };
    unread += final_reads(
        &sc,
        to_read,
        cluster.client_addrs(),
        cluster.client_config(),
        &rec,
        deadline,
    )
    .await?;
    let cas = cas.stats();
    pb.set_prefix("stop");
    cluster.stop_all().await;
    let streamed = match streaming {
        Some(st) => {
            let tap = st.tap();
            // Every client has stopped: all drawn ops are recorded.
            for k in &pending {
                tap.close(k, false, None);
            }
            // The last generation of every key is the report's sample.
            for k in &live {
                tap.close(k, true, None);
            }
            drop(tap);
            rec.clear_tap();
            pb.set_prefix("check");
            Some(
                tokio::task::spawn_blocking(move || st.finish())
                    .await
                    .map_err(|e| RunError::Check(format!("the streaming checker failed: {e}")))?,
            )
        }
        None => None,
    };
    rec.flush()?;
    let counts = rec.counts();
    drop(rec);
    if counts.ok == 0 {
        pb.finish_and_clear();
        return Err(RunError::NoProgress(counts.invoked));
    }

    // Check.
    pb.set_prefix("check");
    let hpath = dir.join("history.jsonl");
    let w = &sc.workload;
    let harness_facts = if w.model.is_txn() {
        serde_json::json!({
            "keys": keys.all().len(),
            "txn_len": w.txn_len().to_string(),
            "txn_groups": w.txn_groups(),
            "ops_per_key": w.ops_per_key(),
        })
    } else {
        serde_json::json!({"keys": keys.all().len(), "cas": cas})
    };
    let checked = match (sc.workload.model.checker_kind(), streamed) {
        (Some(kind), Some(st)) => check_streamed(dir, &hpath, kind, opts, harness_facts, st)?,
        (Some(kind), None) => {
            let t0 = Instant::now();
            let f = std::fs::File::open(&hpath).map_err(io("opening history.jsonl"))?;
            let history = sdr_checker::history::parse_jsonl(BufReader::new(f))
                .map_err(|e| RunError::History(e.to_string()))?;
            check_linearizable(dir, &hpath, history, kind, opts, harness_facts, None, t0)?
        }
        (None, _) => check_txn(dir, &hpath, &sc, harness_facts)?,
    };
    let hfile = std::fs::File::open(&hpath).map_err(io("reading history.jsonl"))?;
    let ntext =
        std::fs::read_to_string(dir.join("nemesis.jsonl")).map_err(io("reading nemesis.jsonl"))?;
    let title = format!("{} seed {seed}", sc.name);
    std::fs::write(
        dir.join("plots.html"),
        crate::plots::plots_html_from(&title, BufReader::new(hfile), &ntext),
    )
    .map_err(io("writing plots.html"))?;
    pb.finish_and_clear();
    let Checked { verdict, verdict_s } = checked;
    if verdict == Verdict::Unknown {
        return Err(RunError::Undecided);
    }
    let mut out = RunOutcome {
        dir: dir.to_path_buf(),
        scenario: sc.name.clone(),
        seed,
        verdict,
        expect: sc.expect,
        ops: counts.invoked,
        ok: counts.ok,
        fail: counts.fail,
        info: counts.info,
        faults: counts.faults,
        cas,
        summary: String::new(),
    };
    let expect_s = match sc.expect {
        Expect::Linearizable => "linearizable",
        Expect::Valid => "valid",
        Expect::Violation => "violation",
    };
    out.summary = format!(
        "{} seed {}: {} (expected {}) {} — {} ops (ok {}, fail {}, info {}), {} faults{}{}; report {} plots {}",
        out.scenario,
        seed,
        verdict_s,
        expect_s,
        if out.matches_expectation() { "PASS" } else { "MISMATCH" },
        out.ops,
        out.ok,
        out.fail,
        out.info,
        out.faults,
        cas_summary(&cas),
        if unread > 0 { format!(", {unread} keys without a successful final or close read") } else { String::new() },
        dir.join("report.html").display(),
        dir.join("plots.html").display()
    );
    Ok(out)
}

/// What the checker decided, for the summary.
struct Checked {
    /// Transactional runs map "no anomaly" to `Linearizable` and "anomalies" to
    /// `NotLinearizable`, so `expect` and the exit status work alike for every model.
    verdict: Verdict,
    /// The verdict as the summary line says it.
    verdict_s: String,
}

/// The linearizability checker over `history.jsonl`; writes `result.json` and `report.html`.
/// Streaming runs: the keys were checked during the run; the report is written for the
/// keys kept (violations, undecided, the last generation) by checking them once more, and
/// the verdict is the worse of the two.
fn check_streamed(
    dir: &Path,
    hpath: &Path,
    kind: sdr_checker::models::ModelKind,
    opts: &RunOptions,
    harness_facts: serde_json::Value,
    st: StreamOutcome,
) -> Result<Checked, RunError> {
    let t0 = Instant::now();
    let text = st.kept_lines.join("\n");
    let history = sdr_checker::history::parse_jsonl_str(&text)
        .map_err(|e| RunError::History(format!("the kept keys' lines: {e}")))?;
    check_linearizable(dir, hpath, history, kind, opts, harness_facts, Some(st), t0)
}

/// Checks `history` (all of `hpath`'s, or the kept keys of a streaming run, whose outcome
/// `streamed` then joins the verdict and `result.json`); writes `result.json` and
/// `report.html`. `t0`: when parsing the history began (the report's parse time).
fn check_linearizable(
    dir: &Path,
    hpath: &Path,
    history: sdr_checker::History,
    kind: sdr_checker::models::ModelKind,
    opts: &RunOptions,
    harness_facts: serde_json::Value,
    streamed: Option<StreamOutcome>,
    t0: Instant,
) -> Result<Checked, RunError> {
    let nf = std::fs::File::open(dir.join("nemesis.jsonl")).map_err(io("opening nemesis.jsonl"))?;
    let faults = sdr_checker::nemesis::parse_nemesis(BufReader::new(nf))
        .map_err(|e| RunError::History(format!("nemesis.jsonl: {e}")))?;
    let parse_time = t0.elapsed();
    let result = sdr_checker::check(
        &history,
        kind,
        &Options {
            timeout: Some(opts.check_timeout),
            all: false,
            ..Options::default()
        },
    )
    .map_err(|e| RunError::Check(e.to_string()))?;
    let source = hpath.display().to_string();
    let input = ReportInput {
        source: &source,
        history: &history,
        result: &result,
        parse_time,
        total_time: t0.elapsed(),
        faults: &faults,
        chosen_key: None,
    };
    let mut result_doc = result_json(&input);
    if let Some(obj) = result_doc.as_object_mut() {
        // The harness's own facts about the run, next to the checker's verdict.
        obj.insert("workload".into(), harness_facts);
        if let Some(st) = &streamed {
            // The report covers the kept keys; this is every key's outcome.
            obj.insert(
                "verdict".into(),
                serde_json::to_value(worse(result.verdict, st.verdict()))
                    .map_err(|e| RunError::Check(e.to_string()))?,
            );
            if let Some(h) = obj.get_mut("history").and_then(|h| h.as_object_mut()) {
                h.insert(
                    "scope".into(),
                    "streaming run: the keys kept for the report (violations, undecided, \
                     each slot's last key); `streaming` counts every key"
                        .into(),
                );
            }
            obj.insert(
                "streaming".into(),
                serde_json::to_value(st).map_err(|e| RunError::Check(e.to_string()))?,
            );
        }
    }
    let json =
        serde_json::to_string_pretty(&result_doc).map_err(|e| RunError::Check(e.to_string()))?;
    std::fs::write(dir.join("result.json"), json + "\n").map_err(io("writing result.json"))?;
    std::fs::write(dir.join("report.html"), report_html(&input))
        .map_err(io("writing report.html"))?;
    let verdict = match &streamed {
        None => result.verdict,
        Some(st) => worse(result.verdict, st.verdict()),
    };
    let verdict_s = match verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable => "NOT linearizable",
        Verdict::Unknown => "unknown",
    };
    Ok(Checked {
        verdict,
        verdict_s: verdict_s.into(),
    })
}

/// The worse of two verdicts: a violation anywhere, else undecided anywhere.
fn worse(a: Verdict, b: Verdict) -> Verdict {
    use Verdict::*;
    match (a, b) {
        (NotLinearizable, _) | (_, NotLinearizable) => NotLinearizable,
        (Unknown, _) | (_, Unknown) => Unknown,
        _ => Linearizable,
    }
}

/// The transactional checker (`sdr_checker::txn`) over `history.jsonl`; writes `result.json`
/// and `report.html`.
fn check_txn(
    dir: &Path,
    hpath: &Path,
    sc: &Scenario,
    harness_facts: serde_json::Value,
) -> Result<Checked, RunError> {
    use sdr_checker::txn::{self, TxnModel, TxnOptions};
    let model = match sc.workload.model {
        crate::scenario::Model::RwRegister => TxnModel::RwRegister,
        _ => TxnModel::ListAppend,
    };
    let history = txn::parse_jsonl_file(hpath).map_err(|e| RunError::History(e.to_string()))?;
    history
        .check_model(model)
        .map_err(|e| RunError::History(e.to_string()))?;
    // Strict serializability (the default): what a Raft-replicated store promises.
    let result = txn::check(&history, model, &TxnOptions::default());
    txn::write_report(dir, &history, &result).map_err(io("writing result.json / report.html"))?;
    // The harness's own facts about the run, next to the checker's verdict.
    let rpath = dir.join("result.json");
    let text = std::fs::read_to_string(&rpath).map_err(io("reading result.json"))?;
    let mut doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| RunError::Check(e.to_string()))?;
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("workload".into(), harness_facts);
    }
    let json = serde_json::to_string_pretty(&doc).map_err(|e| RunError::Check(e.to_string()))?;
    std::fs::write(&rpath, json + "\n").map_err(io("writing result.json"))?;
    Ok(txn_checked(&result))
}

/// The verdict of a transactional check: `valid`, or `INVALID [G-single ×2, …]`.
fn txn_checked(r: &sdr_checker::txn::TxnResult) -> Checked {
    if r.valid {
        return Checked {
            verdict: Verdict::Linearizable,
            verdict_s: format!("valid ({})", r.consistency.name()),
        };
    }
    let classes: Vec<String> = r
        .anomaly_counts
        .iter()
        .map(|(c, n)| format!("{c} ×{n}"))
        .collect();
    Checked {
        verdict: Verdict::NotLinearizable,
        verdict_s: format!("INVALID {} [{}]", r.consistency.name(), classes.join(", ")),
    }
}

/// `, cas 41% swapped (123 of 300 decided)` for the summary; empty without cas ops.
fn cas_summary(c: &CasStats) -> String {
    match c.success_rate {
        Some(r) => format!(
            ", cas {:.0}% swapped ({} of {} decided)",
            r * 100.0,
            c.ok,
            c.ok + c.mismatch
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_stats_and_summary() {
        let c = CasCounts::default();
        assert_eq!(cas_summary(&c.stats()), "");
        c.count(&Completion::Ok(serde_json::json!([1, 2])));
        c.count(&Completion::Fail { error: None });
        c.count(&Completion::Fail { error: None });
        c.count(&Completion::Fail {
            error: Some("CLUSTERDOWN".into()),
        });
        c.count(&Completion::Info {
            error: "timeout".into(),
        });
        let s = c.stats();
        assert_eq!((s.ok, s.mismatch, s.other), (1, 2, 2));
        assert_eq!(cas_summary(&s), ", cas 33% swapped (1 of 3 decided)");
        let j = serde_json::to_value(s).expect("json");
        assert_eq!(j["mismatch"], 2);
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(1795813245)),
            "20261127T210045Z"
        );
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229T000000Z"
        );
    }
}
