//! Mapping micro-benchmarks (divan): the ServiceNow application and GitHub issue
//! shapes, dynamic `Mapper` against the derived conversion, records per second on
//! one core. `cargo bench -p connector-benches --features bench --bench mapping`.

use connector_benches::micro::{MappingCase, SOURCES};
use divan::{Bencher, black_box, counter::ItemsCount};

fn main() {
    divan::main();
}

fn run(bencher: Bencher<'_, '_>, case: MappingCase) {
    let sources = case.sources();
    let map = case.mapper();
    bencher
        .counter(ItemsCount::new(SOURCES as usize))
        .bench_local(|| {
            for s in &sources {
                black_box(map(black_box(s)));
            }
        });
}

#[divan::bench]
fn servicenow_app_dynamic(b: Bencher<'_, '_>) {
    run(b, MappingCase::ServiceNowDynamic);
}

#[divan::bench]
fn servicenow_app_derived(b: Bencher<'_, '_>) {
    run(b, MappingCase::ServiceNowDerived);
}

#[divan::bench]
fn github_issue_dynamic(b: Bencher<'_, '_>) {
    run(b, MappingCase::GithubDynamic);
}

#[divan::bench]
fn github_issue_derived(b: Bencher<'_, '_>) {
    run(b, MappingCase::GithubDerived);
}

#[divan::bench]
fn github_issue_nested_dynamic(b: Bencher<'_, '_>) {
    run(b, MappingCase::GithubFlatDynamic);
}

#[divan::bench]
fn github_issue_nested_derived(b: Bencher<'_, '_>) {
    run(b, MappingCase::GithubFlatDerived);
}
