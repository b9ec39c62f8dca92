//! Golden histories: `tests/golden/<model>-<case>.<ok|bad>.<jsonl|edn>`,
//! hand-written ok/bad pairs for each model and tricky case.

mod common;
use sdr_checker::models::ModelKind;
use sdr_checker::{check, edn, history, KeyVerdict, Options, Verdict};

#[test]
fn golden_histories() {
    let mut n = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(common::golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let model = ModelKind::parse(name.split('-').next().unwrap())
            .unwrap_or_else(|| panic!("{name}: model prefix"));
        let expect = if name.contains(".ok.") {
            Verdict::Linearizable
        } else if name.contains(".bad.") {
            Verdict::NotLinearizable
        } else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let h = if name.ends_with(".edn") {
            edn::parse_edn_history(&text)
        } else {
            history::parse_jsonl_str(&text)
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        for all in [false, true] {
            let r = check(
                &h,
                model,
                &Options {
                    all,
                    ..Options::default()
                },
            )
            .unwrap();
            if r.verdict != expect {
                failures.push(format!("{name}: expected {expect:?}, got {:?}", r.verdict));
            }
            if expect == Verdict::NotLinearizable {
                let bad = r
                    .keys
                    .iter()
                    .find(|k| k.verdict == KeyVerdict::NotLinearizable)
                    .unwrap();
                let f = bad
                    .failure
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: no explanation"));
                assert!(
                    f.unplaced.contains(&f.offending),
                    "{name}: offending op not among unplaced"
                );
                assert!(
                    !f.prefix.contains(&f.offending),
                    "{name}: offending op in prefix"
                );
            } else {
                // The linearization found is a valid sequential history.
                for k in &r.keys {
                    let lin = k.linearization.as_ref().unwrap();
                    let states = sdr_checker::replay_states(model, &h, lin);
                    assert!(
                        states.iter().all(|s| s != "<illegal>"),
                        "{name}: bad linearization"
                    );
                    for id in &k.ops {
                        let op = &h.ops[*id as usize];
                        assert!(
                            op.info || lin.contains(id),
                            "{name}: op {id} not linearized"
                        );
                    }
                }
            }
        }
        n += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(n >= 40, "only {n} golden histories");
}

#[test]
fn offending_op_is_the_stale_read() {
    let text = std::fs::read_to_string(common::golden_dir().join("register-stale-read.bad.jsonl"))
        .unwrap();
    let h = common::parse(&text);
    let r = common::run(&h, ModelKind::Register);
    let f = r.violations().next().unwrap().failure.clone().unwrap();
    assert_eq!(h.ops[f.offending as usize].describe(), "read → 1");
    assert_eq!(f.prefix.len(), 2);
}

#[test]
fn malformed_input_is_rejected_with_line_numbers() {
    let cases = [
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"a\",\"time\":1}\nnot json\n", 2, "bad JSON"),
        ("{\"process\":0,\"type\":\"bogus\",\"f\":\"read\",\"key\":\"a\",\"time\":1}\n", 1, "unknown type"),
        ("{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":\"a\",\"time\":1}\n", 1, "without an invocation"),
        (
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"a\",\"time\":1}\n\n{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"a\",\"time\":2}\n",
            3,
            "still in flight",
        ),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"frob\",\"key\":\"a\",\"time\":1}\n", 1, "unknown op"),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"a\",\"value\":3,\"time\":1}\n", 1, "cas needs"),
        (
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"a\",\"time\":5}\n{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":\"a\",\"time\":4}\n",
            2,
            "before its invocation",
        ),
    ];
    for (text, line, msg) in cases {
        let e = history::parse_jsonl_str(text).unwrap_err().to_string();
        assert!(e.starts_with(&format!("line {line}:")), "{e}");
        assert!(e.contains(msg), "{e}");
    }
    let e = edn::parse_edn_history(
        "{:process 0 :type :invoke :f :read}\n{:process 0 :type :bad :f :read}",
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("line 2:"), "{e}");
}

#[test]
fn unsupported_op_for_model() {
    let h = common::parse("{\"process\":0,\"type\":\"invoke\",\"f\":\"rpush\",\"key\":\"a\",\"value\":1,\"time\":1}\n{\"process\":0,\"type\":\"ok\",\"f\":\"rpush\",\"key\":\"a\",\"value\":1,\"time\":2}\n");
    let e = check(&h, ModelKind::Kv, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
}
