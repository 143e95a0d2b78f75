//! The live smoke runner: `test_connection` and one small fetch per entity for every
//! enabled connector that has real credentials, printing pass / fail / skip per
//! connector and exiting non-zero on any failure. Secrets are never printed.
//!
//! ```sh
//! cargo run -p connector-examples --bin connector-smoke -- smoke.json
//! # or, without a file: CONNECTOR_SMOKE_GITHUB='{"organization_id":"o",...}'
//! ```
//!
//! The file format and variables are described in `docs/testing.md`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let registry = match connectors::registry() {
        Ok(registry) => registry,
        Err(e) => {
            eprintln!("connector-smoke: {e}");
            return ExitCode::FAILURE;
        }
    };
    connector_testkit::smoke::main(&registry, std::env::args().nth(1)).await
}
