//! The contract suite: the same named tests for every connector, filtered by the
//! capabilities it declares.
//!
//! A connector author writes one [`ContractFixture`] and one line:
//!
//! ```ignore
//! connector_testkit::contract_suite!(MyFixture);
//! ```
//!
//! which generates one `#[tokio::test]` per [`ContractTest`], named after it
//! (`full_read_returns_fixture_records`, `survives_rate_limit`, ...). A test whose
//! capability the connector does not declare passes with a printed skip reason.
//! [`ContractSuite`] runs the same tests programmatically and returns a
//! [`SuiteReport`] (pass / fail / skip per test), which is how the testkit proves
//! that broken connectors fail the matching tests.
//!
//! Model: Airbyte's connector acceptance tests (spec, check, discover, basic read,
//! two identical full reads, incremental reads from every emitted state, a future
//! state yields nothing) and OpenDAL's behaviour tests.

mod capture;
mod checks;
mod fixture;
mod webhooks;

pub use capture::{CaptureWriter, TraceCapture};
pub use fixture::{BadConfig, ContractFixture, DEFAULT_CANARY, WebhookFixture, WebhookSample};

use std::fmt;
use std::time::Duration;

use connector_core::Capabilities;

/// The groups tests belong to, and the capability each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Group {
    /// Metadata, config schema and config validation. Always runs.
    Spec,
    /// `test_connection`. Always runs.
    Check,
    /// `discover`. Always runs; counts are checked when `discovery_counts` is declared.
    Discover,
    /// Full reads. Needs `import`.
    Read,
    /// Incremental reads and resumption. Needs `incremental`.
    Incremental,
    /// Relationships. Needs `relationships`.
    Relationships,
    /// Secrets never leak. Always runs.
    Security,
    /// Webhooks. Needs `realtime` and a [`ContractFixture::webhooks`] section.
    Realtime,
}

impl Group {
    /// Why a connector with `caps` skips this group, or `None` when it runs.
    pub fn skip_reason(self, caps: &Capabilities) -> Option<&'static str> {
        match self {
            Group::Read if !caps.import => Some("the connector does not declare `import`"),
            Group::Incremental if !caps.incremental => {
                Some("the connector does not declare `incremental`")
            }
            Group::Relationships if !caps.relationships => {
                Some("the connector does not declare `relationships`")
            }
            Group::Realtime if !caps.realtime => Some("the connector does not declare `realtime`"),
            _ => None,
        }
    }
}

macro_rules! contract_tests {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, $group:ident; )*) => {
        /// One named contract test.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ContractTest {
            $( $(#[$doc])* $variant, )*
        }

        impl ContractTest {
            /// Every test, in the order the suite runs them.
            pub const ALL: &'static [ContractTest] = &[$(ContractTest::$variant),*];

            /// The test's name, which is also the name of the generated `#[test]`.
            pub fn name(self) -> &'static str {
                match self { $(ContractTest::$variant => $name,)* }
            }

            /// The test's group.
            pub fn group(self) -> Group {
                match self { $(ContractTest::$variant => Group::$group,)* }
            }
        }
    };
}

contract_tests! {
    /// The metadata validates: kebab-case id, semver version, documentation URL,
    /// at least one auth method; the connected instance reports the same id and
    /// capabilities.
    MetadataWellFormed => "metadata_well_formed", Spec;
    /// The config schema is a well-formed JSON Schema (types, `required`, `$ref`s
    /// resolve), marks every secret-looking field `writeOnly`/`secret`, and accepts
    /// the fixture's good config.
    ConfigSchemaValid => "config_schema_valid", Spec;
    /// The fixture's bad config is rejected with a config error naming the field.
    BadConfigRejected => "bad_config_rejected", Spec;
    /// `test_connection` succeeds against the fake with good credentials.
    ConnectionSucceeds => "test_connection_succeeds", Check;
    /// `test_connection` with a wrong secret fails as authentication (401).
    ConnectionAuthFailure => "test_connection_classifies_auth_failure", Check;
    /// `test_connection` against a closed port fails as unreachable.
    ConnectionUnreachable => "test_connection_classifies_unreachable_host", Check;
    /// `discover` lists every mapped entity, with counts equal to the fixture's
    /// when `discovery_counts` is declared.
    DiscoverListsEntities => "discover_lists_entities", Discover;
    /// A full read of each entity yields exactly the fixture's records (none lost,
    /// none duplicated), each with its mapping's fields, required fields present.
    FullReadReturnsFixture => "full_read_returns_fixture_records", Read;
    /// Two full reads yield identical records in the same order.
    FullReadsIdentical => "two_full_reads_are_identical", Read;
    /// A read asking for raw objects gets, on every record, the whole source item
    /// (mapped again, it gives the record's fields); a read that does not ask gets
    /// none.
    RawKeptOnRequest => "raw_kept_on_request", Read;
    /// A full read crosses at least three pages of the fake.
    ReadCrossesPages => "read_crosses_pages", Read;
    /// A 429 with `Retry-After` on the second page is survived without loss, and
    /// the retry waits at least `Retry-After`.
    SurvivesRateLimit => "survives_rate_limit", Read;
    /// 503s on the second page and a 500 on the third are survived without loss.
    SurvivesServerErrors => "survives_server_errors", Read;
    /// A read from the final checkpoint after changes yields exactly the records
    /// changed at or after its watermark, including those changed at the boundary.
    IncrementalReadsChanges => "incremental_read_yields_only_changes", Incremental;
    /// A read resumed from every intermediate checkpoint yields exactly the rest.
    ResumeFromEveryCheckpoint => "resume_from_every_checkpoint", Incremental;
    /// A read from a completed checkpoint in the future yields no records.
    FutureCheckpointYieldsNothing => "future_checkpoint_yields_nothing", Incremental;
    /// Every relationship points from its record to an entity the read yielded.
    RelationshipsResolve => "relationships_reference_existing_entities", Relationships;
    /// The canary secret never appears in errors (`Display`, `Debug`), test
    /// results, config `Debug` or captured tracing output, across good, failing
    /// and unreachable calls.
    CanaryNeverLeaks => "canary_secret_never_leaks", Security;
    /// Webhook deliveries are accepted (extension point; see [`WebhookFixture`]).
    WebhooksAccepted => "webhooks_accepted", Realtime;
    /// The fixture's sample delivery, signed with the handler's own verifier, is
    /// accepted and yields exactly the expected records and deletions.
    WebhookValidDelivery => "webhook_valid_delivery_yields_records", Realtime;
    /// The sample with one body byte changed after signing is rejected (`Auth`).
    WebhookTamperedBody => "webhook_tampered_body_rejected", Realtime;
    /// The sample signed with another secret is rejected (`Auth`).
    WebhookWrongSecret => "webhook_wrong_secret_rejected", Realtime;
    /// The sample signed longer ago than the tolerance is rejected as too old
    /// (timestamped schemes).
    WebhookStaleTimestamp => "webhook_stale_timestamp_rejected", Realtime;
    /// The sample signed further ahead than the tolerance is rejected as in the
    /// future (timestamped schemes).
    WebhookFutureTimestamp => "webhook_future_timestamp_rejected", Realtime;
    /// The same delivery sent twice is accepted once, then acknowledged as a
    /// duplicate and not processed.
    WebhookReplaySkipped => "webhook_replayed_delivery_skipped", Realtime;
}

impl fmt::Display for ContractTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It passed.
    Passed,
    /// It failed, and why.
    Failed(String),
    /// It did not apply, and why.
    Skipped(String),
}

impl Outcome {
    /// Whether it failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
}

/// Pass / fail / skip per test, for one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteReport {
    /// The connector's id.
    pub connector: String,
    /// The outcome of each test run, in order.
    pub outcomes: Vec<(ContractTest, Outcome)>,
}

impl SuiteReport {
    /// The tests that failed.
    pub fn failed(&self) -> Vec<ContractTest> {
        self.select(|o| o.is_failed())
    }

    /// The tests that passed.
    pub fn passed(&self) -> Vec<ContractTest> {
        self.select(|o| *o == Outcome::Passed)
    }

    /// The tests that were skipped.
    pub fn skipped(&self) -> Vec<ContractTest> {
        self.select(|o| matches!(o, Outcome::Skipped(_)))
    }

    fn select(&self, keep: impl Fn(&Outcome) -> bool) -> Vec<ContractTest> {
        self.outcomes
            .iter()
            .filter(|(_, o)| keep(o))
            .map(|(t, _)| *t)
            .collect()
    }

    /// The outcome of `test`, if it ran.
    pub fn outcome(&self, test: ContractTest) -> Option<&Outcome> {
        self.outcomes
            .iter()
            .find(|(t, _)| *t == test)
            .map(|(_, o)| o)
    }

    /// Panics with the report when any test failed.
    ///
    /// # Panics
    ///
    /// When a test failed.
    pub fn assert_passed(&self) {
        assert!(self.failed().is_empty(), "contract suite failed:\n{self}");
    }
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "contract suite for `{}`:", self.connector)?;
        for (test, outcome) in &self.outcomes {
            match outcome {
                Outcome::Passed => writeln!(f, "  PASS {test}")?,
                Outcome::Failed(why) => writeln!(f, "  FAIL {test}: {why}")?,
                Outcome::Skipped(why) => writeln!(f, "  SKIP {test}: {why}")?,
            }
        }
        Ok(())
    }
}

/// Knobs of the suite. Defaults: reads span 3 pages, `Retry-After: 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SuiteOptions {
    /// How many pages a full read should span; the suite asks for a page size of
    /// `records / pages`.
    pub pages: u32,
    /// The `Retry-After` the rate-limit test sends. On tokio's paused clock any
    /// value costs nothing; on the real clock the test waits this long.
    pub retry_after: Duration,
    /// A read is stopped (and fails) after this many items: a stream that never
    /// ends must not hang the suite.
    pub max_items: usize,
}

impl Default for SuiteOptions {
    fn default() -> Self {
        Self {
            pages: 3,
            retry_after: Duration::from_secs(1),
            max_items: 100_000,
        }
    }
}

impl SuiteOptions {
    /// Sets the number of pages reads should span (at least 3 is what
    /// `read_crosses_pages` checks).
    pub fn with_pages(mut self, pages: u32) -> Self {
        self.pages = pages.max(1);
        self
    }

    /// Sets the `Retry-After` of the rate-limit test.
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = wait;
        self
    }
}

/// Runs contract tests against a fixture and reports each outcome.
///
/// ```no_run
/// # async fn demo(fixture: impl connector_testkit::suite::ContractFixture) {
/// use connector_testkit::suite::{ContractSuite, ContractTest};
///
/// let report = ContractSuite::new(fixture).run().await;
/// println!("{report}");
/// assert!(report.failed().is_empty());
/// # }
/// ```
#[derive(Debug)]
pub struct ContractSuite<F> {
    fixture: F,
    options: SuiteOptions,
    only: Option<Vec<ContractTest>>,
}

impl<F: ContractFixture> ContractSuite<F> {
    /// The whole suite for `fixture`, with default options.
    pub fn new(fixture: F) -> Self {
        Self {
            fixture,
            options: SuiteOptions::default(),
            only: None,
        }
    }

    /// Sets the options.
    pub fn with_options(mut self, options: SuiteOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs only `tests`.
    pub fn only(mut self, tests: &[ContractTest]) -> Self {
        self.only = Some(tests.to_vec());
        self
    }

    /// Runs the tests, one after the other, each against a fresh fake.
    pub async fn run(&self) -> SuiteReport {
        let tests: Vec<ContractTest> = match &self.only {
            Some(only) => ContractTest::ALL
                .iter()
                .copied()
                .filter(|t| only.contains(t))
                .collect(),
            None => ContractTest::ALL.to_vec(),
        };
        let mut outcomes = Vec::with_capacity(tests.len());
        for test in tests {
            outcomes.push((test, self.run_test(test).await));
        }
        SuiteReport {
            connector: self.fixture.factory().metadata().id,
            outcomes,
        }
    }

    /// Runs one test.
    pub async fn run_test(&self, test: ContractTest) -> Outcome {
        let caps = self.fixture.factory().metadata().capabilities;
        if let Some(reason) = test.group().skip_reason(&caps) {
            return Outcome::Skipped(reason.to_owned());
        }
        match checks::run(&self.fixture, &self.options, test).await {
            Ok(checks::Verdict::Pass) => Outcome::Passed,
            Ok(checks::Verdict::Skip(why)) => Outcome::Skipped(why),
            Err(why) => Outcome::Failed(why),
        }
    }
}

/// Runs `test` for `fixture` as a Rust test: panics when it fails, prints the
/// reason when it is skipped. The body of every test [`contract_suite!`](crate::contract_suite!)
/// generates.
///
/// # Panics
///
/// When the test fails.
pub async fn run_as_test<F: ContractFixture>(fixture: F, test: ContractTest) {
    match ContractSuite::new(fixture).run_test(test).await {
        Outcome::Passed => {}
        Outcome::Skipped(why) => {
            // A skipped test passes; the reason shows with `--nocapture`.
            #[allow(clippy::print_stdout)]
            {
                println!("skipped {test}: {why}");
            }
        }
        Outcome::Failed(why) => panic!("contract test `{test}` failed: {why}"),
    }
}

/// Generates one `#[tokio::test]` per [`ContractTest`] for a fixture expression.
///
/// ```ignore
/// mod contract {
///     connector_testkit::contract_suite!(crate::MyFixture::default());
/// }
/// ```
///
/// `contract_suite!(fixture, paused_clock)` runs the tests on tokio's paused clock
/// (waits cost nothing); the fixture's config must then disable the HTTP client's
/// per-request timeout, which the paused clock would otherwise fire while a
/// loopback request is in flight.
#[macro_export]
macro_rules! contract_suite {
    (@tests $fixture:expr; $flavor:tt) => {
        $crate::contract_suite!(@each $fixture; $flavor;
            metadata_well_formed => MetadataWellFormed,
            config_schema_valid => ConfigSchemaValid,
            bad_config_rejected => BadConfigRejected,
            test_connection_succeeds => ConnectionSucceeds,
            test_connection_classifies_auth_failure => ConnectionAuthFailure,
            test_connection_classifies_unreachable_host => ConnectionUnreachable,
            discover_lists_entities => DiscoverListsEntities,
            full_read_returns_fixture_records => FullReadReturnsFixture,
            two_full_reads_are_identical => FullReadsIdentical,
            raw_kept_on_request => RawKeptOnRequest,
            read_crosses_pages => ReadCrossesPages,
            survives_server_errors => SurvivesServerErrors,
            incremental_read_yields_only_changes => IncrementalReadsChanges,
            resume_from_every_checkpoint => ResumeFromEveryCheckpoint,
            future_checkpoint_yields_nothing => FutureCheckpointYieldsNothing,
            relationships_reference_existing_entities => RelationshipsResolve,
            canary_secret_never_leaks => CanaryNeverLeaks,
            webhooks_accepted => WebhooksAccepted,
            webhook_valid_delivery_yields_records => WebhookValidDelivery,
            webhook_tampered_body_rejected => WebhookTamperedBody,
            webhook_wrong_secret_rejected => WebhookWrongSecret,
            webhook_stale_timestamp_rejected => WebhookStaleTimestamp,
            webhook_future_timestamp_rejected => WebhookFutureTimestamp,
            webhook_replayed_delivery_skipped => WebhookReplaySkipped,
        );
        // Always on the real clock: on the paused clock tokio auto-advances to the
        // HTTP pool's idle timer while a loopback request is in flight, which can
        // make a retry that ignored `Retry-After` look patient.
        $crate::contract_suite!(@one []; survives_rate_limit => SurvivesRateLimit; $fixture);
    };
    (@each $fixture:expr; $flavor:tt; $($name:ident => $variant:ident,)*) => {
        $( $crate::contract_suite!(@one $flavor; $name => $variant; $fixture); )*
    };
    (@one [$($flavor:tt)*]; $name:ident => $variant:ident; $fixture:expr) => {
        #[$crate::__private::tokio::test($($flavor)* crate = "connector_testkit::__private::tokio")]
        async fn $name() {
            $crate::suite::run_as_test($fixture, $crate::suite::ContractTest::$variant).await;
        }
    };
    ($fixture:expr) => {
        $crate::contract_suite!(@tests $fixture; []);
    };
    ($fixture:expr, paused_clock) => {
        $crate::contract_suite!(@tests $fixture; [start_paused = true,]);
    };
}
