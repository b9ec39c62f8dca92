//! The dependency graph: committed transactions as nodes, labelled edges
//! (ww / wr / rw from inference, process / realtime from the clock), strongly
//! connected components by an iterative Tarjan (no recursion: histories have
//! millions of transactions), and the shortest-cycle search per anomaly class.
//!
//! Cycle classes (Adya / Elle), searched inside each SCC of the data edges:
//! - `G0` — only ww edges (an SCC of the ww subgraph);
//! - `G1c` — ww + wr with at least one wr (an SCC of the ww+wr subgraph with
//!   an internal wr edge; the cycle is the wr edge plus the BFS path back);
//! - `G-single` — exactly one rw: an rw edge u→v plus a ww/wr path v⇝u;
//! - `G2-item` — two or more rw (reported only where no weaker cycle was
//!   found in the component: the component is cyclic, so one exists).
//!
//! `-realtime` / `-process` variants: cycles that need at least one time
//! edge, searched in SCCs of the full graph that hold no data-only cycle.
//! Each cycle is the shortest through its starting edge (BFS); the shortest
//! over at most `max_cycle_search` starting edges is reported.

use super::infer::{Edge, Why};
use super::{txn_ref, Anomaly, EdgeKind, Level, Step, TxnHistory, TxnModel, TxnOptions, TxnType};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// Compressed adjacency: edges sorted by source; `start[n]..start[n+1]` are
/// node `n`'s out-edges.
pub struct Graph {
    pub edges: Vec<Edge>,
    pub start: Vec<u32>,
}

impl Graph {
    /// Builds the graph from the inferred data edges plus the transitively
    /// reduced real-time order over committed transactions.
    pub fn build(h: &TxnHistory, mut edges: Vec<Edge>, committed: &[bool]) -> Graph {
        realtime_edges(h, committed, &mut edges);
        // Bucket by source (counting sort, O(E)), then sort each node's few
        // out-edges by (target, kind) and drop duplicates.
        let n = h.txns.len();
        let mut count = vec![0u32; n + 1];
        for e in &edges {
            count[e.from as usize + 1] += 1;
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        // dest[i] = where edge i goes; applied in place by following cycles
        // (no second copy of the edges: they are most of the memory).
        let mut next = count.clone();
        let mut dest = vec![0u32; edges.len()];
        for (i, e) in edges.iter().enumerate() {
            let slot = &mut next[e.from as usize];
            dest[i] = *slot;
            *slot += 1;
        }
        drop(next);
        for i in 0..edges.len() {
            while dest[i] as usize != i {
                let d = dest[i] as usize;
                edges.swap(i, d);
                dest.swap(i, d);
            }
        }
        drop(dest);
        let mut start = vec![0u32; n + 1];
        let mut w = 0usize;
        for v in 0..n {
            let (a, b) = (count[v] as usize, count[v + 1] as usize);
            edges[a..b].sort_unstable_by_key(|e| (e.to, e.kind));
            let mut last: Option<(u32, EdgeKind)> = None;
            for i in a..b {
                let e = edges[i];
                if last != Some((e.to, e.kind)) {
                    edges[w] = e;
                    w += 1;
                    last = Some((e.to, e.kind));
                }
            }
            start[v + 1] = w as u32;
        }
        edges.truncate(w);
        edges.shrink_to_fit();
        let out = edges;
        Graph { edges: out, start }
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    fn out(&self, n: u32) -> std::ops::Range<usize> {
        self.start[n as usize] as usize..self.start[n as usize + 1] as usize
    }
}

/// Real-time edges T1 → T2 when T1 completed before T2 was invoked,
/// transitively reduced (Elle's frontier construction): walking events in
/// time order, an invocation gets an edge from every transaction in the
/// frontier (completed, not yet implied by a later completion); a completion
/// removes its own predecessors from the frontier and joins it. `info`
/// transactions never complete, so they only receive edges.
fn realtime_edges(h: &TxnHistory, committed: &[bool], edges: &mut Vec<Edge>) {
    // (time, 0 = invoke / 1 = complete, txn): invocations first at equal
    // times (equal times are not "before").
    let mut ev: Vec<(i64, u8, u32)> = Vec::with_capacity(h.txns.len() * 2);
    for t in &h.txns {
        if !committed[t.index as usize] {
            continue;
        }
        ev.push((t.call, 0, t.index));
        if let (TxnType::Ok, Some(r)) = (t.ty, t.ret) {
            ev.push((r, 1, t.index));
        }
    }
    ev.sort_unstable();
    let mut frontier: Vec<u32> = Vec::new();
    // preds[t] = range of t's incoming realtime edges in `rt`.
    let mut rt: Vec<(u32, u32)> = Vec::new();
    let mut preds: FxHashMap<u32, (usize, usize)> = FxHashMap::default();
    let mut mark: FxHashMap<u32, u32> = FxHashMap::default();
    let mut stamp = 0u32;
    for (_, kind, t) in ev {
        if kind == 0 {
            let s = rt.len();
            rt.extend(frontier.iter().map(|&f| (f, t)));
            preds.insert(t, (s, rt.len()));
        } else {
            stamp += 1;
            if let Some(&(s, e)) = preds.get(&t) {
                for &(f, _) in &rt[s..e] {
                    mark.insert(f, stamp);
                }
            }
            frontier.retain(|f| mark.get(f) != Some(&stamp));
            frontier.push(t);
            preds.remove(&t);
            mark.clear();
        }
    }
    edges.reserve(rt.len());
    for (a, b) in rt {
        let kind = if h.txns[a as usize].process == h.txns[b as usize].process {
            EdgeKind::Process
        } else {
            EdgeKind::Realtime
        };
        edges.push(Edge {
            from: a,
            to: b,
            kind,
            why: Why::Time,
        });
    }
}

/// Iterative Tarjan over `nodes`, following edges accepted by `keep` whose
/// target is in the set (`member[target] == tag`). Returns the components
/// with more than one node. `index`/`low` are scratch arrays over all nodes
/// (left reset to u32::MAX for the nodes visited).
#[allow(clippy::too_many_arguments)]
fn sccs(
    g: &Graph,
    nodes: &[u32],
    member: &[u32],
    tag: u32,
    keep: &dyn Fn(&Edge) -> bool,
    index: &mut [u32],
    low: &mut [u32],
    on_stack: &mut [bool],
) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let mut next = 0u32;
    let mut stack: Vec<u32> = Vec::new();
    // Call stack: (node, next edge position).
    let mut call: Vec<(u32, usize)> = Vec::new();
    for &root in nodes {
        if index[root as usize] != u32::MAX {
            continue;
        }
        call.push((root, g.out(root).start));
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&(v, pos0)) = call.last() {
            let end = g.out(v).end;
            let mut pos = pos0;
            let mut child = None;
            while pos < end {
                let e = &g.edges[pos];
                pos += 1;
                let w = e.to;
                if member[w as usize] != tag || !keep(e) {
                    continue;
                }
                if index[w as usize] == u32::MAX {
                    child = Some(w);
                    break;
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            }
            if let Some(top) = call.last_mut() {
                top.1 = pos;
            }
            if let Some(w) = child {
                index[w as usize] = next;
                low[w as usize] = next;
                next += 1;
                stack.push(w);
                on_stack[w as usize] = true;
                call.push((w, g.out(w).start));
                continue;
            }
            call.pop();
            if let Some(&(p, _)) = call.last() {
                low[p as usize] = low[p as usize].min(low[v as usize]);
            }
            if low[v as usize] == index[v as usize] {
                let mut comp = Vec::new();
                while let Some(x) = stack.pop() {
                    on_stack[x as usize] = false;
                    comp.push(x);
                    if x == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    out.push(comp);
                }
            }
        }
    }
    for &n in nodes {
        index[n as usize] = u32::MAX;
        low[n as usize] = u32::MAX;
    }
    out
}

/// Shortest path by BFS from `from` to `to` over edges accepted by `keep`
/// inside the set `member == tag`, with a small automaton state: `step`
/// maps (state, edge) to the next state or rejects the edge; the path must
/// end in state `accept`. Returns edge indices.
#[allow(clippy::too_many_arguments)]
fn bfs(
    g: &Graph,
    from: u32,
    s0: u8,
    to: u32,
    accept: u8,
    member: &[u32],
    tag: u32,
    step: &dyn Fn(u8, &Edge) -> Option<u8>,
    work: &mut u64,
) -> Option<Vec<usize>> {
    let mut parent: FxHashMap<(u32, u8), (u32, u8, usize)> = FxHashMap::default();
    let mut q = VecDeque::new();
    q.push_back((from, s0));
    parent.insert((from, s0), (u32::MAX, 0, usize::MAX));
    while let Some((v, s)) = q.pop_front() {
        if v == to && s == accept {
            let mut path = Vec::new();
            let mut cur = (v, s);
            while let Some(&(pv, ps, e)) = parent.get(&cur) {
                if e == usize::MAX {
                    break;
                }
                path.push(e);
                cur = (pv, ps);
            }
            path.reverse();
            return Some(path);
        }
        let out = g.out(v);
        *work += out.len() as u64 + 1;
        for ei in out {
            let e = &g.edges[ei];
            if member[e.to as usize] != tag {
                continue;
            }
            let Some(ns) = step(s, e) else { continue };
            if let std::collections::hash_map::Entry::Vacant(x) = parent.entry((e.to, ns)) {
                x.insert((v, s, ei));
                q.push_back((e.to, ns));
            }
        }
    }
    None
}

/// What the cycle search found.
pub struct Cycles {
    pub anomalies: Vec<Anomaly>,
    pub cyclic_components: usize,
    pub truncated: bool,
}

struct Search<'a> {
    g: &'a Graph,
    member: Vec<u32>,
    index: Vec<u32>,
    low: Vec<u32>,
    on_stack: Vec<bool>,
    tag: u32,
    budget: usize,
    /// Edge visits left for all BFS runs together.
    steps_left: u64,
    truncated: bool,
}

impl Search<'_> {
    fn mark(&mut self, nodes: &[u32]) -> u32 {
        self.tag += 1;
        for &n in nodes {
            self.member[n as usize] = self.tag;
        }
        self.tag
    }

    fn sub_sccs(&mut self, nodes: &[u32], keep: &dyn Fn(&Edge) -> bool) -> Vec<Vec<u32>> {
        let tag = self.mark(nodes);
        sccs(
            self.g,
            nodes,
            &self.member,
            tag,
            keep,
            &mut self.index,
            &mut self.low,
            &mut self.on_stack,
        )
    }

    /// Shortest cycle through one of the edges `starts` (tried in order, at
    /// most `budget`): the edge u→v (state after it: `first(e)`), then a BFS
    /// path v⇝u ending in `accept`.
    fn shortest_through(
        &mut self,
        nodes: &[u32],
        starts: &[usize],
        first: &dyn Fn(&Edge) -> u8,
        accept: u8,
        step: &dyn Fn(u8, &Edge) -> Option<u8>,
        stop_at_first: bool,
    ) -> Option<Vec<usize>> {
        let tag = self.mark(nodes);
        let mut best: Option<Vec<usize>> = None;
        let mut since_found = 0usize;
        for (n, &ei) in starts.iter().enumerate() {
            if best.is_some() {
                since_found += 1;
                if stop_at_first || since_found > SHORTEST_TRIES {
                    break;
                }
            } else if n >= self.budget || self.steps_left == 0 {
                self.truncated = true;
                break;
            }
            if self.steps_left == 0 {
                break;
            }
            let e = &self.g.edges[ei];
            let mut work = 0u64;
            let found = bfs(
                self.g,
                e.to,
                first(e),
                e.from,
                accept,
                &self.member,
                tag,
                step,
                &mut work,
            );
            self.steps_left = self.steps_left.saturating_sub(work);
            if let Some(p) = found {
                let mut c = vec![ei];
                c.extend(p);
                if best.as_ref().is_none_or(|b| c.len() < b.len()) {
                    let two = c.len() == 2;
                    best = Some(c);
                    if two {
                        break;
                    }
                }
            }
        }
        best
    }

    fn internal_edges(&self, nodes: &[u32], tag: u32, keep: &dyn Fn(&Edge) -> bool) -> Vec<usize> {
        let mut v = Vec::new();
        for &n in nodes {
            for ei in self.g.out(n) {
                let e = &self.g.edges[ei];
                if self.member[e.to as usize] == tag && keep(e) {
                    v.push(ei);
                }
            }
        }
        v
    }
}

/// How many starting edges to try for the *shortest* cycle once one is known.
const SHORTEST_TRIES: usize = 64;

/// Finds anomaly cycles in `g`.
pub fn find_cycles(h: &TxnHistory, model: TxnModel, g: &Graph, opts: &TxnOptions) -> Cycles {
    let n = h.txns.len();
    let mut s = Search {
        g,
        member: vec![0; n],
        index: vec![u32::MAX; n],
        low: vec![u32::MAX; n],
        on_stack: vec![false; n],
        tag: 0,
        budget: opts.max_cycle_search.max(1),
        steps_left: opts.max_search_steps,
        truncated: false,
    };
    let all: Vec<u32> = (0..n as u32).collect();
    let tag0 = s.mark(&all);
    let full = sccs(
        g,
        &all,
        &s.member,
        tag0,
        &|_| true,
        &mut s.index,
        &mut s.low,
        &mut s.on_stack,
    );
    let mut found: Vec<(String, Vec<usize>)> = Vec::new();
    // Cyclic components in which the budget ran out before a cycle was found.
    let mut timeouts: Vec<(&'static str, Vec<u32>)> = Vec::new();
    let mut cyclic = 0usize;
    let is_data = |e: &Edge| e.kind.is_data();
    let ww = |e: &Edge| e.kind == EdgeKind::Ww;
    let wwwr = |e: &Edge| matches!(e.kind, EdgeKind::Ww | EdgeKind::Wr);
    for comp in &full {
        cyclic += 1;
        let data = s.sub_sccs(comp, &is_data);
        for d in &data {
            let before = found.len();
            let mut weaker = false;
            // G0: every nontrivial ww component.
            for c in s.sub_sccs(d, &ww) {
                let tag = s.mark(&c);
                let starts = s.internal_edges(&c, tag, &ww);
                let starts = &starts[..starts.len().min(SHORTEST_TRIES)];
                if let Some(cy) =
                    s.shortest_through(&c, starts, &|_| 0, 0, &|_, e| ww(e).then_some(0), false)
                {
                    found.push(("G0".into(), cy));
                    weaker = true;
                }
            }
            // G1c: ww+wr components with an internal wr edge.
            for c in s.sub_sccs(d, &wwwr) {
                let tag = s.mark(&c);
                let starts = s.internal_edges(&c, tag, &|e| e.kind == EdgeKind::Wr);
                let starts = &starts[..starts.len().min(SHORTEST_TRIES)];
                if let Some(cy) =
                    s.shortest_through(&c, starts, &|_| 0, 0, &|_, e| wwwr(e).then_some(0), false)
                {
                    found.push(("G1c".into(), cy));
                    weaker = true;
                }
            }
            // G-single: an rw edge closed by a ww/wr path.
            let tag = s.mark(d);
            let starts = s.internal_edges(d, tag, &|e| e.kind == EdgeKind::Rw);
            if let Some(cy) =
                s.shortest_through(d, &starts, &|_| 0, 0, &|_, e| wwwr(e).then_some(0), false)
            {
                found.push(("G-single".into(), cy));
                weaker = true;
            }
            if !weaker {
                // G2-item: an rw edge closed by a path holding another rw.
                let step = |st: u8, e: &Edge| -> Option<u8> {
                    match e.kind {
                        EdgeKind::Rw => Some(1),
                        EdgeKind::Ww | EdgeKind::Wr => Some(st),
                        _ => None,
                    }
                };
                let starts = &starts[..starts.len().min(SHORTEST_TRIES)];
                if let Some(cy) = s.shortest_through(d, starts, &|_| 0, 1, &step, false) {
                    found.push(("G2-item".into(), cy));
                }
            }
            if found.len() == before {
                timeouts.push(("cycle-search-timeout", d.clone()));
            }
        }
        if data.is_empty() {
            // Only time edges close cycles here.
            let tag = s.mark(comp);
            let starts = s.internal_edges(comp, tag, &|e| !e.kind.is_data());
            let step = |st: u8, _: &Edge| Some(st);
            if let Some(cy) = s.shortest_through(comp, &starts, &|_| 0, 0, &step, false) {
                let rw = cy
                    .iter()
                    .filter(|&&e| g.edges[e].kind == EdgeKind::Rw)
                    .count();
                let wr = cy.iter().any(|&e| g.edges[e].kind == EdgeKind::Wr);
                let rt = cy.iter().any(|&e| g.edges[e].kind == EdgeKind::Realtime);
                let base = match rw {
                    0 if !wr => "G0",
                    0 => "G1c",
                    1 => "G-single",
                    _ => "G2-item",
                };
                found.push((
                    format!("{base}-{}", if rt { "realtime" } else { "process" }),
                    cy,
                ));
            } else {
                timeouts.push(("realtime-cycle-search-timeout", comp.clone()));
            }
        }
    }
    let mut anomalies: Vec<Anomaly> = found
        .into_iter()
        .map(|(class, cy)| cycle_anomaly(h, model, g, class, &cy))
        .collect();
    for (class, mut nodes) in timeouts {
        nodes.sort_unstable();
        let what = if class.starts_with("realtime") {
            "data and real-time edges"
        } else {
            "ww/wr/rw edges"
        };
        anomalies.push(Anomaly {
            class: class.to_string(),
            violates: Level::weakest_forbidding(class),
            cycle: Vec::new(),
            txns: nodes
                .iter()
                .take(8)
                .map(|&i| txn_ref(h, &h.txns[i as usize], model))
                .collect(),
            explanation: format!(
                "{} transactions form a strongly connected component over {what}, so a cycle exists, but the search budget ran out before one was extracted (first transactions listed)",
                nodes.len()
            ),
        });
    }
    Cycles {
        anomalies,
        cyclic_components: cyclic,
        truncated: s.truncated,
    }
}

fn cycle_anomaly(
    h: &TxnHistory,
    model: TxnModel,
    g: &Graph,
    class: String,
    cy: &[usize],
) -> Anomaly {
    let steps: Vec<Step> = cy
        .iter()
        .map(|&ei| {
            let e = &g.edges[ei];
            Step {
                txn: txn_ref(h, &h.txns[e.from as usize], model),
                edge: e.kind,
                why: describe_edge(h, e),
            }
        })
        .collect();
    let mut text = String::new();
    for st in &steps {
        text.push_str(&st.why);
        text.push_str("; ");
    }
    let first = cy.first().map(|&e| g.edges[e].from).unwrap_or(0);
    text.push_str(&format!(
        "so T{first} must come before itself: a cycle ({class})"
    ));
    Anomaly {
        violates: Level::weakest_forbidding(&class),
        class,
        cycle: steps,
        txns: Vec::new(),
        explanation: text,
    }
}

fn list_text(last: Option<i64>) -> String {
    match last {
        None => "the empty list".into(),
        Some(x) => format!("a list ending in {x}"),
    }
}

/// The sentence that justifies an edge.
pub fn describe_edge(h: &TxnHistory, e: &Edge) -> String {
    let (a, b) = (e.from, e.to);
    let k = |key: u32| h.key_name(key).to_string();
    match e.why {
        Why::Time => {
            let (ta, tb) = (&h.txns[a as usize], &h.txns[b as usize]);
            if e.kind == EdgeKind::Process {
                format!(
                    "T{a} completed before T{b} was invoked on the same process {}, so T{a} →process T{b}",
                    ta.process
                )
            } else {
                format!(
                    "T{a} completed (t={}) before T{b} was invoked (t={}), so T{a} →realtime T{b}",
                    ta.ret.unwrap_or(0),
                    tb.call
                )
            }
        }
        Why::ListWw { key, a: x, b: y } => format!(
            "T{a} appended {x} to {} and T{b} appended {y} right after it (reads of {} show {x} then {y}), so T{a} →ww T{b}",
            k(key), k(key)
        ),
        Why::ListWwTail { key, a: x, b: y } => format!(
            "T{b}'s append of {y} to {} was never read, while reads saw {x} (appended by T{a}) as the last element, so {y} came after {x}: T{a} →ww T{b}",
            k(key)
        ),
        Why::ListWr { key, last } => format!(
            "T{b}'s read of {} saw a list ending in {last}, appended by T{a}, so T{a} →wr T{b}",
            k(key)
        ),
        Why::ListRw { key, last, next } => format!(
            "T{a}'s read of {} saw {} and missed {next}, the next element, appended by T{b}, so T{a} →rw T{b}",
            k(key),
            list_text(last)
        ),
        Why::ListRwTail { key, last, next } => format!(
            "T{a}'s read of {} saw {} and not T{b}'s (never read) append of {next}, so T{a} →rw T{b}",
            k(key),
            list_text(last)
        ),
        Why::RegWr { key, v } => format!("T{b} read {} = {v}, written by T{a}, so T{a} →wr T{b}", k(key)),
        Why::RegNilRw { key, v } => format!(
            "T{a} read {} = nil, the initial version, before T{b}'s write of {v}, so T{a} →rw T{b}",
            k(key)
        ),
        Why::RegWfrWw { key, a: x, b: y } => format!(
            "T{b} read {} = {x} (written by T{a}) and then wrote {y}, so {x} precedes {y}: T{a} →ww T{b}",
            k(key)
        ),
        Why::RegWfrRw { key, a: x, b: y } => format!(
            "T{a} read {} = {}, which T{b} read and then overwrote with {y}, so T{a} →rw T{b}",
            k(key),
            x.map(|v| v.to_string()).unwrap_or_else(|| "nil".into())
        ),
    }
}
