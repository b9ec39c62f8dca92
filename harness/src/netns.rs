//! The `network: netns` backend: every node in its own Linux network namespace,
//! attached by a veth pair to a per-run bridge; partitions are nftables drop (or
//! reject) rules inside the namespaces and `netem` faults are `tc qdisc … netem`
//! on the node's interface (root only; `ip`, `nft`, `tc` from iproute2 / nftables).
//!
//! Layout of one run ([`Netns::create`]):
//! - names carry the prefix `sdh`, the owner's pid in base 36 and a per-process
//!   counter (`sdh<5 digits pid36><c>`): namespaces `sdh…-n<ID>`, bridge `sdh…b`, host-side
//!   veths `sdh…v<ID>` (the node side is `eth0` inside its namespace), so parallel
//!   runs never collide and a leftover's owner is known from its name alone;
//! - a private `10.A.B.0/24` (picked so it is not on any local interface): the bridge
//!   is `.1` (every client's source address), `.2` is the harness's control plane
//!   (leader discovery, readiness; never cut), node `n` is `.(10 + n)`.
//!
//! Cuts are packet-level: cutting `a → b` drops every packet `a` sends to `b` (so TCP
//! fails both ways on that pair, but `b`'s UDP to `a` still arrives); a client cut of
//! node `n` drops its traffic to and from `.1`. Rules are re-rendered per namespace as
//! one atomic `nft -f` script from the set of cuts, so heal = render the set without them.
//!
//! Teardown ([`Netns::teardown`]) runs on drop (normal exit, errors, panics unwinding)
//! and from [`teardown_all`] (the Ctrl-C handler); [`remove_leftovers`] (run before every
//! create) deletes only resources with this prefix whose owner pid is dead, for runs
//! that were SIGKILLed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// The name prefix of every resource this backend creates.
pub const PREFIX: &str = "sdh";
/// RESP port of every node (inside its own namespace, so all nodes use the same).
pub const RESP_PORT: u16 = 7000;
/// Raft port of every node.
pub const RAFT_PORT: u16 = 7001;

/// Setting up or changing the namespaces failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("the netns backend needs root (this process runs as uid {0})")]
    NotRoot(u32),
    #[error("`{cmd}` failed: {out}")]
    Command { cmd: String, out: String },
    #[error("running `{cmd}`: {source} (install iproute2 / nftables)")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("no free 10.x.y.0/24 subnet for the bridge")]
    NoSubnet,
    #[error("no node {0} in this network")]
    NoSuchNode(u32),
}

/// How a cut link misbehaves: silently (`drop`) or with an immediate error (`reject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cut {
    Drop,
    Reject,
}

/// A `netem` qdisc's parameters (percentages 0–100; durations in ms).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetemSpec {
    pub loss: Option<f64>,
    pub delay_ms: Option<u64>,
    pub jitter_ms: Option<u64>,
    pub duplicate: Option<f64>,
    pub reorder: Option<f64>,
}

impl NetemSpec {
    /// The `tc … netem` arguments.
    pub fn tc_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        // reorder needs a delay to reorder against.
        let delay = self
            .delay_ms
            .or(self.reorder.map(|_| 10))
            .or(self.jitter_ms.map(|_| 0));
        if let Some(d) = delay {
            a.push("delay".into());
            a.push(format!("{d}ms"));
            if let Some(j) = self.jitter_ms {
                a.push(format!("{j}ms"));
            }
        }
        if let Some(l) = self.loss {
            a.push("loss".into());
            a.push(format!("{l}%"));
        }
        if let Some(d) = self.duplicate {
            a.push("duplicate".into());
            a.push(format!("{d}%"));
        }
        if let Some(r) = self.reorder {
            a.push("reorder".into());
            a.push(format!("{r}%"));
        }
        a
    }
    /// Whether anything besides loss is asked for (only `tc netem` can do those).
    pub fn needs_qdisc(&self) -> bool {
        self.delay_ms.is_some()
            || self.jitter_ms.is_some()
            || self.duplicate.is_some()
            || self.reorder.is_some()
    }
}

#[derive(Default)]
struct Rules {
    /// `(from, to)` node pairs cut, with how.
    links: BTreeMap<(u32, u32), Cut>,
    /// Nodes whose client link is cut.
    clients: BTreeMap<u32, Cut>,
    /// Nodes with packet loss done by nftables (per mille), where the kernel has no netem.
    loss: BTreeMap<u32, u32>,
}

/// One run's namespaces, veths and bridge.
pub struct Netns {
    tag: String,
    subnet: [u8; 3],
    nodes: Vec<u32>,
    rules: Mutex<Rules>,
    torn_down: bool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);
/// Tags of live backends in this process (for [`teardown_all`]).
static LIVE: Mutex<Vec<(String, Vec<u32>)>> = Mutex::new(Vec::new());

/// `n` in base 36, zero-padded to `width` digits (`width` is a minimum).
fn base36(mut n: u32, width: usize) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut v = Vec::new();
    while n > 0 || v.len() < width {
        v.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    v.reverse();
    String::from_utf8_lossy(&v).into_owned()
}

fn run(cmd: &str, args: &[&str]) -> Result<String, NetnsError> {
    run_stdin(cmd, args, None)
}

fn run_stdin(cmd: &str, args: &[&str], input: Option<&str>) -> Result<String, NetnsError> {
    let line = format!("{cmd} {}", args.join(" "));
    let mut c = Command::new(cmd);
    c.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|source| NetnsError::Spawn {
        cmd: line.clone(),
        source,
    })?;
    if let (Some(text), Some(mut sin)) = (input, child.stdin.take()) {
        let _ = sin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| NetnsError::Spawn {
            cmd: line.clone(),
            source,
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(NetnsError::Command {
            cmd: line,
            out: text.trim().to_string(),
        })
    }
}

/// Whether this process can use the backend: root, and `ip netns` works. `Err` says why not.
pub fn available() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid != 0 {
        return Err(format!("not root (uid {uid})"));
    }
    for tool in ["ip", "nft", "tc"] {
        if crate::system::which(tool).is_err() {
            return Err(format!(
                "`{tool}` not found on PATH (Debian packages iproute2, nftables)"
            ));
        }
    }
    run("ip", &["netns", "list"])
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The owner pid encoded in a resource name, if it is one of ours
/// (`sdh` + the pid in 5 base-36 digits + one counter digit + a suffix).
fn owner_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let pid36 = rest.get(..5)?;
    rest.get(5..6)?;
    u32::from_str_radix(pid36, 36).ok()
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Deletes namespaces and links with this backend's prefix whose owner process is dead.
/// Returns what it removed.
pub fn remove_leftovers() -> Vec<String> {
    let mut removed = Vec::new();
    if let Ok(list) = run("ip", &["netns", "list"]) {
        for line in list.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if name.starts_with(PREFIX) && owner_of(name).is_some_and(|p| !pid_alive(p)) {
                let _ = run("ip", &["netns", "del", name]);
                removed.push(name.to_string());
            }
        }
    }
    if let Ok(list) = run("ip", &["-o", "link", "show"]) {
        for line in list.lines() {
            // "7: sdh1a2b0v1@if6: <…" / "5: sdh1a2b0b: <…"
            let Some(name) = line.split(": ").nth(1) else {
                continue;
            };
            let name = name.split('@').next().unwrap_or(name);
            if name.starts_with(PREFIX) && owner_of(name).is_some_and(|p| !pid_alive(p)) {
                let _ = run("ip", &["link", "del", name]);
                removed.push(name.to_string());
            }
        }
    }
    removed
}

/// Tears down every live backend of this process (for a Ctrl-C handler that exits without
/// unwinding). Returns how many it removed.
pub fn teardown_all() -> usize {
    let live: Vec<(String, Vec<u32>)> = LIVE.lock().map(|g| g.clone()).unwrap_or_default();
    for (tag, nodes) in &live {
        delete_resources(tag, nodes);
    }
    live.len()
}

fn delete_resources(tag: &str, nodes: &[u32]) {
    for n in nodes {
        let _ = run("ip", &["netns", "del", &format!("{tag}-n{n}")]);
        let _ = run("ip", &["link", "del", &format!("{tag}v{n}")]);
    }
    let _ = run("ip", &["link", "del", &format!("{tag}b")]);
}

fn subnets_in_use() -> BTreeSet<[u8; 3]> {
    let mut s = BTreeSet::new();
    if let Ok(out) = run("ip", &["-o", "-4", "addr", "show"]) {
        for w in out.split_whitespace() {
            if let Some((a, _)) = w.split_once('/') {
                if let Ok(ip) = a.parse::<Ipv4Addr>() {
                    let o = ip.octets();
                    s.insert([o[0], o[1], o[2]]);
                }
            }
        }
    }
    s
}

impl Netns {
    /// Creates the bridge and one namespace per node id, each with `lo` up and `eth0` at
    /// its address, and checks that the root namespace reaches every node.
    pub fn create(nodes: &[u32]) -> Result<Netns, NetnsError> {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        if uid != 0 {
            return Err(NetnsError::NotRoot(uid));
        }
        remove_leftovers();
        let c = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = format!(
            "{PREFIX}{}{}",
            base36(std::process::id(), 5),
            base36(c % 36, 1)
        );
        let used = subnets_in_use();
        let seed = std::process::id().wrapping_mul(2654435761).wrapping_add(c);
        let subnet = (0..4096u32)
            .map(|i| {
                let h = seed.wrapping_add(i.wrapping_mul(40503));
                [10u8, 200 + (h % 50) as u8, (h / 50 % 256) as u8]
            })
            .find(|s| !used.contains(s))
            .ok_or(NetnsError::NoSubnet)?;
        let me = Netns {
            tag: tag.clone(),
            subnet,
            nodes: nodes.to_vec(),
            rules: Mutex::new(Rules::default()),
            torn_down: false,
        };
        if let Ok(mut g) = LIVE.lock() {
            g.push((tag.clone(), nodes.to_vec()));
        }
        // From here on, drop tears down whatever was created.
        let br = me.bridge();
        run("ip", &["link", "add", &br, "type", "bridge"])?;
        run(
            "ip",
            &["addr", "add", &format!("{}/24", me.client_ip()), "dev", &br],
        )?;
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/24", me.control_ip()),
                "dev",
                &br,
            ],
        )?;
        run("ip", &["link", "set", &br, "up"])?;
        for &n in nodes {
            let ns = me.ns(n);
            let v = me.veth(n);
            run("ip", &["netns", "add", &ns])?;
            run(
                "ip",
                &[
                    "link", "add", &v, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            )?;
            run("ip", &["link", "set", &v, "master", &br, "up"])?;
            run(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{}/24", me.ip(n)),
                    "dev",
                    "eth0",
                ],
            )?;
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
            me.render(n, &Rules::default())?;
        }
        Ok(me)
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }
    /// The namespace of node `n`.
    pub fn ns(&self, n: u32) -> String {
        format!("{}-n{n}", self.tag)
    }
    pub fn bridge(&self) -> String {
        format!("{}b", self.tag)
    }
    /// The host-side veth of node `n`.
    pub fn veth(&self, n: u32) -> String {
        format!("{}v{n}", self.tag)
    }
    fn addr(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(self.subnet[0], self.subnet[1], self.subnet[2], last)
    }
    /// Node `n`'s address.
    pub fn ip(&self, n: u32) -> Ipv4Addr {
        self.addr(10u32.saturating_add(n).min(254) as u8)
    }
    /// Where clients' connections come from (the bridge).
    pub fn client_ip(&self) -> Ipv4Addr {
        self.addr(1)
    }
    /// The harness's control-plane source address (never cut).
    pub fn control_ip(&self) -> Ipv4Addr {
        self.addr(2)
    }
    pub fn nodes(&self) -> &[u32] {
        &self.nodes
    }
    /// `/run/netns/<ns>`: open it and `setns(CLONE_NEWNET)` to enter node `n`'s namespace.
    pub fn ns_path(&self, n: u32) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("/run/netns/{}", self.ns(n)))
    }

    fn check(&self, n: u32) -> Result<(), NetnsError> {
        if self.nodes.contains(&n) {
            Ok(())
        } else {
            Err(NetnsError::NoSuchNode(n))
        }
    }

    /// Renders node `n`'s nftables table from the cut set, atomically.
    fn render(&self, n: u32, r: &Rules) -> Result<(), NetnsError> {
        let verdict = |c: Cut| match c {
            Cut::Drop => "drop",
            Cut::Reject => "reject with icmpx type admin-prohibited",
        };
        let mut s = String::new();
        s.push_str("table inet sdrh {\n chain output { type filter hook output priority 0; policy accept; }\n chain input { type filter hook input priority 0; policy accept; }\n}\n");
        s.push_str("flush chain inet sdrh output\nflush chain inet sdrh input\n");
        for ((a, b), c) in &r.links {
            if *a == n {
                s.push_str(&format!(
                    "add rule inet sdrh output ip daddr {} {}\n",
                    self.ip(*b),
                    verdict(*c)
                ));
            }
        }
        if let Some(c) = r.clients.get(&n) {
            let ip = self.client_ip();
            s.push_str(&format!("add rule inet sdrh input ip saddr {ip} drop\n"));
            s.push_str(&format!(
                "add rule inet sdrh output ip daddr {ip} {}\n",
                verdict(*c)
            ));
        }
        if let Some(pm) = r.loss.get(&n) {
            s.push_str(&format!(
                "add rule inet sdrh output ip daddr != {} numgen random mod 1000 < {pm} drop\n",
                self.control_ip()
            ));
        }
        run_stdin(
            "ip",
            &["netns", "exec", &self.ns(n), "nft", "-f", "-"],
            Some(&s),
        )
        .map(|_| ())
    }

    fn update(&self, touched: &[u32], f: impl FnOnce(&mut Rules)) -> Result<(), NetnsError> {
        let mut g = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g);
        for n in touched {
            self.render(*n, &g)?;
        }
        Ok(())
    }

    /// Cuts (`Some`) or restores (`None`) the packets `from` sends to `to`.
    pub fn set_link(&self, from: u32, to: u32, cut: Option<Cut>) -> Result<(), NetnsError> {
        self.check(from)?;
        self.check(to)?;
        self.update(&[from], |r| match cut {
            Some(c) => {
                r.links.insert((from, to), c);
            }
            None => {
                r.links.remove(&(from, to));
            }
        })
    }

    /// Cuts or restores every client's traffic to and from node `n`.
    pub fn set_client_link(&self, n: u32, cut: Option<Cut>) -> Result<(), NetnsError> {
        self.check(n)?;
        self.update(&[n], |r| match cut {
            Some(c) => {
                r.clients.insert(n, c);
            }
            None => {
                r.clients.remove(&n);
            }
        })
    }

    /// Removes every cut (not netem).
    pub fn heal(&self) -> Result<(), NetnsError> {
        let nodes = self.nodes.clone();
        self.update(&nodes, |r| {
            r.links.clear();
            r.clients.clear();
        })
    }

    /// Installs (`Some`) or removes (`None`) netem on node `n`'s egress (`eth0` in its
    /// namespace: everything it sends, to peers and clients). Where the kernel has no
    /// `sch_netem`, loss alone is done with an nftables `numgen` drop rule; the other
    /// parameters cannot be, and the returned text says so. Returns what was applied.
    pub fn set_netem(&self, n: u32, spec: Option<&NetemSpec>) -> Result<String, NetnsError> {
        self.check(n)?;
        let ns = self.ns(n);
        let Some(spec) = spec else {
            let _ = run(
                "ip",
                &[
                    "netns", "exec", &ns, "tc", "qdisc", "del", "dev", "eth0", "root",
                ],
            );
            self.update(&[n], |r| {
                r.loss.remove(&n);
            })?;
            return Ok("netem removed".into());
        };
        let args = spec.tc_args();
        let mut cmd: Vec<&str> = vec![
            "netns", "exec", &ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "netem",
        ];
        cmd.extend(args.iter().map(String::as_str));
        match run("ip", &cmd) {
            Ok(_) => Ok(format!("tc netem {}", args.join(" "))),
            Err(NetnsError::Command { out, .. }) if out.contains("qdisc kind is unknown") => {
                let Some(loss) = spec.loss else {
                    return Err(NetnsError::Command {
                        cmd: format!("tc qdisc replace dev eth0 root netem {}", args.join(" ")),
                        out: "this kernel has no sch_netem (CONFIG_NET_SCH_NETEM); only loss can be emulated without it".into(),
                    });
                };
                let pm = (loss * 10.0).round().clamp(0.0, 1000.0) as u32;
                self.update(&[n], |r| {
                    r.loss.insert(n, pm);
                })?;
                let mut d = format!("loss {loss}% by nftables numgen (kernel has no sch_netem)");
                if spec.needs_qdisc() {
                    d.push_str("; delay/jitter/duplicate/reorder NOT applied (need sch_netem)");
                }
                Ok(d)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the kernel has the netem qdisc (probed on node `n`'s `lo`).
    pub fn kernel_has_netem(&self, n: u32) -> bool {
        let ns = self.ns(n);
        let ok = run(
            "ip",
            &[
                "netns", "exec", &ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay",
                "0ms",
            ],
        )
        .is_ok();
        if ok {
            let _ = run(
                "ip",
                &[
                    "netns", "exec", &ns, "tc", "qdisc", "del", "dev", "lo", "root",
                ],
            );
        }
        ok
    }

    /// Runs `f` on a fresh thread inside node `n`'s namespace (sockets it opens live
    /// there). For probes and tests.
    pub fn run_in<T: Send + 'static>(
        &self,
        n: u32,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::io::Result<T> {
        let path = self.ns_path(n);
        std::thread::spawn(move || -> std::io::Result<T> {
            enter(&path)?;
            Ok(f())
        })
        .join()
        .map_err(|_| std::io::Error::other("probe thread panicked"))?
    }

    /// Deletes the namespaces, veths and bridge (idempotent).
    pub fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        delete_resources(&self.tag, &self.nodes);
        if let Ok(mut g) = LIVE.lock() {
            g.retain(|(t, _)| *t != self.tag);
        }
        self.torn_down = true;
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Moves the calling thread into the network namespace at `path` (`/run/netns/<ns>`).
pub fn enter(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: setns on an owned, open fd; affects only the calling thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_from_names() {
        let pid = 123456u32;
        let tag = format!("{PREFIX}{}{}", base36(pid, 5), base36(7, 1));
        assert_eq!(tag.len(), 9);
        assert_eq!(owner_of(&format!("{tag}-n3")), Some(pid));
        assert_eq!(owner_of(&format!("{tag}b")), Some(pid));
        assert_eq!(owner_of(&format!("{tag}v12")), Some(pid));
        assert_eq!(owner_of("eth0"), None);
        assert_eq!(owner_of("docker0"), None);
    }

    #[test]
    fn netem_arguments() {
        let s = NetemSpec {
            loss: Some(10.0),
            delay_ms: Some(50),
            jitter_ms: Some(20),
            duplicate: Some(1.0),
            reorder: Some(5.0),
        };
        assert_eq!(
            s.tc_args().join(" "),
            "delay 50ms 20ms loss 10% duplicate 1% reorder 5%"
        );
        let only_loss = NetemSpec {
            loss: Some(30.0),
            ..NetemSpec::default()
        };
        assert_eq!(only_loss.tc_args().join(" "), "loss 30%");
        assert!(!only_loss.needs_qdisc() && s.needs_qdisc());
    }
}
