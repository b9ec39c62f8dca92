//! A snapshot image shares every entry with the live keyspace (`Keyspace::image`, pointer
//! copies). Commands that drop or move a huge value while an image is alive must not copy it:
//! a client deleting a 64 MiB value during a snapshot encode would otherwise make the node
//! allocate another 64 MiB (on every replica, at once).
//!
//! Measured with a counting global allocator: bytes allocated *by this test's thread* between
//! two points (thread-local, so other test threads don't disturb the figure). Each test runs
//! the command through the state machine's apply path (`cmd::apply_argv`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use sdr_node::cmd::apply_argv;
use sdr_node::keyspace::{Keyspace, Value};

struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + new_size));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> usize {
    ALLOCATED.with(|a| a.get())
}

const BIG: usize = 64 << 20;
/// Far below one copy of the value, far above what bookkeeping for one command costs.
const BUDGET: usize = 1 << 20;

fn argv(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

/// A keyspace holding `big` (a 64 MiB string) and `small`, with an image taken.
fn setup() -> Keyspace {
    let mut ks = Keyspace::new();
    ks.insert(
        Bytes::from_static(b"big"),
        Value::Str(Bytes::from(vec![b'x'; BIG])),
        None,
        0,
    );
    ks.insert(
        Bytes::from_static(b"small"),
        Value::Str(Bytes::from_static(b"v")),
        None,
        0,
    );
    ks
}

/// Runs `words` with an image alive; returns (reply, bytes this thread allocated meanwhile)
/// and checks the image still holds the 64 MiB value unchanged.
fn run_with_image(words: &[&str]) -> (sdr_node::resp::Frame, usize, Keyspace) {
    let mut ks = setup();
    let image = ks.image();
    let cmd = argv(words);
    let before = allocated();
    let reply = apply_argv(&mut ks, &cmd, 1);
    let used = allocated() - before;
    let big = image
        .records()
        .find(|(k, _)| &k[..] == b"big")
        .map(|(_, e)| e.value.clone());
    assert!(
        matches!(&big, Some(Value::Str(v)) if v.len() == BIG),
        "the image still holds the value as it was"
    );
    drop(image);
    (reply, used, ks)
}

#[test]
fn del_of_a_value_an_image_shares_does_not_copy_it() {
    let (reply, used, ks) = run_with_image(&["DEL", "big"]);
    assert_eq!(reply, sdr_node::resp::Frame::Integer(1));
    assert!(used < BUDGET, "DEL allocated {used} bytes");
    assert!(ks.get(b"big", 1).is_none());
}

#[test]
fn overwrite_of_a_value_an_image_shares_does_not_copy_it() {
    let (_, used, ks) = run_with_image(&["SET", "big", "new"]);
    assert!(used < BUDGET, "SET over it allocated {used} bytes");
    assert!(
        matches!(&ks.get(b"big", 1).map(|e| &e.value), Some(Value::Str(v)) if &v[..] == b"new")
    );
}

#[test]
fn rename_of_a_value_an_image_shares_does_not_copy_it() {
    let (_, used, ks) = run_with_image(&["RENAME", "big", "moved"]);
    assert!(used < BUDGET, "RENAME allocated {used} bytes");
    assert!(ks.get(b"big", 1).is_none());
    assert!(
        matches!(&ks.get(b"moved", 1).map(|e| &e.value), Some(Value::Str(v)) if v.len() == BIG)
    );
    // And over an existing destination (which is dropped, not copied either).
    let (_, used, _) = run_with_image(&["RENAME", "small", "big"]);
    assert!(used < BUDGET, "RENAME onto it allocated {used} bytes");
}

#[test]
fn getdel_of_a_value_an_image_shares_copies_nothing_but_the_reply_handle() {
    let (reply, used, ks) = run_with_image(&["GETDEL", "big"]);
    assert!(matches!(&reply, sdr_node::resp::Frame::Bulk(v) if v.len() == BIG));
    assert!(used < BUDGET, "GETDEL allocated {used} bytes");
    assert!(ks.get(b"big", 1).is_none());
}

#[test]
fn expiring_a_value_an_image_shares_does_not_copy_it() {
    // PEXPIRE with a past deadline deletes; active expiry removes through the same path.
    let (_, used, ks) = run_with_image(&["PEXPIREAT", "big", "1"]);
    assert!(
        used < BUDGET,
        "PEXPIREAT in the past allocated {used} bytes"
    );
    assert!(ks.get(b"big", 1).is_none());
}

#[test]
fn the_counter_sees_a_copy() {
    // The measurement itself: a copy of the value is seen (so the tests above can fail).
    let ks = setup();
    let before = allocated();
    let copy = ks.clone().get(b"big", 0).map(|e| e.value.clone());
    let deep = match copy {
        Some(Value::Str(v)) => v.to_vec(),
        _ => Vec::new(),
    };
    assert!(allocated() - before >= BIG, "a 64 MiB copy is counted");
    assert_eq!(deep.len(), BIG);
}
