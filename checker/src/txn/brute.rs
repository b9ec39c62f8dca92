//! Brute-force serializability, the oracle of the differential test.
//!
//! A history is serializable iff some subset of its `info` transactions
//! together with all its `ok` ones (never a `fail` one) can be put in a
//! serial order in which every `ok` read returns exactly the state the
//! order implies (lists: the appends so far; registers: the last write or
//! nil). Strict serializability additionally requires the order to respect
//! real time: if T1 completed before T2 was invoked, T1 comes first (an
//! `info` transaction never completes). Depth-first over orders with
//! pruning at the first read that cannot be explained.

use super::{Mop, TxnHistory, TxnModel, TxnType};

/// Most transactions the brute force accepts (orders grow factorially).
pub const MAX_TXNS: usize = 9;

/// `None` if the history has more than [`MAX_TXNS`] transactions.
pub fn serializable(h: &TxnHistory, model: TxnModel, strict: bool) -> Option<bool> {
    if h.txns.len() > MAX_TXNS {
        return None;
    }
    let ok: Vec<usize> = (0..h.txns.len())
        .filter(|&i| h.txns[i].ty == TxnType::Ok)
        .collect();
    let info: Vec<usize> = (0..h.txns.len())
        .filter(|&i| h.txns[i].ty == TxnType::Info)
        .collect();
    for mask in 0u32..(1 << info.len()) {
        let mut set = ok.clone();
        for (b, &i) in info.iter().enumerate() {
            if mask & (1 << b) != 0 {
                set.push(i);
            }
        }
        let state = vec![Vec::new(); h.keys.len()];
        let mut used = vec![false; set.len()];
        let mut order = Vec::with_capacity(set.len());
        if dfs(h, model, strict, &set, &mut used, &mut order, state) {
            return Some(true);
        }
    }
    Some(false)
}

/// Applies transaction `t` to `state`; false if an `ok` read disagrees.
fn apply(h: &TxnHistory, model: TxnModel, t: usize, state: &mut [Vec<i64>]) -> bool {
    let txn = &h.txns[t];
    for m in &txn.mops {
        match m {
            Mop::Append { key, v } => state[*key as usize].push(*v),
            Mop::Write { key, v } => {
                let s = &mut state[*key as usize];
                s.clear();
                s.push(*v);
            }
            Mop::Read { key, value } => {
                if txn.ty != TxnType::Ok {
                    continue;
                }
                let Some(seen) = value else { continue };
                let cur = &state[*key as usize];
                let matches = match model {
                    TxnModel::ListAppend => cur == seen,
                    TxnModel::RwRegister => cur.last() == seen.first() && seen.len() <= 1,
                };
                if !matches {
                    return false;
                }
            }
        }
    }
    true
}

fn dfs(
    h: &TxnHistory,
    model: TxnModel,
    strict: bool,
    set: &[usize],
    used: &mut [bool],
    order: &mut Vec<usize>,
    state: Vec<Vec<i64>>,
) -> bool {
    if order.len() == set.len() {
        return true;
    }
    for j in 0..set.len() {
        if used[j] {
            continue;
        }
        let t = set[j];
        if strict {
            // Every unplaced transaction that completed before t was invoked
            // must come first.
            let call = h.txns[t].call;
            let blocked = set.iter().enumerate().any(|(k, &u)| {
                !used[k]
                    && k != j
                    && h.txns[u]
                        .ret
                        .is_some_and(|r| h.txns[u].ty == TxnType::Ok && r < call)
            });
            if blocked {
                continue;
            }
        }
        let mut next = state.clone();
        if !apply(h, model, t, &mut next) {
            continue;
        }
        used[j] = true;
        order.push(t);
        if dfs(h, model, strict, set, used, order, next) {
            return true;
        }
        order.pop();
        used[j] = false;
    }
    false
}
