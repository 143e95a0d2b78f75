//! Integration tests of the Entra ID connector against its fake: the full
//! contract suite and Graph-specific behaviour.

mod contract;
mod vendor;
