//! The live smoke runner: real credentials, one `test_connection` and one small
//! fetch per entity for every registered connector.
//!
//! Targets come from a JSON file (TOML would add a dependency; JSON is what
//! `ConnectorConfig` already reads) or from environment variables:
//!
//! ```json
//! {
//!   "connectors": {
//!     "github": {
//!       "config": { "organization_id": "smoke", "credentials": { "type": "bearer", "token": "ghp_..." },
//!                   "settings": { "owner": "rust-lang" } },
//!       "entities": ["repos"],
//!       "page_size": 5
//!     },
//!     "jira": { "skip": "sandbox is down this week" }
//!   }
//! }
//! ```
//!
//! or `CONNECTOR_SMOKE_GITHUB='{"config": {...}}'` (the id upper-cased, dashes as
//! underscores). A connector with no target is **skipped** with the reason; a
//! failed connect, connection test or fetch is a **failure**; every printed line
//! is scrubbed of every secret in every target, so the output can go to CI logs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use connector_core::futures::StreamExt;
use connector_core::{
    ConnectorConfig, ConnectorError, ConnectorRegistry, FetchOptions, Result, SyncItem,
};
use serde::Deserialize;
use serde_json::Value;

use crate::fixtures::Redactor;

/// The environment variable naming a smoke file.
pub const CONFIG_VAR: &str = "CONNECTOR_SMOKE_CONFIG";
/// The prefix of per-connector environment variables.
pub const VAR_PREFIX: &str = "CONNECTOR_SMOKE_";

/// What to smoke-test: targets by connector id.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokePlan {
    /// The targets, by connector id.
    #[serde(default)]
    pub connectors: BTreeMap<String, SmokeTarget>,
}

/// One connector's smoke target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeTarget {
    /// The connector config (a `ConnectorConfig` as JSON, credentials included).
    #[serde(default)]
    pub config: Option<Value>,
    /// The entities to fetch; all mapped entities when absent.
    #[serde(default)]
    pub entities: Option<Vec<String>>,
    /// The page size of the fetches (default 5).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Skip this connector, with the reason.
    #[serde(default)]
    pub skip: Option<String>,
}

impl SmokePlan {
    /// Reads a smoke file.
    ///
    /// # Errors
    ///
    /// [`Config`](connector_core::ErrorKind::Config) naming the file and the problem.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let value = crate::fixtures::load_json(path)?;
        serde_json::from_value(value).map_err(|e| {
            ConnectorError::config(format!("smoke file `{}` is invalid: {e}", path.display()))
        })
    }

    /// Targets from `CONNECTOR_SMOKE_<ID>` variables among `vars` (a
    /// [`SmokeTarget`] as JSON, or a bare config). [`CONFIG_VAR`] is not a target.
    ///
    /// # Errors
    ///
    /// [`Config`](connector_core::ErrorKind::Config) naming the variable (never its value).
    pub fn from_vars(
        registry: &ConnectorRegistry,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self> {
        let by_var: BTreeMap<String, String> = registry
            .ids()
            .map(|id| {
                (
                    format!("{VAR_PREFIX}{}", id.to_ascii_uppercase().replace('-', "_")),
                    id.to_owned(),
                )
            })
            .collect();
        let mut plan = SmokePlan::default();
        for (name, value) in vars {
            let Some(id) = by_var.get(&name) else {
                continue;
            };
            let json: Value = serde_json::from_str(&value).map_err(|e| {
                ConnectorError::config(format!(
                    "`{name}` is not JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })?;
            let target = if json.get("config").is_some() || json.get("skip").is_some() {
                serde_json::from_value(json).map_err(|e| {
                    ConnectorError::config(format!("`{name}` is not a smoke target: {e}"))
                })?
            } else {
                SmokeTarget {
                    config: Some(json),
                    ..SmokeTarget::default()
                }
            };
            plan.connectors.insert(id.clone(), target);
        }
        Ok(plan)
    }

    fn redactor(&self) -> Redactor {
        let mut r = Redactor::new();
        for target in self.connectors.values() {
            if let Some(config) = &target.config
                && let Ok(config) = ConnectorConfig::from_json(&config.to_string())
            {
                r = r.with_secrets(config.credentials.secret_values());
            }
        }
        r
    }
}

/// Pass, fail or skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmokeStatus {
    /// Connected, tested and fetched.
    Pass,
    /// Something failed.
    Fail,
    /// Not run.
    Skip,
}

/// One connector's result. Its text is already scrubbed of secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeResult {
    /// The connector id.
    pub id: String,
    /// The status.
    pub status: SmokeStatus,
    /// What happened, or why it was skipped or failed.
    pub detail: String,
}

/// The results of a smoke run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeReport {
    /// One result per connector, by id.
    pub results: Vec<SmokeResult>,
}

impl SmokeReport {
    /// Whether any connector failed.
    pub fn has_failures(&self) -> bool {
        self.results.iter().any(|r| r.status == SmokeStatus::Fail)
    }

    /// `FAILURE` when any connector failed, else `SUCCESS`.
    pub fn exit_code(&self) -> ExitCode {
        if self.has_failures() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }

    /// The result of connector `id`.
    pub fn result(&self, id: &str) -> Option<&SmokeResult> {
        self.results.iter().find(|r| r.id == id)
    }
}

impl fmt::Display for SmokeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            let status = match r.status {
                SmokeStatus::Pass => "PASS",
                SmokeStatus::Fail => "FAIL",
                SmokeStatus::Skip => "SKIP",
            };
            writeln!(f, "{status} {}: {}", r.id, r.detail)?;
        }
        let count = |s| self.results.iter().filter(|r| r.status == s).count();
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            count(SmokeStatus::Pass),
            count(SmokeStatus::Fail),
            count(SmokeStatus::Skip)
        )
    }
}

/// Smoke-tests every connector in `registry` with its target in `plan`; targets
/// naming no registered connector fail.
pub async fn run(registry: &ConnectorRegistry, plan: &SmokePlan) -> SmokeReport {
    let redactor = plan.redactor();
    let mut ids: Vec<String> = registry.ids().map(str::to_owned).collect();
    ids.sort();
    let mut results = Vec::new();
    for id in &ids {
        let (status, detail) = match plan.connectors.get(id) {
            None => (
                SmokeStatus::Skip,
                format!(
                    "no credentials: add `connectors.{id}` to the smoke file or set {VAR_PREFIX}{}",
                    id.to_ascii_uppercase().replace('-', "_")
                ),
            ),
            Some(target) => match &target.skip {
                Some(reason) => (SmokeStatus::Skip, reason.clone()),
                None => match smoke_one(registry, id, target).await {
                    Ok(detail) => (SmokeStatus::Pass, detail),
                    Err(detail) => (SmokeStatus::Fail, detail),
                },
            },
        };
        results.push(SmokeResult {
            id: id.clone(),
            status,
            detail: redactor.text(&detail),
        });
    }
    for id in plan.connectors.keys().filter(|id| !registry.contains(id)) {
        results.push(SmokeResult {
            id: id.clone(),
            status: SmokeStatus::Fail,
            detail:
                "the smoke file names a connector that is not registered (is its cargo feature on?)"
                    .to_owned(),
        });
    }
    SmokeReport { results }
}

async fn smoke_one(
    registry: &ConnectorRegistry,
    id: &str,
    target: &SmokeTarget,
) -> std::result::Result<String, String> {
    let config = target.config.as_ref().ok_or("the target has no `config`")?;
    let config =
        ConnectorConfig::from_json(&config.to_string()).map_err(|e| format!("config: {e}"))?;
    let connector = registry
        .connect(id, config)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let test = connector.test_connection().await;
    if !test.success {
        return Err(format!("test_connection: {}", test.message));
    }
    let entities = target.entities.clone().unwrap_or_else(|| {
        connector
            .mappings()
            .iter()
            .map(|m| m.source_type.clone())
            .collect()
    });
    let mut lines = vec!["test_connection ok".to_owned()];
    for entity in entities {
        let options = FetchOptions::new()
            .with_page_size(target.page_size.unwrap_or(5))
            .with_limit(1);
        let mut stream = connector.fetch(&entity, options);
        let mut records = 0;
        while let Some(item) = stream.next().await {
            match item {
                Ok(SyncItem::Record(_)) => {
                    records += 1;
                    break;
                }
                Ok(_) => {}
                Err(e) => return Err(format!("fetch `{entity}`: {e}")),
            }
        }
        lines.push(format!("{entity}: {records} record(s)"));
    }
    Ok(lines.join("; "))
}

/// The body of a smoke binary: reads the plan from the file given as the first
/// argument, else from [`CONFIG_VAR`], else from `CONNECTOR_SMOKE_<ID>`
/// variables; runs it; prints the report; returns the exit code.
///
/// ```no_run
/// # fn registry() -> connector_core::ConnectorRegistry { connector_core::ConnectorRegistry::new() }
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> std::process::ExitCode {
///     connector_testkit::smoke::main(&registry(), std::env::args().nth(1)).await
/// }
/// ```
pub async fn main(registry: &ConnectorRegistry, path: Option<String>) -> ExitCode {
    let plan = match path.or_else(|| std::env::var(CONFIG_VAR).ok()) {
        Some(path) => SmokePlan::load(path),
        None => SmokePlan::from_vars(registry, std::env::vars()),
    };
    #[allow(clippy::print_stdout)]
    match plan {
        Ok(plan) => {
            let report = run(registry, &plan).await;
            println!("{report}");
            report.exit_code()
        }
        Err(e) => {
            println!("FAIL smoke plan: {e}");
            ExitCode::FAILURE
        }
    }
}
