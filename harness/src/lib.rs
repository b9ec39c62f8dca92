//! The chaos harness (issue: "Harness"). Not built yet: this crate exists so the workspace layout
//! is final and the harness can depend on the checker from the start.
