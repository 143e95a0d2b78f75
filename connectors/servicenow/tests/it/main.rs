//! Integration tests of the ServiceNow connector against its fake: the full
//! contract suite and vendor-specific behaviour.

mod contract;
mod vendor;
