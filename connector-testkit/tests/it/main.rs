//! The testkit's own tests: its fakes and faults against connector-http, the
//! contract suite against a correct and five broken connectors, fixtures and
//! the smoke runner.

mod fake;
mod fixtures;
mod generated;
mod reference;
mod smoke;
mod suite;
