//! Process supervision: children never outlive the harness.
//!
//! Every child is spawned with `kill_on_drop` (drop, including unwinding after
//! a panic), in its own process group (a terminal Ctrl-C does not reach it
//! directly), with `PR_SET_PDEATHSIG = SIGKILL` (the harness dying kills it),
//! and registered so a Ctrl-C handler can kill them all ([`kill_all_children`]).
//! This file knows processes and signals only, nothing about nodes.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;
use tokio::process::{Child, Command};

static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn register(pid: u32) {
    if let Ok(mut g) = CHILDREN.lock() {
        g.insert(pid);
    }
}

fn unregister(pid: u32) {
    if let Ok(mut g) = CHILDREN.lock() {
        g.remove(&pid);
    }
}

/// SIGKILLs every child the harness has spawned and not yet reaped (for signal handlers).
pub fn kill_all_children() -> usize {
    let pids: Vec<u32> = CHILDREN
        .lock()
        .map(|g| g.iter().copied().collect())
        .unwrap_or_default();
    for &p in &pids {
        signal(p, libc::SIGKILL);
    }
    pids.len()
}

pub(crate) fn signal(pid: u32, sig: libc::c_int) -> bool {
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(p, sig) == 0 }
}

/// A spawned child that is SIGKILLed when dropped.
pub struct Guarded {
    child: Child,
    pid: u32,
}

impl Guarded {
    /// Spawns `cmd` with kill-on-drop, its own process group and a parent-death signal.
    pub fn spawn(mut cmd: Command) -> std::io::Result<Guarded> {
        cmd.kill_on_drop(true);
        // SAFETY: the closure only calls async-signal-safe functions (setpgid, prctl).
        unsafe {
            cmd.pre_exec(|| {
                libc::setpgid(0, 0);
                #[cfg(target_os = "linux")]
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| std::io::Error::other("child exited before its pid was known"))?;
        register(pid);
        Ok(Guarded { child, pid })
    }
    pub fn pid(&self) -> u32 {
        self.pid
    }
    pub fn signal(&self, sig: libc::c_int) -> bool {
        signal(self.pid, sig)
    }
    /// SIGKILL and reap.
    pub async fn kill(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait().await;
        unregister(self.pid);
    }
    /// SIGTERM (and SIGCONT, in case it is stopped); SIGKILL after `grace`. Returns the exit status text.
    pub async fn terminate(mut self, grace: Duration) -> String {
        self.signal(libc::SIGTERM);
        self.signal(libc::SIGCONT);
        let st = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(s)) => s.to_string(),
            _ => {
                self.signal(libc::SIGKILL);
                let _ = self.child.wait().await;
                "killed after the grace period".into()
            }
        };
        unregister(self.pid);
        st
    }
    /// `Some(status)` if the child has exited.
    pub fn try_exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.to_string()),
            _ => None,
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // kill_on_drop sends SIGKILL as well; do it explicitly so it also happens
        // if tokio's handle was already taken apart.
        self.signal(libc::SIGKILL);
        unregister(self.pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_state(pid: u32) -> Option<char> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after = s.rsplit_once(')')?.1;
        after.trim_start().chars().next()
    }

    fn gone(pid: u32) -> bool {
        matches!(proc_state(pid), None | Some('Z') | Some('X'))
    }

    #[test]
    fn a_panic_kills_the_child() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut cmd = Command::new("sleep");
                cmd.arg("30");
                let g = Guarded::spawn(cmd).expect("spawn sleep");
                tx.send(g.pid()).expect("send pid");
                tokio::time::sleep(Duration::from_millis(50)).await;
                panic!("planned panic with a live child");
            })
        });
        assert!(t.join().is_err(), "the thread must panic");
        let pid = rx.recv().expect("pid");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !gone(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            gone(pid),
            "child {pid} survived the panic: state {:?}",
            proc_state(pid)
        );
    }

    #[tokio::test]
    async fn pause_resume_and_kill_all() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let g = Guarded::spawn(cmd).expect("spawn sleep");
        let pid = g.pid();
        assert!(g.signal(libc::SIGSTOP));
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while proc_state(pid) != Some('T') && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(proc_state(pid), Some('T'));
        assert!(g.signal(libc::SIGCONT));
        assert!(kill_all_children() >= 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while !gone(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(gone(pid));
        drop(g);
    }
}
