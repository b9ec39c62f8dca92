//! A WAL segment that cannot be created for lack of file descriptors (`EMFILE`) is retried,
//! not a permanent failure: the append waits, completes once descriptors are back, nothing is
//! lost across a reopen, and later appends work.
//!
//! Its own test binary with a single test: it lowers this process's `RLIMIT_NOFILE`, which
//! would break any test running beside it.

use std::time::Duration;

use bytes::Bytes;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};
use sdr_node::raft::types::{Request, TypeConfig};
use sdr_node::storage::{FsyncPolicy, LogStore, WalOptions};

fn entry(index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Request::Command {
            now_ms: 1_000,
            argv: vec![
                Bytes::from_static(b"SET"),
                Bytes::from(format!("k{index}")),
                Bytes::from(vec![b'v'; 3000]),
            ],
        }),
    }
}

fn nofile() -> libc::rlimit {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r
}

fn set_nofile(r: &libc::rlimit) {
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, r) }, 0);
}

#[tokio::test]
async fn segment_creation_out_of_descriptors_is_retried_not_sticky() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = WalOptions {
        fsync: FsyncPolicy::Always,
        segment_bytes: 4096,
        ..WalOptions::default()
    };
    let log = LogStore::open(dir.path(), opts.clone()).expect("open");
    // Each 3 KB entry fills a 4 KiB segment: every further append needs a new segment file.
    log.append_and_wait(vec![entry(1)]).await.expect("append 1");
    log.append_and_wait(vec![entry(2)]).await.expect("append 2");

    // A soft limit of 3 with descriptors 0-2 taken: no new descriptor can be opened (those
    // already open above the limit keep working, including the active segment's; closing one
    // of them frees a number the limit does not allow).
    let saved = nofile();
    let mut low = saved;
    low.rlim_cur = 3;
    set_nofile(&low);
    let probe = std::fs::File::open("/dev/null");
    assert!(probe.is_err(), "the limit bites: {probe:?}");
    let ticket = log.append_nowait(vec![entry(3)]).expect("queued");
    let waited = tokio::time::timeout(Duration::from_millis(400), ticket.wait()).await;
    // Restore before asserting, so a failure does not leave the process crippled.
    set_nofile(&saved);
    if let Ok(r) = waited {
        panic!("the append finished while no descriptor was free: {r:?} (it must wait, not fail)");
    }

    // Descriptors are back: the held append completes (a later append's completion implies it,
    // the writer is FIFO), and the WAL keeps working.
    tokio::time::timeout(Duration::from_secs(5), log.append_and_wait(vec![entry(4)]))
        .await
        .expect("the writer resumed after the retry")
        .expect("append 4 after descriptors returned");
    assert_eq!(log.next_index().expect("next"), Some(5));
    drop(log);

    let log = LogStore::open(dir.path(), opts).expect("reopen");
    let got = log.entries(1..=4).expect("entries");
    assert_eq!(
        got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
        vec![1, 2, 3, 4],
        "every appended entry is there after reopening"
    );
    assert_eq!(got[2], entry(3));
}
