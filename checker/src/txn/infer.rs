//! Inference: from what the reads observed, each key's version order, the
//! anomalies that need no cycle, and the dependency edges between
//! transactions. Every edge added here is *sound*: any serial order of the
//! committed transactions that explains every read must respect it
//! (docs/transactions-checker.md argues each rule), so a cycle is proof.
//!
//! Committed transactions ("nodes"): every `ok` one, and every `info` one
//! whose write some read observed. `fail` transactions are never nodes; a read
//! of their write is G1a. An `info` transaction nobody observed gets no edge,
//! so it cannot create a cycle (it may simply never have happened).

use super::{txn_ref, Anomaly, EdgeKind, Level, Mop, TxnHistory, TxnModel, TxnType};
use rustc_hash::FxHashMap;

/// Why an edge exists (turned into a sentence by `graph::describe_edge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// Real-time or process order.
    Time,
    /// list-append: `b` directly follows `a` in `key`'s version order.
    ListWw { key: u32, a: i64, b: i64 },
    /// list-append: `b` was never read; every read saw up to `a` without it.
    ListWwTail { key: u32, a: i64, b: i64 },
    /// list-append: the target's read of `key` ended with the source's `last`.
    ListWr { key: u32, last: i64 },
    /// list-append: the source's read of `key` ended at `last` (None: empty)
    /// and `next`, the target's append, is the element right after it.
    ListRw {
        key: u32,
        last: Option<i64>,
        next: i64,
    },
    /// list-append: as `ListRw`, but `next` was never read by anyone.
    ListRwTail {
        key: u32,
        last: Option<i64>,
        next: i64,
    },
    /// rw-register: the target read `v`, which the source wrote.
    RegWr { key: u32, v: i64 },
    /// rw-register: the source read nil; the target wrote `v`.
    RegNilRw { key: u32, v: i64 },
    /// rw-register: the source wrote `a`; the target read `a` and then wrote
    /// `b`, so `a` precedes `b` in the version order.
    RegWfrWw { key: u32, a: i64, b: i64 },
    /// rw-register: the source read `a`; the target read `a` and then wrote `b`.
    RegWfrRw { key: u32, a: Option<i64>, b: i64 },
}

/// One dependency edge between two transactions (indices into `txns`).
#[derive(Clone, Copy, Debug)]
pub struct Edge {
    pub from: u32,
    pub to: u32,
    pub kind: EdgeKind,
    pub why: Why,
}

/// What inference found.
pub struct Inferred {
    pub anomalies: Vec<Anomaly>,
    pub edges: Vec<Edge>,
    /// Per transaction: committed (a graph node).
    pub committed: Vec<bool>,
}

fn anomaly(
    class: &str,
    h: &TxnHistory,
    model: TxnModel,
    txns: &[u32],
    explanation: String,
) -> Anomaly {
    Anomaly {
        class: class.to_string(),
        violates: Level::weakest_forbidding(class),
        cycle: Vec::new(),
        txns: txns
            .iter()
            .map(|&i| txn_ref(h, &h.txns[i as usize], model))
            .collect(),
        explanation,
    }
}

/// Where a value was written: the transaction, and whether it is that
/// transaction's last write of the key.
#[derive(Clone, Copy)]
struct Writer {
    txn: u32,
    last_in_txn: bool,
}

/// Writers of every (key, value), plus duplicate-write anomalies.
fn writers(
    h: &TxnHistory,
    model: TxnModel,
    class: &str,
    out: &mut Vec<Anomaly>,
) -> FxHashMap<(u32, i64), Writer> {
    let mut w: FxHashMap<(u32, i64), Writer> = FxHashMap::default();
    w.reserve(h.txns.len());
    for t in &h.txns {
        for (i, m) in t.mops.iter().enumerate() {
            let Some(v) = m.written() else { continue };
            let key = m.key();
            let last = !t.mops[i + 1..]
                .iter()
                .any(|n| n.key() == key && n.written().is_some());
            match w.get_mut(&(key, v)) {
                Some(prev) if prev.txn != t.index => {
                    let pt = prev.txn;
                    out.push(anomaly(
                        class,
                        h,
                        model,
                        &[pt, t.index],
                        format!(
                            "T{pt} and T{} both wrote {v} to {}; written values must be unique per key",
                            t.index,
                            h.key_name(key)
                        ),
                    ));
                }
                Some(prev) => {
                    out.push(anomaly(
                        class,
                        h,
                        model,
                        &[t.index],
                        format!("T{} wrote {v} to {} twice", t.index, h.key_name(key)),
                    ));
                    prev.last_in_txn = last;
                }
                None => {
                    w.insert(
                        (key, v),
                        Writer {
                            txn: t.index,
                            last_in_txn: last,
                        },
                    );
                }
            }
        }
    }
    w
}

/// Internal consistency of list-append transactions: a read after the
/// transaction's own reads/appends of the key must show exactly them.
fn list_internal(h: &TxnHistory, out: &mut Vec<Anomaly>) {
    let model = TxnModel::ListAppend;
    for t in h.txns.iter().filter(|t| t.ty == TxnType::Ok) {
        if t.mops.len() < 2 {
            continue;
        }
        // key → (known list, or None = unknown prefix; own appends since).
        let mut st: Vec<(u32, Option<Vec<i64>>, Vec<i64>)> = Vec::new();
        for m in &t.mops {
            let key = m.key();
            let pos = st.iter().position(|s| s.0 == key);
            match m {
                Mop::Append { v, .. } | Mop::Write { v, .. } => match pos {
                    Some(p) => match &mut st[p].1 {
                        Some(l) => l.push(*v),
                        None => st[p].2.push(*v),
                    },
                    None => st.push((key, None, vec![*v])),
                },
                Mop::Read { value: Some(r), .. } => {
                    if let Some(p) = pos {
                        let ok = match &st[p].1 {
                            Some(l) => l == r,
                            None => r.ends_with(&st[p].2),
                        };
                        if !ok {
                            let expected = match &st[p].1 {
                                Some(l) => super::read_text(Some(l), model),
                                None => format!(
                                    "a list ending in {}",
                                    super::read_text(Some(&st[p].2), model)
                                ),
                            };
                            out.push(anomaly(
                                "internal",
                                h,
                                model,
                                &[t.index],
                                format!(
                                    "T{} read {} = {} but its own earlier micro-ops imply {expected}",
                                    t.index,
                                    h.key_name(key),
                                    super::read_text(Some(r), model)
                                ),
                            ));
                        }
                        st[p].1 = Some(r.clone());
                        st[p].2.clear();
                    } else {
                        st.push((key, Some(r.clone()), Vec::new()));
                    }
                }
                Mop::Read { value: None, .. } => {}
            }
        }
    }
}

/// list-append inference.
pub fn list_append(h: &TxnHistory) -> Inferred {
    let model = TxnModel::ListAppend;
    let mut anomalies = Vec::new();
    let w = writers(h, model, "duplicate-appends", &mut anomalies);
    list_internal(h, &mut anomalies);

    // Reads per key: (txn, mop index, external?). External = no append of
    // the key earlier in the transaction (and the first such read).
    let nkeys = h.keys.len();
    let mut reads: Vec<Vec<(u32, u16, bool)>> = vec![Vec::new(); nkeys];
    for t in h.txns.iter().filter(|t| t.ty == TxnType::Ok) {
        for (i, m) in t.mops.iter().enumerate() {
            if let Mop::Read {
                key,
                value: Some(_),
            } = m
            {
                let earlier = &t.mops[..i];
                let ext = !earlier.iter().any(|n| n.key() == *key);
                reads[*key as usize].push((t.index, i as u16, ext));
            }
        }
    }
    let read_of = |t: u32, i: u16| -> &[i64] {
        match &h.txns[t as usize].mops[i as usize] {
            Mop::Read { value: Some(v), .. } => v,
            _ => &[],
        }
    };

    // Version order per key = its longest read; every read must be a prefix.
    let mut orders: Vec<(u32, u16)> = vec![(u32::MAX, 0); nkeys];
    let mut compatible: Vec<Vec<bool>> = Vec::with_capacity(nkeys);
    for (key, rs) in reads.iter().enumerate() {
        let longest = rs
            .iter()
            .max_by_key(|&&(t, i, _)| (read_of(t, i).len(), std::cmp::Reverse(t)))
            .copied();
        let mut comp = vec![true; rs.len()];
        if let Some((lt, li, _)) = longest {
            orders[key] = (lt, li);
            let order = read_of(lt, li);
            let mut reported = false;
            for (j, &(t, i, _)) in rs.iter().enumerate() {
                let r = read_of(t, i);
                if !order.starts_with(r) {
                    comp[j] = false;
                    if !reported {
                        reported = true;
                        anomalies.push(anomaly(
                            "incompatible-order",
                            h,
                            model,
                            &[t, lt],
                            format!(
                                "T{t} read {} = {} and T{lt} read {}: neither is a prefix of the other, so no order of appends explains both",
                                h.key_name(key as u32),
                                super::read_text(Some(r), model),
                                super::read_text(Some(order), model)
                            ),
                        ));
                    }
                }
            }
            // Duplicates and garbage, checked once on the longest read.
            let mut seen: FxHashMap<i64, ()> = FxHashMap::default();
            for &e in order {
                if seen.insert(e, ()).is_some() {
                    anomalies.push(anomaly(
                        "duplicate-elements",
                        h,
                        model,
                        &[lt],
                        format!(
                            "T{lt} read {} = {}, which holds {e} more than once",
                            h.key_name(key as u32),
                            super::read_text(Some(order), model)
                        ),
                    ));
                    break;
                }
            }
            for (p, &e) in order.iter().enumerate() {
                match w.get(&(key as u32, e)) {
                    None => anomalies.push(anomaly(
                        "garbage-read",
                        h,
                        model,
                        &[lt],
                        format!(
                            "T{lt} read {} = {}, but no transaction appended {e}",
                            h.key_name(key as u32),
                            super::read_text(Some(order), model)
                        ),
                    )),
                    Some(wr) if h.txns[wr.txn as usize].ty == TxnType::Fail => {
                        // The first reader that saw it.
                        let first = rs
                            .iter()
                            .find(|&&(t, i, _)| read_of(t, i).len() > p)
                            .map(|&(t, _, _)| t)
                            .unwrap_or(lt);
                        anomalies.push(anomaly(
                            "G1a",
                            h,
                            model,
                            &[first, wr.txn],
                            format!(
                                "T{first} read {} = {}, which contains {e}, appended by T{}, which failed (aborted read)",
                                h.key_name(key as u32),
                                super::read_text(Some(read_of(first, rs.iter().find(|x| x.0 == first).map(|x| x.1).unwrap_or(0))), model),
                                wr.txn
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
        compatible.push(comp);
    }

    // G1b: a read that ends at a non-final append of another transaction.
    for rs in &reads {
        for &(t, i, _) in rs {
            let r = read_of(t, i);
            let Some(&last) = r.last() else { continue };
            let key = h.txns[t as usize].mops[i as usize].key();
            if let Some(wr) = w.get(&(key, last)) {
                if wr.txn != t && !wr.last_in_txn && h.txns[wr.txn as usize].ty != TxnType::Fail {
                    anomalies.push(anomaly(
                        "G1b",
                        h,
                        model,
                        &[t, wr.txn],
                        format!(
                            "T{t} read {} = {}, ending with {last}, but T{} appended more to {} after {last} (intermediate read)",
                            h.key_name(key),
                            super::read_text(Some(r), model),
                            wr.txn,
                            h.key_name(key)
                        ),
                    ));
                }
            }
        }
    }

    // Committed: ok, or info with an observed append.
    let mut committed: Vec<bool> = h.txns.iter().map(|t| t.ty == TxnType::Ok).collect();
    for (key, &(lt, li)) in orders.iter().enumerate() {
        if lt == u32::MAX {
            continue;
        }
        for &e in read_of(lt, li) {
            if let Some(wr) = w.get(&(key as u32, e)) {
                if h.txns[wr.txn as usize].ty == TxnType::Info {
                    committed[wr.txn as usize] = true;
                }
            }
        }
    }
    let node_writer = |key: u32, e: i64| -> Option<u32> {
        w.get(&(key, e))
            .filter(|wr| committed[wr.txn as usize])
            .map(|wr| wr.txn)
    };

    // Unread appends of committed transactions, per key.
    let mut unread: Vec<Vec<(u32, i64)>> = vec![Vec::new(); nkeys];
    {
        let mut in_order: FxHashMap<(u32, i64), ()> = FxHashMap::default();
        for (key, &(lt, li)) in orders.iter().enumerate() {
            if lt != u32::MAX {
                for &e in read_of(lt, li) {
                    in_order.insert((key as u32, e), ());
                }
            }
        }
        for t in h.txns.iter().filter(|t| committed[t.index as usize]) {
            for m in &t.mops {
                if let Mop::Append { key, v } = m {
                    if !in_order.contains_key(&(*key, *v)) {
                        unread[*key as usize].push((t.index, *v));
                    }
                }
            }
        }
    }

    let mut edges = Vec::new();
    let mut push = |from: u32, to: u32, kind: EdgeKind, why: Why| {
        if from != to {
            edges.push(Edge {
                from,
                to,
                kind,
                why,
            });
        }
    };
    for key in 0..nkeys {
        let k = key as u32;
        let order: &[i64] = match orders[key] {
            (u32::MAX, _) => &[],
            (lt, li) => read_of(lt, li),
        };
        // ww along the version order, then from its last element to the unread.
        for p in order.windows(2) {
            if let (Some(a), Some(b)) = (node_writer(k, p[0]), node_writer(k, p[1])) {
                push(
                    a,
                    b,
                    EdgeKind::Ww,
                    Why::ListWw {
                        key: k,
                        a: p[0],
                        b: p[1],
                    },
                );
            }
        }
        if let Some(&last) = order.last() {
            if let Some(a) = node_writer(k, last) {
                for &(b, v) in &unread[key] {
                    push(
                        a,
                        b,
                        EdgeKind::Ww,
                        Why::ListWwTail {
                            key: k,
                            a: last,
                            b: v,
                        },
                    );
                }
            }
        }
        for (j, &(t, i, ext)) in reads[key].iter().enumerate() {
            if !ext || !compatible[key][j] {
                continue;
            }
            let r = read_of(t, i);
            let n = r.len();
            if let Some(&last) = r.last() {
                if let Some(a) = node_writer(k, last) {
                    push(a, t, EdgeKind::Wr, Why::ListWr { key: k, last });
                }
            }
            if n < order.len() {
                if let Some(b) = node_writer(k, order[n]) {
                    push(
                        t,
                        b,
                        EdgeKind::Rw,
                        Why::ListRw {
                            key: k,
                            last: r.last().copied(),
                            next: order[n],
                        },
                    );
                }
            } else {
                for &(b, v) in &unread[key] {
                    push(
                        t,
                        b,
                        EdgeKind::Rw,
                        Why::ListRwTail {
                            key: k,
                            last: r.last().copied(),
                            next: v,
                        },
                    );
                }
            }
        }
    }

    // Lost update: two committed transactions read the same version of a
    // key (externally) and both appended to it afterwards.
    lost_updates(h, model, &mut anomalies, |t, i| {
        let m = &h.txns[t as usize].mops[i];
        match m {
            Mop::Read { value: Some(v), .. } => Some(v.clone()),
            _ => None,
        }
    });

    Inferred {
        anomalies,
        edges,
        committed,
    }
}

/// Reports lost updates: ≥ 2 `ok` transactions whose first micro-op on a key
/// is a read of the same version, and which later write that key.
fn lost_updates(
    h: &TxnHistory,
    model: TxnModel,
    out: &mut Vec<Anomaly>,
    version: impl Fn(u32, usize) -> Option<Vec<i64>>,
) {
    let mut groups: FxHashMap<(u32, Vec<i64>), Vec<u32>> = FxHashMap::default();
    for t in h.txns.iter().filter(|t| t.ty == TxnType::Ok) {
        for (i, m) in t.mops.iter().enumerate() {
            let Mop::Read { key, .. } = m else { continue };
            if t.mops[..i].iter().any(|n| n.key() == *key) {
                continue;
            }
            if !t.mops[i + 1..]
                .iter()
                .any(|n| n.key() == *key && n.written().is_some())
            {
                continue;
            }
            if let Some(v) = version(t.index, i) {
                groups.entry((*key, v)).or_default().push(t.index);
            }
        }
    }
    let mut found: Vec<_> = groups.into_iter().filter(|(_, ts)| ts.len() > 1).collect();
    found.sort_by_key(|(_, ts)| ts[0]);
    for ((key, v), ts) in found {
        let names: Vec<String> = ts.iter().map(|t| format!("T{t}")).collect();
        out.push(anomaly(
            "lost-update",
            h,
            model,
            &ts,
            format!(
                "{} all read {} = {} and then wrote {}: all committed, so all but one of those updates were made without seeing the others (lost update)",
                names.join(", "),
                h.key_name(key),
                super::read_text(Some(&v), model),
                h.key_name(key)
            ),
        ));
    }
}

/// rw-register inference.
pub fn rw_register(h: &TxnHistory) -> Inferred {
    let model = TxnModel::RwRegister;
    let mut anomalies = Vec::new();
    let w = writers(h, model, "duplicate-writes", &mut anomalies);
    let nkeys = h.keys.len();

    // External reads (first micro-op on the key is a read) of ok txns, and
    // internal consistency of the later reads.
    // ext[key] = (txn, value read: None = nil, the txn's final write of key).
    type ExtRead = (u32, Option<i64>, Option<i64>);
    let mut ext: Vec<Vec<ExtRead>> = vec![Vec::new(); nkeys];
    for t in h.txns.iter().filter(|t| t.ty == TxnType::Ok) {
        // key → current value as the txn knows it.
        let mut st: Vec<(u32, Option<i64>)> = Vec::new();
        for m in &t.mops {
            let key = m.key();
            let pos = st.iter().position(|s| s.0 == key);
            match m {
                Mop::Write { v, .. } | Mop::Append { v, .. } => match pos {
                    Some(p) => st[p].1 = Some(*v),
                    None => st.push((key, Some(*v))),
                },
                Mop::Read { value: Some(r), .. } => {
                    let got = r.first().copied();
                    match pos {
                        Some(p) => {
                            if st[p].1 != got {
                                anomalies.push(anomaly(
                                    "internal",
                                    h,
                                    model,
                                    &[t.index],
                                    format!(
                                        "T{} read {} = {} but its own earlier micro-ops imply {}",
                                        t.index,
                                        h.key_name(key),
                                        super::read_text(Some(r), model),
                                        st[p].1.map(|x| x.to_string()).unwrap_or("nil".into())
                                    ),
                                ));
                            }
                            st[p].1 = got;
                        }
                        None => {
                            st.push((key, got));
                            let fw = t
                                .mops
                                .iter()
                                .rev()
                                .find(|n| n.key() == key && n.written().is_some())
                                .and_then(Mop::written);
                            ext[key as usize].push((t.index, got, fw));
                        }
                    }
                }
                Mop::Read { value: None, .. } => {}
            }
        }
    }

    // Non-cycle anomalies of external reads; committed info writers.
    let mut committed: Vec<bool> = h.txns.iter().map(|t| t.ty == TxnType::Ok).collect();
    for (key, rs) in ext.iter().enumerate() {
        for &(t, v, _) in rs {
            let Some(v) = v else { continue };
            match w.get(&(key as u32, v)) {
                None => anomalies.push(anomaly(
                    "garbage-read",
                    h,
                    model,
                    &[t],
                    format!(
                        "T{t} read {} = {v}, but no transaction wrote {v}",
                        h.key_name(key as u32)
                    ),
                )),
                Some(wr) if wr.txn == t => {}
                Some(wr) => match h.txns[wr.txn as usize].ty {
                    TxnType::Fail => anomalies.push(anomaly(
                        "G1a",
                        h,
                        model,
                        &[t, wr.txn],
                        format!(
                            "T{t} read {} = {v}, written by T{}, which failed (aborted read)",
                            h.key_name(key as u32),
                            wr.txn
                        ),
                    )),
                    ty => {
                        if ty == TxnType::Info {
                            committed[wr.txn as usize] = true;
                        }
                        if !wr.last_in_txn {
                            anomalies.push(anomaly(
                                "G1b",
                                h,
                                model,
                                &[t, wr.txn],
                                format!(
                                    "T{t} read {} = {v}, but T{} overwrote {v} later in the same transaction (intermediate read)",
                                    h.key_name(key as u32),
                                    wr.txn
                                ),
                            ));
                        }
                    }
                },
            }
        }
    }
    let node_writer = |key: u32, v: i64| -> Option<u32> {
        w.get(&(key, v))
            .filter(|wr| committed[wr.txn as usize] && wr.last_in_txn)
            .map(|wr| wr.txn)
    };
    // Committed writers per key (final writes only: intermediate ones are
    // not versions anyone may see).
    let mut key_writers: Vec<Vec<(u32, i64)>> = vec![Vec::new(); nkeys];
    for t in &h.txns {
        if !committed[t.index as usize] {
            continue;
        }
        for (i, m) in t.mops.iter().enumerate() {
            if let Some(v) = m.written() {
                let key = m.key();
                if !t.mops[i + 1..]
                    .iter()
                    .any(|n| n.key() == key && n.written().is_some())
                {
                    key_writers[key as usize].push((t.index, v));
                }
            }
        }
    }

    let mut edges = Vec::new();
    let mut push = |from: u32, to: u32, kind: EdgeKind, why: Why| {
        if from != to {
            edges.push(Edge {
                from,
                to,
                kind,
                why,
            });
        }
    };
    for key in 0..nkeys {
        let k = key as u32;
        // Readers per version (None = nil), for the rw edges of wfr.
        let mut readers: FxHashMap<Option<i64>, Vec<u32>> = FxHashMap::default();
        for &(t, v, _) in &ext[key] {
            readers.entry(v).or_default().push(t);
        }
        for &(t, v, fw) in &ext[key] {
            match v {
                Some(v) => {
                    if let Some(a) = node_writer(k, v) {
                        push(a, t, EdgeKind::Wr, Why::RegWr { key: k, v });
                    }
                }
                None => {
                    // nil is the first version: the reader precedes every write.
                    for &(b, bv) in &key_writers[key] {
                        push(t, b, EdgeKind::Rw, Why::RegNilRw { key: k, v: bv });
                    }
                }
            }
            // Writes follow reads: t read v, then wrote fw; in a serial order
            // v directly precedes fw.
            let Some(fw) = fw else { continue };
            // (Read nil: the nil rule above already orders t before every
            // other writer; "fw is the first version" would hold only under
            // serializability, so it is not used as a ww edge.)
            if let Some(v) = v {
                if let Some(a) = node_writer(k, v) {
                    push(
                        a,
                        t,
                        EdgeKind::Ww,
                        Why::RegWfrWw {
                            key: k,
                            a: v,
                            b: fw,
                        },
                    );
                }
            }
            for &r in readers.get(&v).map(Vec::as_slice).unwrap_or(&[]) {
                push(
                    r,
                    t,
                    EdgeKind::Rw,
                    Why::RegWfrRw {
                        key: k,
                        a: v,
                        b: fw,
                    },
                );
            }
        }
    }

    lost_updates(h, model, &mut anomalies, |t, i| {
        match &h.txns[t as usize].mops[i] {
            Mop::Read { value: Some(v), .. } => Some(v.clone()),
            _ => None,
        }
    });

    Inferred {
        anomalies,
        edges,
        committed,
    }
}
