//! Benchmarks of the connector SDK (not published).
//!
//! The library half holds what the benchmark binaries and the divan benches share:
//! the record shapes ([`data`]), the mappings under test ([`model`]), a small
//! HTTP/1.1 server that serves pre-rendered pages from memory ([`server`]), the
//! connector and counting sink the whole-sync runs drive ([`harness`]) and the
//! measuring helpers ([`measure`]). `benches/run.sh` builds everything in release
//! and prints one results table; `benches/README.md` holds the measured numbers.

pub mod data;
pub mod harness;
pub mod measure;
pub mod micro;
pub mod model;
pub mod server;
