//! The mapping micro-benchmarks and the per-request overhead runs, shared by the
//! `micro` binary (used by `run.sh`) and the divan benches.
//!
//! Per-request overhead is measured on the layers themselves, not on whole
//! requests: [`LayerProbe`] (connector-http's `bench-internals` hooks) runs the
//! very functions the send path runs on every attempt, one layer at a time and
//! without the network, so a loop of them gives nanoseconds per request.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use connector_core::Name;
use connector_core::mapping::{Mapper, TypedMapping};
use connector_http::__bench::LayerProbe;
use connector_http::auth::{Bearer, OAuth2ClientCredentials};
use connector_http::{HeaderMap, HeaderValue, HttpClient, RateLimit, RetryPolicy, StatusCode};
use futures::FutureExt as _;
use serde::de::DeserializeSeed as _;
use serde_json::Value;

use crate::data::{issue, issue_full_api, servicenow_app};
use crate::model::{Application, Issue, IssueMapped, servicenow_app_mapping};

/// Distinct source records each mapping benchmark cycles through.
pub const SOURCES: u64 = 1000;

/// The connector id every benchmark record carries: a `Name`, as connectors pass
/// it (a `&str` would be copied into each record).
pub const CONNECTOR: Name = Name::from_static("bench");

/// One mapping benchmark: a record shape and a way of mapping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingCase {
    /// ServiceNow application, dynamic `Mapper` from the JSON fixture.
    ServiceNowDynamic,
    /// ServiceNow application, derived `Application::map_source`.
    ServiceNowDerived,
    /// GitHub issue with paths (`user.login`, `labels[].name`), dynamic `Mapper`.
    GithubDynamic,
    /// GitHub issue with paths, derived `IssueMapped::map_source`.
    GithubDerived,
    /// GitHub issue as [`Issue`] (nested objects kept), dynamic `Mapper`.
    GithubFlatDynamic,
    /// GitHub issue as [`Issue`], derived `Issue::map_source`.
    GithubFlatDerived,
    /// GitHub issue as [`Issue`] already decoded by serde (as `connector-http`
    /// decodes pages), derived `into_record` only: the derive's share of the
    /// `sdk-typed` whole-sync contender.
    GithubTypedIntoRecord,
    /// ServiceNow application as [`Application`] already read from its source
    /// (`from_source`, untimed), derived `into_record` only: the derived
    /// conversion of a struct a connector filled.
    ServiceNowIntoRecord,
    /// ServiceNow application, dynamic `Mapper::map_owned` consuming a decoded
    /// source (as a sync maps its pages); the copies of the sources are made
    /// outside the timed loop, dropping what the record did not take is timed.
    ServiceNowDynamicOwned,
    /// GitHub issue as [`Issue`], dynamic `Mapper::map_owned` consuming a
    /// decoded source: the mapping of the `sdk-dynamic` whole-sync contender.
    GithubFlatDynamicOwned,
    /// ServiceNow application from JSON text: decoded into a `Value`, then
    /// `Mapper::map_owned` (what a sync did before `RecordSeed`).
    ServiceNowJsonValue,
    /// ServiceNow application from JSON text through `Mapper::record_seed`:
    /// only the fields the mapping reads are decoded, into the mapper's slots.
    ServiceNowJsonSeed,
    /// GitHub issue as [`Issue`] from JSON text: `Value`, then `map_owned`.
    GithubFlatJsonValue,
    /// GitHub issue as [`Issue`] from JSON text through `Mapper::record_seed`.
    GithubFlatJsonSeed,
    /// The full GitHub API issue ([`issue_full_api`], ~3 KB) mapped with paths
    /// ([`IssueMapped`]: `user.login`, `labels[].name`) from JSON text: `Value`,
    /// then `map_owned`.
    GithubFullJsonValue,
    /// The same through `Mapper::record_seed`: the unmapped fields skipped, the
    /// user object decoded with its `login` only.
    GithubFullJsonSeed,
}

impl MappingCase {
    /// Every case, in table order.
    pub const ALL: [MappingCase; 16] = [
        MappingCase::ServiceNowDynamic,
        MappingCase::ServiceNowDynamicOwned,
        MappingCase::ServiceNowJsonValue,
        MappingCase::ServiceNowJsonSeed,
        MappingCase::ServiceNowDerived,
        MappingCase::ServiceNowIntoRecord,
        MappingCase::GithubDynamic,
        MappingCase::GithubDerived,
        MappingCase::GithubFlatDynamic,
        MappingCase::GithubFlatDynamicOwned,
        MappingCase::GithubFlatJsonValue,
        MappingCase::GithubFlatJsonSeed,
        MappingCase::GithubFullJsonValue,
        MappingCase::GithubFullJsonSeed,
        MappingCase::GithubFlatDerived,
        MappingCase::GithubTypedIntoRecord,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            MappingCase::ServiceNowDynamic => "servicenow-app dynamic",
            MappingCase::ServiceNowDerived => "servicenow-app derived",
            MappingCase::GithubDynamic => "github-issue dynamic",
            MappingCase::GithubDerived => "github-issue derived",
            MappingCase::GithubFlatDynamic => "github-issue(nested) dynamic",
            MappingCase::GithubFlatDerived => "github-issue(nested) derived",
            MappingCase::GithubTypedIntoRecord => "github-issue(nested) into_record",
            MappingCase::ServiceNowIntoRecord => "servicenow-app into_record",
            MappingCase::ServiceNowDynamicOwned => "servicenow-app dynamic, owned source",
            MappingCase::GithubFlatDynamicOwned => "github-issue(nested) dynamic, owned source",
            MappingCase::ServiceNowJsonValue => {
                "servicenow-app dynamic, JSON -> Value -> map_owned"
            }
            MappingCase::ServiceNowJsonSeed => "servicenow-app dynamic, JSON -> record_seed",
            MappingCase::GithubFlatJsonValue => {
                "github-issue(nested) dynamic, JSON -> Value -> map_owned"
            }
            MappingCase::GithubFlatJsonSeed => "github-issue(nested) dynamic, JSON -> record_seed",
            MappingCase::GithubFullJsonValue => {
                "github-issue(full API object) paths, JSON -> Value -> map_owned"
            }
            MappingCase::GithubFullJsonSeed => {
                "github-issue(full API object) paths, JSON -> record_seed"
            }
        }
    }

    /// The source records of this case.
    pub fn sources(self) -> Vec<Value> {
        match self {
            MappingCase::ServiceNowDynamic
            | MappingCase::ServiceNowDerived
            | MappingCase::ServiceNowIntoRecord
            | MappingCase::ServiceNowDynamicOwned
            | MappingCase::ServiceNowJsonValue
            | MappingCase::ServiceNowJsonSeed => (0..SOURCES).map(servicenow_app).collect(),
            MappingCase::GithubFullJsonValue | MappingCase::GithubFullJsonSeed => {
                (0..SOURCES).map(issue_full_api).collect()
            }
            _ => (0..SOURCES).map(issue).collect(),
        }
    }

    /// A function mapping one source record; it returns whether a record came out.
    ///
    /// # Panics
    ///
    /// When a mapping does not compile.
    pub fn mapper(self) -> Box<dyn Fn(&Value) -> bool> {
        let dynamic = |m: Mapper| -> Box<dyn Fn(&Value) -> bool> {
            Box::new(move |v| matches!(m.map(v, CONNECTOR), Ok(Some(_))))
        };
        match self {
            MappingCase::ServiceNowDynamic => {
                dynamic(Mapper::new(&servicenow_app_mapping()).expect("the mapping compiles"))
            }
            MappingCase::ServiceNowDerived | MappingCase::ServiceNowIntoRecord => {
                Box::new(|v| Application::map_source(v, CONNECTOR).is_ok())
            }
            MappingCase::GithubDynamic => dynamic(IssueMapped::mapper().expect("compiles")),
            MappingCase::GithubDerived => {
                Box::new(|v| IssueMapped::map_source(v, CONNECTOR).is_ok())
            }
            MappingCase::GithubFlatDynamic => dynamic(Issue::mapper().expect("compiles")),
            MappingCase::GithubFlatDerived | MappingCase::GithubTypedIntoRecord => {
                Box::new(|v| Issue::map_source(v, CONNECTOR).is_ok())
            }
            MappingCase::ServiceNowDynamicOwned | MappingCase::GithubFlatDynamicOwned => {
                let mapper = self.owned_mapper();
                Box::new(move |v| matches!(mapper.map_owned(v.clone(), CONNECTOR), Ok(Some(_))))
            }
            // The source printed as JSON first (untimed in `mapping_rounds`).
            MappingCase::ServiceNowJsonValue
            | MappingCase::GithubFlatJsonValue
            | MappingCase::ServiceNowJsonSeed
            | MappingCase::GithubFlatJsonSeed
            | MappingCase::GithubFullJsonValue
            | MappingCase::GithubFullJsonSeed => {
                let map = self.text_mapper();
                Box::new(move |v| map(&v.to_string()))
            }
        }
    }

    /// For the JSON cases: a function decoding one source from its JSON text and
    /// mapping it (a `Value` then `map_owned`, or `Mapper::record_seed`).
    ///
    /// # Panics
    ///
    /// When the mapping does not compile, or the text is not JSON.
    fn text_mapper(self) -> Box<dyn Fn(&str) -> bool> {
        let mapper = self.owned_mapper();
        if matches!(
            self,
            MappingCase::ServiceNowJsonSeed
                | MappingCase::GithubFlatJsonSeed
                | MappingCase::GithubFullJsonSeed
        ) {
            let seed = mapper.record_seed(CONNECTOR);
            Box::new(move |text| {
                let mut json = serde_json::Deserializer::from_str(text);
                matches!((&seed).deserialize(&mut json), Ok(Ok(Some(_))))
            })
        } else {
            Box::new(move |text| {
                let source: Value = serde_json::from_str(text).expect("JSON");
                matches!(mapper.map_owned(source, CONNECTOR), Ok(Some(_)))
            })
        }
    }
}

/// Maps `rounds` times `per_round` records of `case` on this thread; returns the
/// records per second of each round.
///
/// # Panics
///
/// When a record fails to map (a broken benchmark).
pub fn mapping_rounds(case: MappingCase, rounds: usize, per_round: usize) -> Vec<f64> {
    if case == MappingCase::GithubTypedIntoRecord {
        let sources: Vec<String> = (0..SOURCES).map(|i| issue(i).to_string()).collect();
        return into_record_rounds(rounds, per_round, &sources, |s| {
            serde_json::from_str::<Issue>(s).expect("an issue decodes")
        });
    }
    if case == MappingCase::ServiceNowIntoRecord {
        return into_record_rounds(rounds, per_round, &case.sources(), |s| {
            Application::from_source(s).expect("an application reads")
        });
    }
    if matches!(
        case,
        MappingCase::ServiceNowDynamicOwned | MappingCase::GithubFlatDynamicOwned
    ) {
        return owned_rounds(case, rounds, per_round);
    }
    if matches!(
        case,
        MappingCase::ServiceNowJsonValue
            | MappingCase::ServiceNowJsonSeed
            | MappingCase::GithubFlatJsonValue
            | MappingCase::GithubFlatJsonSeed
            | MappingCase::GithubFullJsonValue
            | MappingCase::GithubFullJsonSeed
    ) {
        return json_rounds(case, rounds, per_round);
    }
    let map = case.mapper();
    cycled_rounds(case, rounds, per_round, &case.sources(), |s| map(s))
}

/// Records per second of `rounds` rounds of `per_round` calls of `map`, cycling
/// through `inputs` (each mapped once untimed first, which must succeed).
fn cycled_rounds<T: ?Sized, I: std::borrow::Borrow<T>>(
    case: MappingCase,
    rounds: usize,
    per_round: usize,
    inputs: &[I],
    map: impl Fn(&T) -> bool,
) -> Vec<f64> {
    for input in inputs {
        assert!(
            map(black_box(input.borrow())),
            "{} maps its sources",
            case.name()
        );
    }
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for input in inputs.iter().cycle().take(per_round) {
                black_box(map(black_box(input.borrow())));
            }
            per_round as f64 / started.elapsed().as_secs_f64()
        })
        .collect()
}

/// One layer (or combination) of the send path, run for one request without the
/// network and without waits: the quota is never exhausted, the server never asks
/// for a pause, the response is a 200 (no retry), the token is cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCase {
    /// Rate limiter admission with a [`RateLimit`] set (server-reported pause
    /// check, one quota cell) and learning from the 200's headers.
    RateLimit,
    /// The same with no [`RateLimit`] set: the pause check and learning from the
    /// response, which every client does.
    PauseOnly,
    /// [`LayerCase::RateLimit`] plus a `max_in_flight` cap (a semaphore permit
    /// taken and released).
    RateLimitInFlight,
    /// The retry wrapper around a successful attempt: the call's start time and
    /// backoff schedule, classifying the 200, the retry-budget deposit. Every
    /// client does this, whatever its [`RetryPolicy`].
    Retry,
    /// Copying the request for the attempt: not a layer, the baseline the auth
    /// cases are measured against (auth is applied to that copy).
    AttemptCopy,
    /// [`Bearer`] applied to the attempt's copy (includes the copy).
    Bearer,
    /// [`OAuth2ClientCredentials`] with a cached, fresh token applied to the
    /// attempt's copy (includes the copy).
    OAuth2Cached,
    /// Everything above a client with a quota, the default retry policy and a
    /// bearer token does per request (includes the copy).
    All,
}

impl LayerCase {
    /// Every case, in table order.
    pub const ALL: [LayerCase; 8] = [
        LayerCase::RateLimit,
        LayerCase::PauseOnly,
        LayerCase::RateLimitInFlight,
        LayerCase::Retry,
        LayerCase::AttemptCopy,
        LayerCase::Bearer,
        LayerCase::OAuth2Cached,
        LayerCase::All,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            LayerCase::RateLimit => "rate limiter, quota set",
            LayerCase::PauseOnly => "rate limiter, no quota set",
            LayerCase::RateLimitInFlight => "rate limiter + max_in_flight",
            LayerCase::Retry => "retry wrapper, 200 response",
            LayerCase::AttemptCopy => "request copy (auth baseline)",
            LayerCase::Bearer => "bearer auth",
            LayerCase::OAuth2Cached => "OAuth2, cached token",
            LayerCase::All => "quota + retry + bearer",
        }
    }

    /// Whether the case includes the attempt's request copy, which the report
    /// subtracts ([`LayerCase::AttemptCopy`]) to leave the layer's own cost.
    pub fn includes_copy(self) -> bool {
        matches!(
            self,
            LayerCase::Bearer | LayerCase::OAuth2Cached | LayerCase::All
        )
    }
}

/// A 200 response's headers as GitHub sends them, rate-limit headers included
/// (4,999 requests remaining, so no pause).
pub fn ok_headers() -> HeaderMap {
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() + 3600);
    let mut h = HeaderMap::new();
    for (name, value) in [
        ("content-type", "application/json; charset=utf-8".to_owned()),
        ("content-length", "11".to_owned()),
        ("date", "Tue, 14 Oct 2025 09:30:00 GMT".to_owned()),
        (
            "cache-control",
            "private, max-age=60, s-maxage=60".to_owned(),
        ),
        ("etag", "W/\"0123456789abcdef\"".to_owned()),
        ("x-ratelimit-limit", "5000".to_owned()),
        ("x-ratelimit-remaining", "4999".to_owned()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-used", "1".to_owned()),
        ("x-ratelimit-resource", "core".to_owned()),
        ("x-github-request-id", "C0DE:1234:5678:9ABC:DEF0".to_owned()),
    ] {
        h.insert(
            name,
            HeaderValue::from_str(&value).expect("a valid header value"),
        );
    }
    h
}

/// The probes of every [`LayerCase`]: a `GET /ping` prepared through a client
/// with the case's layers.
#[derive(Debug)]
pub struct LayerProbes {
    probes: Vec<(LayerCase, LayerProbe)>,
    headers: HeaderMap,
}

impl LayerProbes {
    /// Builds a client per case against `base_url` and fills the OAuth2 token
    /// cache (one `POST /token` to the bench server, so `base_url` must be one).
    ///
    /// # Panics
    ///
    /// When a client cannot be built or the token cannot be fetched.
    pub async fn new(base_url: &str) -> Self {
        let quota = || RateLimit::per_second(1_000_000_000).with_burst(1_000_000);
        let bare = || HttpClient::builder(base_url).with_retry(RetryPolicy::none());
        let mut probes = Vec::new();
        for case in LayerCase::ALL {
            let client = match case {
                LayerCase::RateLimit => bare().with_rate_limit(quota()),
                LayerCase::RateLimitInFlight => {
                    bare().with_rate_limit(quota()).with_max_in_flight(64)
                }
                LayerCase::PauseOnly | LayerCase::AttemptCopy => bare(),
                LayerCase::Retry => bare().with_retry(RetryPolicy::default()),
                LayerCase::Bearer => bare().with_auth(Bearer::new("bench-token-0123456789abcdef")),
                LayerCase::OAuth2Cached => bare().with_auth(OAuth2ClientCredentials::new(
                    format!("{base_url}/token"),
                    "bench-client",
                    "bench-client-secret",
                )),
                LayerCase::All => bare()
                    .with_rate_limit(quota())
                    .with_retry(RetryPolicy::default())
                    .with_auth(Bearer::new("bench-token-0123456789abcdef")),
            }
            .build()
            .expect("an SDK client");
            let probe = LayerProbe::new(client.get("/ping")).expect("a valid request");
            // Fills the token cache (the only case that fetches anything).
            probe.authorize().await.expect("auth applies");
            probes.push((case, probe));
        }
        Self {
            probes,
            headers: ok_headers(),
        }
    }

    /// The probe of `case`.
    pub fn probe(&self, case: LayerCase) -> &LayerProbe {
        // `probes` is in `LayerCase::ALL` order, which is declaration order.
        let (c, probe) = &self.probes[case as usize];
        debug_assert_eq!(*c, case);
        probe
    }

    /// Runs one request's worth of `case`. Each step completes on its first poll
    /// (nothing waits); a step that would wait is a broken benchmark.
    ///
    /// # Panics
    ///
    /// When a step would wait or fails.
    pub fn once(&self, case: LayerCase) {
        let probe = self.probe(case);
        let ready = "no layer waits in this benchmark";
        let admit = || {
            probe
                .admit()
                .now_or_never()
                .expect(ready)
                .expect("admitted");
            probe.observe(StatusCode::OK, black_box(&self.headers));
        };
        match case {
            LayerCase::RateLimit | LayerCase::PauseOnly | LayerCase::RateLimitInFlight => admit(),
            LayerCase::Retry => {
                assert!(probe.retry_success(StatusCode::OK, black_box(&self.headers)));
            }
            LayerCase::AttemptCopy => probe.attempt_request().expect("a copy"),
            LayerCase::Bearer | LayerCase::OAuth2Cached => {
                probe
                    .authorize()
                    .now_or_never()
                    .expect(ready)
                    .expect("auth");
            }
            LayerCase::All => {
                admit();
                probe
                    .authorize()
                    .now_or_never()
                    .expect(ready)
                    .expect("auth");
                assert!(probe.retry_success(StatusCode::OK, black_box(&self.headers)));
            }
        }
    }

    /// Runs `rounds` rounds of `per_round` requests' worth of every case,
    /// interleaved (every case once per round); returns the nanoseconds per
    /// request of each round, per case, in [`LayerCase::ALL`] order.
    pub fn rounds(&self, rounds: usize, per_round: usize) -> Vec<Vec<f64>> {
        // Warm up.
        for case in LayerCase::ALL {
            for _ in 0..per_round.min(10_000) {
                self.once(case);
            }
        }
        let mut times = vec![Vec::with_capacity(rounds); LayerCase::ALL.len()];
        for _ in 0..rounds {
            for (i, case) in LayerCase::ALL.into_iter().enumerate() {
                let started = Instant::now();
                for _ in 0..per_round {
                    self.once(black_box(case));
                }
                times[i].push(started.elapsed().as_nanos() as f64 / per_round as f64);
            }
        }
        times
    }
}

/// A client with no rate limit, no retries and no auth, for the whole-GET line
/// (for scale: a loopback round trip).
///
/// # Panics
///
/// When the client cannot be built.
pub fn bare_client(base_url: &str) -> HttpClient {
    HttpClient::builder(base_url)
        .with_retry(RetryPolicy::none())
        .build()
        .expect("an SDK client")
}

/// Sends `n` `GET /ping` requests one after the other; returns the mean time per
/// request.
///
/// # Panics
///
/// When a request fails.
pub async fn ping_rounds(client: &HttpClient, n: usize) -> Duration {
    let started = Instant::now();
    for _ in 0..n {
        let response = client.get("/ping").send().await.expect("ping");
        black_box(response.bytes().await.expect("ping body"));
    }
    started.elapsed() / n as u32
}

impl MappingCase {
    /// The mapper of an owned-source case.
    ///
    /// # Panics
    ///
    /// When the mapping does not compile.
    fn owned_mapper(self) -> Mapper {
        match self {
            MappingCase::ServiceNowDynamicOwned
            | MappingCase::ServiceNowJsonValue
            | MappingCase::ServiceNowJsonSeed => {
                Mapper::new(&servicenow_app_mapping()).expect("the mapping compiles")
            }
            MappingCase::GithubFullJsonValue | MappingCase::GithubFullJsonSeed => {
                IssueMapped::mapper().expect("compiles")
            }
            _ => Issue::mapper().expect("compiles"),
        }
    }
}

/// Records per second of `rounds` rounds of `per_round` calls of `run`, each
/// on an input `make(n)` prepared `chunk` at a time outside the timed loop.
fn chunked_rounds<T>(
    rounds: usize,
    per_round: usize,
    chunk: usize,
    make: impl Fn(usize) -> Vec<T>,
    run: impl Fn(T) -> bool,
) -> Vec<f64> {
    (0..rounds)
        .map(|_| {
            let mut timed = Duration::ZERO;
            let mut left = per_round;
            while left > 0 {
                let inputs = make(left.min(chunk));
                left -= inputs.len();
                let started = Instant::now();
                for input in inputs {
                    black_box(run(black_box(input)));
                }
                timed += started.elapsed();
            }
            per_round as f64 / timed.as_secs_f64()
        })
        .collect()
}

/// `map_owned` over sources copied in chunks of a page (100) outside the timed
/// loop, as [`into_record_rounds`] decodes its chunks: the timed part is the
/// mapping, the record's drop and the drop of what is left of the source (which
/// the borrowed cases never drop, so the two are not alike: compare an owned case
/// with a whole sync, not with its borrowed twin).
fn owned_rounds(case: MappingCase, rounds: usize, per_round: usize) -> Vec<f64> {
    let sources = case.sources();
    let mapper = case.owned_mapper();
    let copies = |n: usize| -> Vec<Value> { sources.iter().cycle().take(n).cloned().collect() };
    let map = |source: Value| matches!(mapper.map_owned(source, CONNECTOR), Ok(Some(_)));
    for source in copies(sources.len()) {
        assert!(map(source), "{} maps its sources", case.name());
    }
    chunked_rounds(rounds, per_round, 100, copies, map)
}

/// Decoding and mapping sources from their JSON text, one source at a time: a
/// `Value` then `map_owned`, or `Mapper::record_seed`. Timed: decoding, mapping,
/// dropping the record and what is left of the source.
fn json_rounds(case: MappingCase, rounds: usize, per_round: usize) -> Vec<f64> {
    let texts: Vec<String> = case.sources().iter().map(Value::to_string).collect();
    let map = case.text_mapper();
    cycled_rounds::<str, _>(case, rounds, per_round, &texts, |t| map(t))
}

/// [`MappingCase::GithubTypedIntoRecord`] and [`MappingCase::ServiceNowIntoRecord`]:
/// converts structs made by `make` (from `sources`, cycled) into records. The
/// structs are made (untimed) in chunks of 10,000; only `into_record` and dropping
/// the record are timed.
fn into_record_rounds<S, T: TypedMapping>(
    rounds: usize,
    per_round: usize,
    sources: &[S],
    make: impl Fn(&S) -> T,
) -> Vec<f64> {
    let structs = |n: usize| -> Vec<T> { sources.iter().cycle().take(n).map(&make).collect() };
    let convert = |t: T| t.into_record(CONNECTOR).is_ok();
    for t in structs(sources.len()) {
        assert!(convert(t), "the structs convert");
    }
    chunked_rounds(rounds, per_round, 10_000, structs, convert)
}
