//! The mapping engine (in progress).
