//! Helpers shared by the runnable examples in `examples/`.
//!
//! The examples themselves are single files a reader can copy:
//! `custom_connector.rs` is a complete connector for a made-up API with its
//! contract test (`cargo test -p connector-examples --example custom_connector`).

/// Formats a duration in seconds with millisecond precision (`1.234s`).
pub fn seconds(d: std::time::Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}
