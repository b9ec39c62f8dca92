#![allow(dead_code)]
use sdr_checker::models::ModelKind;
use sdr_checker::{check, history, CheckResult, History, Options};
use std::path::PathBuf;

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

pub fn parse(s: &str) -> History {
    history::parse_jsonl_str(s).expect("valid history")
}

pub fn run(h: &History, m: ModelKind) -> CheckResult {
    check(h, m, &Options::default()).expect("checkable")
}
