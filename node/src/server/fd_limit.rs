//! Fitting `maxclients` to the process's descriptor limit (`RLIMIT_NOFILE`), as Redis's
//! `adjustOpenFilesLimit` does: every client holds a descriptor, and so do WAL segments,
//! snapshots, the listeners and peer links. If clients could take them all, the WAL's next
//! segment creation would fail and the node would stop taking writes, so the node raises its
//! soft limit when it may, and otherwise serves fewer clients than configured (with a warning).

/// Descriptors kept back for the node itself (Redis keeps 32; peers and WAL files need more).
pub const RESERVED_FDS: u64 = 64;

/// The current soft and hard `RLIMIT_NOFILE`, if the OS reports them.
fn nofile() -> Option<(u64, u64)> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    // rlim_t is u64 on the platforms the node supports (Linux).
    (rc == 0).then_some((rl.rlim_cur, rl.rlim_max))
}

/// Raises the soft limit to `want` (capped by the hard limit); returns the soft limit after.
fn raise_soft(want: u64, soft: u64, hard: u64) -> u64 {
    let target = want.min(hard);
    if target <= soft {
        return soft;
    }
    let rl = libc::rlimit {
        rlim_cur: target as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads one `rlimit` through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } == 0 {
        target
    } else {
        soft
    }
}

/// How many clients fit in `fd_limit` descriptors (at least 1).
pub fn clients_for(maxclients: usize, fd_limit: u64) -> usize {
    let room = fd_limit.saturating_sub(RESERVED_FDS).max(1);
    maxclients.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// The number of clients the node can serve given `maxclients`, raising the soft descriptor
/// limit if needed and allowed. Unknown limits leave `maxclients` as is.
pub fn fit_maxclients(maxclients: usize) -> usize {
    let Some((soft, hard)) = nofile() else {
        return maxclients;
    };
    let want = (maxclients as u64).saturating_add(RESERVED_FDS);
    let limit = if soft < want {
        raise_soft(want, soft, hard)
    } else {
        soft
    };
    clients_for(maxclients, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_leave_room_for_the_node() {
        assert_eq!(clients_for(10_000, 1024), 1024 - RESERVED_FDS as usize);
        assert_eq!(clients_for(100, 1024), 100);
        assert_eq!(clients_for(100, 10), 1);
        assert_eq!(clients_for(5, u64::MAX), 5);
    }

    #[test]
    fn fitting_never_exceeds_the_request() {
        let n = fit_maxclients(10);
        assert!((1..=10).contains(&n));
    }
}
