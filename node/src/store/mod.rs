//! The in-memory keyspace. OWNED BY THE STORE/COMMANDS HELPER: replace this stub.

use std::sync::{Arc, RwLock};

/// All keys of the (single) database.
#[derive(Debug, Default, Clone)]
pub struct Keyspace {}

/// The keyspace shared between the state machine (writer) and the read path (readers).
pub type SharedKeyspace = Arc<RwLock<Keyspace>>;
