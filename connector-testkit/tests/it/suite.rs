//! The suite passes a correct connector and fails each broken one on exactly the
//! matching tests.

use connector_testkit::suite::{ContractSuite, ContractTest, Group, Outcome};

use crate::reference::{AcmeFixture, Bug};

async fn failures(bug: Bug) -> Vec<ContractTest> {
    let report = ContractSuite::new(AcmeFixture { bug }).run().await;
    eprintln!("{report}");
    report.failed()
}

#[tokio::test(start_paused = true)]
async fn a_correct_connector_passes_every_applicable_test() {
    let report = ContractSuite::new(AcmeFixture::correct()).run().await;
    report.assert_passed();
    let realtime: Vec<ContractTest> = ContractTest::ALL
        .iter()
        .copied()
        .filter(|t| t.group() == Group::Realtime)
        .collect();
    assert_eq!(
        report.skipped(),
        realtime,
        "only the realtime group is skipped: {report}"
    );
    assert!(
        matches!(report.outcome(ContractTest::WebhooksAccepted), Some(Outcome::Skipped(why)) if why.contains("realtime"))
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_page_fails_the_read_tests() {
    assert_eq!(
        failures(Bug::DropsLastPage).await,
        [
            ContractTest::FullReadReturnsFixture,
            ContractTest::RawKeptOnRequest,
            ContractTest::SurvivesRateLimit,
            ContractTest::SurvivesServerErrors,
            ContractTest::IncrementalReadsChanges,
            // Its single-page read of every entity loses everything.
            ContractTest::RelationshipsResolve,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn duplicating_a_page_fails_the_read_tests() {
    assert_eq!(
        failures(Bug::DuplicatesPage).await,
        [
            ContractTest::FullReadReturnsFixture,
            ContractTest::RawKeptOnRequest,
            ContractTest::SurvivesRateLimit,
            ContractTest::SurvivesServerErrors,
            ContractTest::IncrementalReadsChanges,
            // A resumed read duplicates its first page too.
            ContractTest::ResumeFromEveryCheckpoint,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn leaking_the_token_fails_the_canary_test() {
    assert_eq!(
        failures(Bug::LeaksToken).await,
        [ContractTest::CanaryNeverLeaks]
    );
}

/// On the real clock: tokio's paused clock auto-advances to the next timer (the
/// HTTP pool's idle timer) while a loopback request is in flight, which can make
/// an impatient retry look patient. The wait is `Retry-After: 1`, one real second.
#[tokio::test]
async fn ignoring_retry_after_fails_the_rate_limit_test() {
    assert_eq!(
        failures(Bug::IgnoresRetryAfter).await,
        [ContractTest::SurvivesRateLimit]
    );
    let correct = ContractSuite::new(AcmeFixture::correct())
        .only(&[ContractTest::SurvivesRateLimit])
        .run()
        .await;
    correct.assert_passed();
}

#[tokio::test(start_paused = true)]
async fn an_exclusive_watermark_fails_the_incremental_test() {
    assert_eq!(
        failures(Bug::ExclusiveSince).await,
        [ContractTest::IncrementalReadsChanges]
    );
}

#[tokio::test(start_paused = true)]
async fn ignoring_include_raw_fails_the_raw_test() {
    assert_eq!(
        failures(Bug::IgnoresRaw).await,
        [ContractTest::RawKeptOnRequest]
    );
}
