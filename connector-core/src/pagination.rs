//! Pagination strategies (in progress).
