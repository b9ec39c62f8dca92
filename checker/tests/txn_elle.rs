//! Elle's own test histories (EDN), when a checkout of
//! github.com/jepsen-io/elle is at hand: `ELLE_SRC=DIR` (a checkout, or a
//! bare git directory). Verdicts must agree with the ones Elle's test suite
//! asserts (test/elle/list_append_test.clj). Skipped without ELLE_SRC; the
//! files are not copied into this repository.

use sdr_checker::txn::{self, TxnModel, TxnOptions, TxnResult};
use std::path::Path;
use std::process::Command;

fn elle_file(src: &str, name: &str) -> Option<String> {
    let p = Path::new(src).join(name);
    if let Ok(s) = std::fs::read_to_string(&p) {
        return Some(s);
    }
    let o = Command::new("git")
        .arg(format!("--git-dir={src}"))
        .args(["show", &format!("HEAD:{name}")])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn check(src: &str, name: &str) -> TxnResult {
    let text = elle_file(src, name).unwrap_or_else(|| panic!("{name} not found in {src}"));
    let h = txn::parse_edn_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    txn::check(&h, TxnModel::ListAppend, &TxnOptions::default())
}

#[test]
fn elle_histories_agree() {
    let Ok(src) = std::env::var("ELLE_SRC") else {
        eprintln!("skipped: set ELLE_SRC to a checkout of jepsen-io/elle");
        return;
    };
    // Elle: anomaly-types [:G2-item], not #{:repeatable-read} (SI holds).
    let r = check(&src, "histories/si-without-g-single.edn");
    assert_eq!(r.anomaly_counts.keys().collect::<Vec<_>>(), ["G2-item"]);
    assert!(r.levels.snapshot_isolation && !r.levels.serializable);
    // Elle: G2-item-realtime; only strong snapshot isolation (and stronger)
    // is violated: serializable holds, strict serializable does not.
    let r = check(&src, "histories/huge-scc.edn");
    assert!(r.levels.serializable, "{:?}", r.anomaly_counts);
    assert!(!r.levels.strict_serializable);
    assert!(
        r.anomaly_counts.contains_key("G2-item-realtime"),
        "{:?}",
        r.anomaly_counts
    );
    // The paper's example: T3 misses T1's append of 8 to 255, which T2 saw.
    let r = check(&src, "histories/paper-example.edn");
    assert_eq!(r.anomaly_counts.keys().collect::<Vec<_>>(), ["G-single"]);
}
