//! From pages to a fetch stream: mapping, watermarks and checkpoints, written once.
//!
//! Every connector's `fetch` does the same thing with the pages it reads: map each
//! item, keep the newest `updated_at` as the incremental watermark, and yield a
//! [`Checkpoint`] after each page that resumes right after it, carrying the lower
//! bound of the read so a resumed incremental read keeps its filter.
//! [`checkpointed`] does exactly that over any stream of [`Page`]s (from
//! [`paginate`](crate::pagination::paginate) or `connector-http`'s `.pages()`), so a
//! connector's `fetch` is a few lines. [`mapped`] and [`typed`] are it with a
//! [`Mapper`] or a derived mapping. Over HTTP, the faster way is to map where the
//! pages are decoded, `connector-http`'s `.pages_with(..)` (or
//! `.pages_with_seed(mapper.record_seed(..))`, which decodes each item straight
//! into its record), and to hand the mapped pages to [`records`]: mapping then
//! runs alongside the consumer's own work.
//!
//! Semantics:
//! - a record that fails its mapping ([`ErrorKind::Validation`]) is yielded as an
//!   `Err` item and the stream **continues**, so one bad record does not stop a
//!   sync and is not lost silently; any other error ends the stream;
//! - [`FetchOptions::limit`] stops the stream after that many records, without a
//!   checkpoint for the partly read page;
//! - the completed checkpoint's watermark is the newest `updated_at` seen, or the
//!   read's lower bound when nothing newer arrived, so the next incremental read
//!   (`updated >= watermark`) re-reads the boundary and misses nothing.

use chrono::{DateTime, Utc};
use futures::stream::{self, Stream, StreamExt};

use crate::connector::{FetchOptions, SyncStream};
use crate::error::{ConnectorError, ErrorKind, Result};
use crate::mapping::{Mapper, TypedMapping};
use crate::name::Name;
use crate::pagination::Page;
use crate::record::{Record, SyncItem};
use crate::state::Checkpoint;

/// A stream that yields `err` and ends: what `fetch` returns when it cannot start
/// (an unknown entity, a mapping that does not compile).
pub fn failed<'a>(err: ConnectorError) -> SyncStream<'a> {
    stream::once(async move { Err(err) }).boxed()
}

/// Maps the items of `pages` with `map` and yields a checkpoint for `stream_name`
/// after every page. `map` returns `Ok(None)` to skip an item (a filtered record).
///
/// # Examples
///
/// ```
/// use connector_core::futures::{StreamExt, TryStreamExt, executor::block_on};
/// use connector_core::pagination::{FetchedPage, Signals};
/// use connector_core::{FetchOptions, PaginateOptions, Pagination, Record, SyncItem, paginate, sync};
///
/// let rows: Vec<u32> = (0..5).collect();
/// let pages = paginate(Pagination::offset(), PaginateOptions::default().with_page_size(2), |req| {
///     let start = req.offset().unwrap_or(0) as usize;
///     let items = rows[start.min(5)..(start + 2).min(5)].to_vec();
///     async move { Ok(FetchedPage::new(items, Signals::new())) }
/// });
/// let items: Vec<SyncItem> = block_on(
///     sync::checkpointed("numbers", pages, &FetchOptions::new(), |n: u32| {
///         Ok(Some(Record::new("NUMBER", n.to_string(), "example").into()))
///     })
///     .try_collect(),
/// )
/// .unwrap();
/// // Five records and three checkpoints; the last one is complete.
/// assert_eq!(items.iter().filter(|i| i.as_record().is_some()).count(), 5);
/// assert!(items.last().and_then(SyncItem::as_checkpoint).is_some_and(|c| c.complete));
/// ```
pub fn checkpointed<'a, T, S, F>(
    stream_name: impl Into<String>,
    pages: S,
    options: &FetchOptions,
    map: F,
) -> SyncStream<'a>
where
    T: Send + 'a,
    S: Stream<Item = Result<Page<T>>> + Send + 'a,
    F: FnMut(T) -> Result<Option<SyncItem>> + Send + 'a,
{
    let since = options.incremental_since();
    let seen = match &options.resume {
        Some(cp) if !cp.complete => cp.records_seen,
        _ => 0,
    };
    let state = State {
        name: stream_name.into(),
        since,
        watermark: since,
        seen,
        remaining: options.limit,
        done: false,
        map,
    };
    stream::unfold(
        (Box::pin(pages), state),
        |(mut pages, mut state)| async move {
            if state.done {
                return None;
            }
            let batch = match pages.next().await {
                None => return None,
                Some(Err(e)) => {
                    state.done = true;
                    vec![Err(e)]
                }
                Some(Ok(page)) => state.page(page),
            };
            Some((stream::iter(batch), (pages, state)))
        },
    )
    .flatten()
    .boxed()
}

/// [`checkpointed`] with a compiled [`Mapper`] over JSON items: the common case.
pub fn mapped<'a, S>(
    stream_name: impl Into<String>,
    pages: S,
    options: &FetchOptions,
    mapper: Mapper,
    connector_id: impl Into<Name>,
) -> SyncStream<'a>
where
    S: Stream<Item = Result<Page<serde_json::Value>>> + Send + 'a,
{
    let connector_id: Name = connector_id.into();
    let keep_raw = options.include_raw;
    let mapper = mapper.with_raw(keep_raw);
    checkpointed(
        stream_name,
        pages,
        options,
        move |raw: serde_json::Value| {
            // The page is ours: values move from it into the record.
            mapper
                .map_owned(raw, connector_id.clone())
                .map(|r| r.map(SyncItem::from))
        },
    )
}

/// [`checkpointed`] over pages whose items are already mapped: each item is the
/// record, `None` for one a filter skipped, or the record's mapping error. That is
/// what `connector-http`'s `PaginatedRequest::pages_with` gives with a mapping
/// function such as [`Mapper::map_owned`], and `pages_with_seed` with a
/// [`Mapper::record_seed`], which then run on the tasks that decode the pages
/// instead of on the consumer's: the fastest way from HTTP pages to a fetch
/// stream. Errors, watermarks, checkpoints and the limit behave as in
/// [`checkpointed`]; set [`Mapper::with_raw`] from
/// [`FetchOptions::include_raw`] yourself.
///
/// ```
/// use connector_core::futures::{TryStreamExt, executor::block_on};
/// use connector_core::mapping::{EntityMapping, FieldPath, Mapper};
/// use connector_core::pagination::{FetchedPage, Signals};
/// use connector_core::{FetchOptions, PaginateOptions, Pagination, SyncItem, paginate, sync};
/// use serde_json::json;
///
/// let mapping = EntityMapping::new("user", "USER", "Users", FieldPath::parse("id")?);
/// let options = FetchOptions::new();
/// let mapper = Mapper::new(&mapping)?.with_raw(options.include_raw);
/// let pages = paginate(Pagination::offset(), PaginateOptions::default().with_page_size(2), |req| {
///     let start = req.offset().unwrap_or(0);
///     // Each page's items mapped as they arrive, as `pages_with` does.
///     let items = (start..(start + 2).min(3))
///         .map(|i| mapper.map_owned(json!({ "id": i }), "example"))
///         .collect();
///     async move { Ok(FetchedPage::new(items, Signals::new())) }
/// });
/// let items: Vec<SyncItem> = block_on(sync::records("users", pages, &options).try_collect())?;
/// assert_eq!(items.iter().filter(|i| i.as_record().is_some()).count(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn records<'a, S>(
    stream_name: impl Into<String>,
    pages: S,
    options: &FetchOptions,
) -> SyncStream<'a>
where
    S: Stream<Item = Result<Page<Result<Option<Record>>>>> + Send + 'a,
{
    checkpointed(
        stream_name,
        pages,
        options,
        |mapped: Result<Option<Record>>| mapped.map(|record| record.map(SyncItem::from)),
    )
}

/// [`checkpointed`] for a typed mapping (`#[derive(EntityMapping)]`): each JSON item
/// is converted with [`TypedMapping::map_source`]; the stream is named after the
/// mapping's source type.
pub fn typed<'a, T, S>(
    pages: S,
    options: &FetchOptions,
    connector_id: impl Into<Name>,
) -> SyncStream<'a>
where
    T: TypedMapping,
    S: Stream<Item = Result<Page<serde_json::Value>>> + Send + 'a,
{
    let connector_id: Name = connector_id.into();
    let keep_raw = options.include_raw;
    let name = T::entity_mapping().source_type.clone();
    checkpointed(name, pages, options, move |raw: serde_json::Value| {
        let record = T::map_source(&raw, connector_id.clone())?;
        let record = if keep_raw {
            record.with_raw(raw)
        } else {
            record
        };
        Ok(Some(record.into()))
    })
}

struct State<F> {
    name: String,
    since: Option<DateTime<Utc>>,
    watermark: Option<DateTime<Utc>>,
    seen: u64,
    remaining: Option<u64>,
    done: bool,
    map: F,
}

impl<F> State<F> {
    fn page<T>(&mut self, page: Page<T>) -> Vec<Result<SyncItem>>
    where
        F: FnMut(T) -> Result<Option<SyncItem>>,
    {
        let next = page.resume_token().map(str::to_owned);
        let mut out = Vec::with_capacity(page.len() + 1);
        for item in page.into_items() {
            if self.remaining == Some(0) {
                self.done = true;
                return out;
            }
            match (self.map)(item) {
                Ok(Some(item)) => {
                    if let SyncItem::Record(record) = &item {
                        self.watermark = self.watermark.max(record.updated_at);
                        self.seen += 1;
                        if let Some(n) = self.remaining.as_mut() {
                            *n -= 1;
                        }
                    }
                    out.push(Ok(item));
                }
                Ok(None) => {}
                Err(e) if e.kind() == ErrorKind::Validation => out.push(Err(e)),
                Err(e) => {
                    out.push(Err(e));
                    self.done = true;
                    return out;
                }
            }
        }
        let checkpoint = match next {
            Some(token) => Checkpoint::in_progress(self.name.clone(), token)
                .with_since(self.since)
                .with_watermark(self.watermark),
            None => {
                self.done = true;
                Checkpoint::completed(self.name.clone(), self.watermark)
            }
        };
        out.push(Ok(checkpoint.with_records_seen(self.seen).into()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pagination::{FetchedPage, PaginateOptions, Pagination, Signals, paginate};
    use crate::record::Record;
    use chrono::TimeZone;
    use futures::TryStreamExt;
    use futures::executor::block_on;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0)
            .single()
            .unwrap_or_default()
    }

    /// Rows `(id, updated day)`, served two per page.
    fn run(rows: Vec<(u32, u32)>, options: FetchOptions) -> Vec<Result<SyncItem>> {
        let paging = PaginateOptions::default()
            .with_page_size(2)
            .with_resume_from(options.resume_cursor().map(str::to_owned));
        let pages = paginate(Pagination::offset(), paging, move |req| {
            let start = (req.offset().unwrap_or(0) as usize).min(rows.len());
            let items = rows[start..(start + 2).min(rows.len())].to_vec();
            async move { Ok(FetchedPage::new(items, Signals::new())) }
        });
        let stream = checkpointed("rows", pages, &options, |(id, day): (u32, u32)| {
            if id == 99 {
                return Err(ConnectorError::validation("bad row", vec![]));
            }
            if id == 98 {
                return Err(ConnectorError::decode("broken"));
            }
            let record = Record::new("ROW", id.to_string(), "t").with_updated_at(at(day));
            Ok(Some(record.into()))
        });
        block_on(stream.collect())
    }

    fn checkpoints(items: &[Result<SyncItem>]) -> Vec<Checkpoint> {
        items
            .iter()
            .filter_map(|i| i.as_ref().ok()?.as_checkpoint().cloned())
            .collect()
    }

    #[test]
    fn checkpoint_after_each_page_with_watermark_and_count() {
        let items = run(vec![(1, 3), (2, 5), (3, 4)], FetchOptions::new());
        let cps = checkpoints(&items);
        assert_eq!(cps.len(), 2);
        assert_eq!(cps[0].cursor.as_deref(), Some("2"));
        assert_eq!((cps[0].watermark, cps[0].records_seen), (Some(at(5)), 2));
        assert!(cps[1].complete);
        assert_eq!((cps[1].watermark, cps[1].records_seen), (Some(at(5)), 3));
    }

    #[test]
    fn an_incremental_resume_keeps_its_lower_bound() {
        let options = FetchOptions::new().with_since(at(2));
        let first = checkpoints(&run(vec![(1, 3), (2, 4), (3, 4)], options));
        assert_eq!(first[0].since, Some(at(2)));
        let resumed = FetchOptions::new().with_resume(first[0].clone());
        assert_eq!(resumed.incremental_since(), Some(at(2)));
        let rest = checkpoints(&run(vec![(1, 3), (2, 4), (3, 4)], resumed));
        assert_eq!(
            rest.last().map(|c| (c.complete, c.records_seen)),
            Some((true, 3))
        );
    }

    #[test]
    fn nothing_newer_keeps_the_lower_bound_as_watermark() {
        let options = FetchOptions::new().with_resume(Checkpoint::completed("rows", Some(at(9))));
        let cps = checkpoints(&run(vec![], options));
        assert_eq!(cps.len(), 1);
        assert_eq!(cps[0].watermark, Some(at(9)));
    }

    #[test]
    fn validation_errors_continue_other_errors_stop() {
        let items = run(vec![(1, 1), (99, 1), (3, 1)], FetchOptions::new());
        let ok: Vec<_> = items
            .iter()
            .filter_map(|i| i.as_ref().ok()?.as_record())
            .collect();
        assert_eq!(ok.len(), 2);
        assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
        assert!(checkpoints(&items).last().is_some_and(|c| c.complete));

        let items = run(vec![(1, 1), (98, 1), (3, 1)], FetchOptions::new());
        assert!(matches!(items.last(), Some(Err(e)) if e.kind() == ErrorKind::Decode));
        assert!(checkpoints(&items).is_empty());
    }

    #[test]
    fn limit_stops_without_a_partial_checkpoint() {
        let items = run(
            vec![(1, 1), (2, 1), (3, 1), (4, 1)],
            FetchOptions::new().with_limit(3),
        );
        let records = items
            .iter()
            .filter(|i| matches!(i, Ok(SyncItem::Record(_))))
            .count();
        assert_eq!(records, 3);
        assert_eq!(
            checkpoints(&items).len(),
            1,
            "only the fully read first page is checkpointed"
        );
    }

    #[test]
    fn failed_yields_one_error() {
        let items: Vec<Result<SyncItem>> =
            block_on(failed(ConnectorError::unsupported("nope")).collect());
        assert_eq!(items.len(), 1);
        assert!(
            block_on(failed(ConnectorError::unsupported("x")).try_collect::<Vec<_>>()).is_err()
        );
    }

    #[test]
    fn records_yields_mapped_items_as_checkpointed_would() {
        // Rows mapped before they reach the stream: 2 is filtered out, 3 broke its
        // mapping (the stream goes on), the rest are records.
        let rows: Vec<u32> = (1..=5).collect();
        let paging = PaginateOptions::default().with_page_size(2);
        let pages = paginate(Pagination::offset(), paging, move |req| {
            let start = (req.offset().unwrap_or(0) as usize).min(rows.len());
            let items: Vec<Result<Option<Record>>> = rows[start..(start + 2).min(rows.len())]
                .iter()
                .map(|&id| match id {
                    2 => Ok(None),
                    3 => Err(ConnectorError::validation("bad row", vec![])),
                    _ => Ok(Some(
                        Record::new("ROW", id.to_string(), "t").with_updated_at(at(id)),
                    )),
                })
                .collect();
            async move { Ok(FetchedPage::new(items, Signals::new())) }
        });
        let items: Vec<Result<SyncItem>> =
            block_on(records("rows", pages, &FetchOptions::new()).collect());
        let ids: Vec<String> = items
            .iter()
            .filter_map(|i| Some(i.as_ref().ok()?.as_record()?.external_id.clone()))
            .collect();
        assert_eq!(ids, ["1", "4", "5"]);
        assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
        let last = checkpoints(&items).pop().expect("a final checkpoint");
        assert!(last.complete);
        assert_eq!(last.watermark, Some(at(5)));
        assert_eq!(last.records_seen, 3);
    }
}
