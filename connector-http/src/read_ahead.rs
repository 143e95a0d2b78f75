//! Reading pages ahead of the consumer on a task of their own.
//!
//! [`read_ahead`] moves a stream onto a spawned tokio task that keeps up to `depth`
//! items ready in a channel, so the next page is fetched and decoded while the
//! consumer maps and stores the current one. The first item is read in place and
//! the task starts only when the consumer asks for a second one: a consumer that
//! takes one page (a connector reading one page per stream) causes one request,
//! not `1 + depth`. The task asks the channel for room before it polls the inner
//! stream, so at most `depth` items wait; dropping the returned stream aborts the
//! task (no request is started after that). A panic in
//! the task is resumed in the consumer: the stream never just ends early. The task
//! runs in the consumer's span and under its subscriber, even a scoped one. Without
//! a tokio runtime at the first poll, the inner stream is polled in place.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument as _;
use tracing::instrument::WithSubscriber as _;

/// The most items read ahead, whatever the caller asks: a bounded channel cannot
/// hold more than about `usize::MAX / 8`, and pages that far ahead are never
/// useful.
pub(crate) const MAX_DEPTH: usize = 1024;

/// `inner`, read up to `depth` items ahead (at most [`MAX_DEPTH`]); `depth == 0`
/// returns `inner` itself.
pub(crate) fn read_ahead<T: Send + 'static>(
    inner: BoxStream<'static, T>,
    depth: usize,
) -> BoxStream<'static, T> {
    if depth == 0 {
        return inner;
    }
    ReadAhead {
        state: State::First(inner),
        depth: depth.min(MAX_DEPTH),
    }
    .boxed()
}

struct ReadAhead<T> {
    state: State<T>,
    depth: usize,
}

enum State<T> {
    /// Reading the first item in place.
    First(BoxStream<'static, T>),
    /// The first item was taken: the task starts on the next poll, inside the
    /// runtime.
    Idle(Option<BoxStream<'static, T>>),
    /// The task runs; items come through `items`.
    Running {
        items: mpsc::Receiver<T>,
        task: JoinHandle<()>,
    },
    /// No runtime at the first poll: polled in place.
    Inline(BoxStream<'static, T>),
    Done,
}

impl<T: Send + 'static> Stream for ReadAhead<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::First(inner) => {
                    let item = ready!(inner.poll_next_unpin(cx));
                    this.state = match std::mem::replace(&mut this.state, State::Done) {
                        State::First(inner) if item.is_some() => State::Idle(Some(inner)),
                        _ => State::Done,
                    };
                    return Poll::Ready(item);
                }
                State::Idle(inner) => {
                    let Some(mut inner) = inner.take() else {
                        this.state = State::Done;
                        continue;
                    };
                    this.state = match tokio::runtime::Handle::try_current() {
                        Ok(runtime) => {
                            let (tx, items) = mpsc::channel(this.depth);
                            let producer = async move {
                                // Room first, then the next page: at most `depth`
                                // pages are read before the consumer asks.
                                while let Ok(permit) = tx.reserve().await {
                                    match inner.next().await {
                                        Some(item) => permit.send(item),
                                        None => break,
                                    }
                                }
                            };
                            // The task logs where the consumer logs: its span and
                            // its (possibly scoped) subscriber.
                            let task =
                                runtime.spawn(producer.in_current_span().with_current_subscriber());
                            State::Running { items, task }
                        }
                        Err(_) => State::Inline(inner),
                    };
                }
                State::Running { items, task } => {
                    if let Some(item) = ready!(items.poll_recv(cx)) {
                        return Poll::Ready(Some(item));
                    }
                    // The channel closed: the task ended. Make sure it ended
                    // normally, not by a panic that would look like a short read.
                    let ended = ready!(Pin::new(task).poll(cx));
                    this.state = State::Done;
                    if let Err(e) = ended
                        && e.is_panic()
                    {
                        std::panic::resume_unwind(e.into_panic());
                    }
                }
                State::Inline(inner) => return inner.poll_next_unpin(cx),
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

/// Runs `work` on a task of its own (so several run on several worker threads) and
/// waits for it; dropping the returned future aborts the task. A panic in the task
/// is resumed here. Without a tokio runtime, `work` runs in place.
pub(crate) async fn on_own_task<T: Send + 'static>(
    work: impl Future<Output = connector_core::Result<T>> + Send + 'static,
) -> connector_core::Result<T> {
    spawn_now(work).await
}

/// Starts `work` on a task of its own now, not at the first poll, and returns a
/// future of its result; dropping that future aborts the task. A panic in the task
/// is resumed by the future. Without a tokio runtime, `work` runs in place when the
/// future is polled.
pub(crate) fn spawn_now<T: Send + 'static>(
    work: impl Future<Output = connector_core::Result<T>> + Send + 'static,
) -> BoxFuture<'static, connector_core::Result<T>> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return work.boxed();
    };
    let task = AbortOnDrop(runtime.spawn(work.in_current_span().with_current_subscriber()));
    async move {
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(connector_core::ConnectorError::unexpected(
                "a page fetch was cancelled before it finished (the tokio runtime is shutting down)",
            )),
        }
    }
    .boxed()
}

/// A task handle that aborts the task when dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Drop for ReadAhead<T> {
    fn drop(&mut self) {
        if let State::Running { task, .. } = &self.state {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::stream;

    use super::*;

    fn counted(n: usize, polled: Arc<AtomicUsize>) -> BoxStream<'static, usize> {
        stream::iter(0..n)
            .map(move |i| {
                polled.fetch_add(1, Ordering::SeqCst);
                i
            })
            .boxed()
    }

    #[tokio::test]
    async fn yields_every_item_in_order() {
        let polled = Arc::new(AtomicUsize::new(0));
        let items: Vec<usize> = read_ahead(counted(50, polled), 1).collect().await;
        assert_eq!(items, (0..50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_huge_depth_is_capped_instead_of_failing() {
        let polled = Arc::new(AtomicUsize::new(0));
        let mut s = read_ahead(counted(5000, Arc::clone(&polled)), usize::MAX);
        assert_eq!(s.next().await, Some(0));
        assert_eq!(s.next().await, Some(1));
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
        // Two taken, at most `MAX_DEPTH` waiting.
        assert!(polled.load(Ordering::SeqCst) <= 2 + MAX_DEPTH);
        let rest: Vec<usize> = s.collect().await;
        assert_eq!(rest, (2..5000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn reads_at_most_depth_items_ahead() {
        let polled = Arc::new(AtomicUsize::new(0));
        let mut s = read_ahead(counted(50, Arc::clone(&polled)), 2);
        assert_eq!(s.next().await, Some(0));
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        // The first item is read in place; nothing is read ahead of it.
        assert_eq!(polled.load(Ordering::SeqCst), 1);
        assert_eq!(s.next().await, Some(1));
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        // Two taken, two waiting in the channel; nothing more was read.
        assert_eq!(polled.load(Ordering::SeqCst), 4);
        drop(s);
    }

    /// Drops its clone of the `Arc` only when the future holding it is dropped.
    async fn wait_forever(held: Arc<()>) {
        std::future::pending::<()>().await;
        drop(held);
    }

    /// Whether `held` is back to one owner within a few scheduler turns.
    async fn released(held: &Arc<()>) -> bool {
        for _ in 0..100 {
            if Arc::strong_count(held) == 1 {
                return true;
            }
            tokio::task::yield_now().await;
        }
        false
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_stream_aborts_a_fetch_in_flight() {
        let held = Arc::new(());
        let in_task = Arc::clone(&held);
        // The first item at once; the second is a fetch that never answers.
        let inner = stream::once(async {})
            .chain(stream::once(wait_forever(in_task)))
            .boxed();
        let mut s = read_ahead(inner, 1);
        assert_eq!(s.next().await, Some(()));
        // Asking for the second item starts the task, which hangs in the fetch.
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), s.next()).await;
        assert!(waited.is_err());
        assert_eq!(Arc::strong_count(&held), 2, "the fetch is in flight");
        drop(s);
        assert!(released(&held).await, "the task outlived its stream");
    }

    #[tokio::test]
    #[should_panic(expected = "page decoder broke")]
    async fn a_panic_in_the_task_reaches_the_consumer() {
        let inner = stream::iter(0..3)
            .map(|i| {
                if i == 2 {
                    panic!("page decoder broke")
                } else {
                    i
                }
            })
            .boxed();
        let _ = read_ahead(inner, 1).collect::<Vec<_>>().await;
    }

    // One thread, so the abort is processed by the same scheduler the test
    // yields to; the paused clock runs the timeout without waiting.
    #[tokio::test(start_paused = true)]
    async fn work_on_its_own_task_returns_its_result_and_stops_when_dropped() {
        assert_eq!(on_own_task(async { Ok(7) }).await.ok(), Some(7));
        let held = Arc::new(());
        let in_task = Arc::clone(&held);
        let work = on_own_task(async move {
            wait_forever(in_task).await;
            Ok(())
        });
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(50), work).await;
        assert!(timed_out.is_err());
        // The timeout dropped the future; the task must be gone with it.
        assert!(released(&held).await, "the task outlived its caller");
    }

    #[tokio::test]
    #[should_panic(expected = "decoder broke")]
    async fn a_panic_on_its_own_task_reaches_the_caller() {
        let _ = on_own_task::<()>(async { panic!("decoder broke") }).await;
    }

    #[test]
    fn without_a_runtime_the_stream_is_polled_in_place() {
        let polled = Arc::new(AtomicUsize::new(0));
        let items: Vec<usize> =
            futures::executor::block_on(read_ahead(counted(5, polled), 1).collect());
        assert_eq!(items, vec![0, 1, 2, 3, 4]);
    }
}
