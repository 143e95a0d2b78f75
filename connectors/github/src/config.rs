//! The settings of a GitHub connector instance: where the API is, which
//! organization and repositories to read, and how patient to be.
//!
//! Settings arrive as the `settings` object of a
//! [`ConnectorConfig`](connector_core::ConnectorConfig) and are validated against
//! the JSON schema generated from [`GithubSettings`]; every problem is reported
//! with its path (`settings.organization: required`).

use std::time::Duration;

use connector_core::secrecy::SecretString;
use connector_core::{ConnectorError, FieldError, Result};
use schemars::JsonSchema;
use serde::Deserialize;

/// The public GitHub API.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";

/// The most items GitHub serves per page (`per_page`).
pub const MAX_PAGE_SIZE: u32 = 100;

/// The default per-attempt request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Typed settings of the GitHub connector.
///
/// ```
/// use connector_github::GithubSettings;
///
/// let settings: GithubSettings = serde_json::from_value(serde_json::json!({
///     "organization": "octo-org",
///     "repositories": ["octo-org/api", "octo-org/web"]
/// }))?;
/// assert_eq!(settings.base_url, "https://api.github.com");
/// assert!(settings.include_pull_requests);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GithubSettings {
    /// The REST API root. `https://api.github.com` for github.com (the default);
    /// `https://HOST/api/v3` for GitHub Enterprise Server.
    #[serde(default = "default_base_url")]
    #[schemars(default = "default_base_url")]
    pub base_url: String,
    /// The organization whose repositories and members are imported (`octo-org`).
    #[schemars(
        length(min = 1, max = 39),
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9-]*$")
    )]
    pub organization: String,
    /// The repositories whose issues and pull requests are imported, as
    /// `owner/name`. Empty: the `issues` entity is not available.
    #[serde(default)]
    #[schemars(inner(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")))]
    pub repositories: Vec<String>,
    /// Whether `issues` also yields pull requests (flagged `isPullRequest`). GitHub's
    /// issues endpoint returns both. Default: true.
    #[serde(default = "yes")]
    #[schemars(default = "yes")]
    pub include_pull_requests: bool,
    /// The per-attempt request timeout in seconds; `0` disables it. Default: 30.
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
    /// The secret GitHub signs webhook deliveries with (`X-Hub-Signature-256`).
    /// When set, the connector's `webhook_handler()` verifies `issues` and
    /// `pull_request` deliveries and maps them like a fetch.
    #[serde(default)]
    #[schemars(schema_with = "connector_core::credentials::optional_secret_schema")]
    pub webhook_secret: Option<SecretString>,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

fn yes() -> bool {
    true
}

impl GithubSettings {
    /// Settings for `organization` on github.com with no repositories.
    pub fn new(organization: impl Into<String>) -> Self {
        Self {
            base_url: default_base_url(),
            organization: organization.into(),
            repositories: Vec::new(),
            include_pull_requests: true,
            request_timeout_secs: None,
            webhook_secret: None,
        }
    }

    /// Sets the API root (GitHub Enterprise Server: `https://HOST/api/v3`).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Adds a repository (`owner/name`) whose issues are imported.
    pub fn with_repository(mut self, repository: impl Into<String>) -> Self {
        self.repositories.push(repository.into());
        self
    }

    /// The per-attempt timeout: `None` when disabled.
    pub fn timeout(&self) -> Option<Duration> {
        match self.request_timeout_secs {
            None => Some(DEFAULT_TIMEOUT),
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
        }
    }

    /// Checks what the schema cannot: the base URL is an absolute http(s) URL
    /// without credentials, query or fragment, and no repository is listed twice.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](connector_core::ErrorKind::Config) naming each
    /// offending field.
    pub fn validate(&self) -> Result<()> {
        let mut errors = Vec::new();
        if let Err(message) = connector_http::checked_base_url(&self.base_url) {
            errors.push(FieldError::new("settings.base_url", "url", message));
        }
        for (i, repo) in self.repositories.iter().enumerate() {
            if self.repositories[..i]
                .iter()
                .any(|r| r.eq_ignore_ascii_case(repo))
            {
                errors.push(FieldError::new(
                    format!("settings.repositories[{i}]"),
                    "unique",
                    format!("`{repo}` is listed twice"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConnectorError::invalid_config("GitHub settings", errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::ErrorKind;

    #[test]
    fn defaults_and_timeout() {
        let s = GithubSettings::new("octo-org");
        assert_eq!(s.base_url, DEFAULT_BASE_URL);
        assert_eq!(s.timeout(), Some(DEFAULT_TIMEOUT));
        let off = GithubSettings {
            request_timeout_secs: Some(0),
            ..s.clone()
        };
        assert_eq!(off.timeout(), None);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn bad_base_urls_and_duplicates_name_the_field() {
        let s = GithubSettings::new("o")
            .with_base_url("ftp://ghe.example.com/api/v3")
            .with_repository("o/a")
            .with_repository("O/A");
        let err = s.validate().err().map(|e| {
            assert_eq!(e.kind(), ErrorKind::Config);
            e.field_errors()
                .iter()
                .map(|f| f.path.clone())
                .collect::<Vec<_>>()
        });
        assert_eq!(
            err,
            Some(vec![
                "settings.base_url".to_owned(),
                "settings.repositories[1]".to_owned()
            ])
        );
        let creds = GithubSettings::new("o").with_base_url("https://user:pw@ghe.example.com");
        assert!(creds.validate().is_err());
    }
}
