//! Integration tests of `#[derive(EntityMapping)]`: the seed mappings as derived
//! structs, typed and dynamic mapping agreeing, runtime errors and the attributes.

mod equivalence;
mod errors;
mod features;
mod seed;
