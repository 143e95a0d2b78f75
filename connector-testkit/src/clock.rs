//! The clock fakes read, shared with the test that drives them.
//!
//! A wiremock server answers on its own thread and runtime, so a fake that called
//! `tokio::time::Instant::now()` there would read real time while the test (and
//! the connector's retry sleeps) run on tokio's paused clock. [`TestClock`]
//! remembers the runtime that created the fake and reads *its* clock, so a
//! `Retry-After: 30` that the connector honours on the paused clock is 30 s on the
//! fake's clock too, and rate-limit windows, request timestamps and waits agree
//! whether the clock is paused or real.

use std::time::{Duration, SystemTime};

use tokio::runtime::Handle;
use tokio::time::Instant;

/// A clock that reads the time of the tokio runtime it was created in.
#[derive(Debug, Clone)]
pub struct TestClock {
    handle: Option<Handle>,
    start: Instant,
    start_wall: SystemTime,
}

impl TestClock {
    /// The clock of the current tokio runtime (real time outside a runtime).
    pub fn current() -> Self {
        let handle = Handle::try_current().ok();
        let start = read(handle.as_ref());
        Self {
            handle,
            start,
            start_wall: SystemTime::now(),
        }
    }

    /// Now, on the runtime's clock (paused or real).
    pub fn now(&self) -> Instant {
        read(self.handle.as_ref())
    }

    /// How long since the clock was created.
    pub fn elapsed(&self) -> Duration {
        self.now().saturating_duration_since(self.start)
    }

    /// A wall-clock time that advances with the runtime's clock: the real time the
    /// clock was created plus [`elapsed`](Self::elapsed). Reset headers in epoch
    /// seconds are computed from it.
    pub fn wall(&self) -> SystemTime {
        self.start_wall + self.elapsed()
    }
}

fn read(handle: Option<&Handle>) -> Instant {
    match handle {
        Some(handle) => {
            let _entered = handle.enter();
            Instant::now()
        }
        None => Instant::now(),
    }
}
