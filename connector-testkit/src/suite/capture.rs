//! Captures tracing output into a buffer, for the canary test.

use std::io;
use std::sync::{Arc, Mutex};

use tracing::Dispatch;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

/// A buffer that collects everything a tracing subscriber writes.
///
/// ```
/// use connector_testkit::suite::TraceCapture;
///
/// let capture = TraceCapture::new();
/// tracing::dispatcher::with_default(&capture.dispatch(), || {
///     tracing::info!(user = "octocat", "hello");
/// });
/// assert!(capture.output().contains("octocat"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct TraceCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl TraceCapture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// A dispatcher that records every span (on creation and close, with its
    /// fields) and every event at every level into this capture.
    pub fn dispatch(&self) -> Dispatch {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
            .finish();
        Dispatch::new(subscriber)
    }

    /// Everything captured so far.
    pub fn output(&self) -> String {
        let buf = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// The writer handed to the subscriber.
#[derive(Debug)]
pub struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl io::Write for CaptureWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for TraceCapture {
    type Writer = CaptureWriter;

    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(Arc::clone(&self.buffer))
    }
}
