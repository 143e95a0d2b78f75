//! The tests `contract_suite!` generates, for the reference connector on the
//! paused clock.

use crate::reference::AcmeFixture;

connector_testkit::contract_suite!(AcmeFixture::correct(), paused_clock);
