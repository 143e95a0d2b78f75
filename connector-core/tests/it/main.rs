//! connector-core integration tests: only the public API, as a connector author
//! and an embedding application would use it.

mod connector;
mod mapping;
mod pipeline;
mod registry;
