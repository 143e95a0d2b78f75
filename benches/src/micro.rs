//! The mapping micro-benchmarks and the per-request overhead runs, shared by the
//! `micro` binary (used by `run.sh`) and the divan benches.

use std::hint::black_box;
use std::time::{Duration, Instant};

use connector_core::Name;
use connector_core::mapping::{Mapper, TypedMapping};
use connector_http::auth::Bearer;
use connector_http::{HttpClient, RateLimit, RetryPolicy};
use serde_json::Value;

use crate::data::{issue, servicenow_app};
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
}

impl MappingCase {
    /// Every case, in table order.
    pub const ALL: [MappingCase; 7] = [
        MappingCase::ServiceNowDynamic,
        MappingCase::ServiceNowDerived,
        MappingCase::GithubDynamic,
        MappingCase::GithubDerived,
        MappingCase::GithubFlatDynamic,
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
        }
    }

    /// The source records of this case.
    pub fn sources(self) -> Vec<Value> {
        match self {
            MappingCase::ServiceNowDynamic | MappingCase::ServiceNowDerived => {
                (0..SOURCES).map(servicenow_app).collect()
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
            MappingCase::ServiceNowDerived => {
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
        return into_record_rounds(rounds, per_round);
    }
    let sources = case.sources();
    let map = case.mapper();
    // Warm up.
    for s in &sources {
        assert!(map(black_box(s)), "{} maps its sources", case.name());
    }
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for s in sources.iter().cycle().take(per_round) {
                black_box(map(black_box(s)));
            }
            per_round as f64 / started.elapsed().as_secs_f64()
        })
        .collect()
}

/// A client configuration for the per-request overhead runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layers {
    /// No retries, no rate limit, no auth.
    Bare,
    /// A rate limit far above the request rate (never waits).
    RateLimit,
    /// The default retry policy (no request fails, so no retry happens).
    Retry,
    /// A bearer token.
    Auth,
    /// All three.
    All,
}

impl Layers {
    /// Every configuration, in table order.
    pub const ALL: [Layers; 5] = [
        Layers::Bare,
        Layers::RateLimit,
        Layers::Retry,
        Layers::Auth,
        Layers::All,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Layers::Bare => "bare client",
            Layers::RateLimit => "+ rate limiter",
            Layers::Retry => "+ retry wrapper",
            Layers::Auth => "+ bearer auth",
            Layers::All => "+ all three",
        }
    }

    /// An SDK client for `base_url` with these layers.
    ///
    /// # Panics
    ///
    /// When the client cannot be built.
    pub fn client(self, base_url: &str) -> HttpClient {
        let mut b = HttpClient::builder(base_url).with_retry(RetryPolicy::none());
        if matches!(self, Layers::RateLimit | Layers::All) {
            b = b.with_rate_limit(RateLimit::per_second(1_000_000_000).with_burst(1_000_000));
        }
        if matches!(self, Layers::Retry | Layers::All) {
            b = b.with_retry(RetryPolicy::default());
        }
        if matches!(self, Layers::Auth | Layers::All) {
            b = b.with_auth(Bearer::new("bench-token-0123456789abcdef"));
        }
        b.build().expect("an SDK client")
    }
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

/// [`MappingCase::GithubTypedIntoRecord`]: converts decoded [`Issue`]s into records.
/// The structs are decoded (untimed) in chunks of 10,000; only `into_record` and
/// dropping the record are timed.
fn into_record_rounds(rounds: usize, per_round: usize) -> Vec<f64> {
    const CHUNK: usize = 10_000;
    let sources: Vec<String> = (0..SOURCES).map(|i| issue(i).to_string()).collect();
    let decode = |n: usize| -> Vec<Issue> {
        sources
            .iter()
            .cycle()
            .take(n)
            .map(|s| serde_json::from_str(s).expect("an issue decodes"))
            .collect()
    };
    for issue in decode(SOURCES as usize) {
        assert!(issue.into_record(CONNECTOR).is_ok(), "issues convert");
    }
    (0..rounds)
        .map(|_| {
            let mut timed = Duration::ZERO;
            let mut left = per_round;
            while left > 0 {
                let chunk = decode(left.min(CHUNK));
                left -= chunk.len();
                let started = Instant::now();
                for issue in chunk {
                    black_box(black_box(issue).into_record(CONNECTOR).is_ok());
                }
                timed += started.elapsed();
            }
            per_round as f64 / timed.as_secs_f64()
        })
        .collect()
}
