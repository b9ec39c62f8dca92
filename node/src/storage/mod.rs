//! Durability. OWNED BY THE STORAGE HELPER: replace this stub (keep `options`).

pub mod options;

pub use options::{FsyncPolicy, WalOptions};
