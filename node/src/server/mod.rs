//! TCP server (in progress).
