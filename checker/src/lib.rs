//! Linearizability checker (placeholder until the checker lands).
