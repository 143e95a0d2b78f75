//! The settings of a Jira Cloud connector instance: which site, which projects
//! and issue types, and the time zone JQL dates are read in.
//!
//! Settings arrive as the `settings` object of a
//! [`ConnectorConfig`](connector_core::ConnectorConfig) and are validated against
//! the JSON schema generated from [`JiraSettings`]; every problem is reported with
//! its path (`settings.site: ...`).

use std::time::Duration;

use connector_core::chrono::{Duration as ChronoDuration, FixedOffset};
use connector_core::{ConnectorError, FieldError, Result};
use schemars::JsonSchema;
use serde::Deserialize;

/// The API gateway OAuth 2.0 (3LO) apps and scoped tokens call:
/// `https://api.atlassian.com/ex/jira/{cloudId}`.
pub const OAUTH_GATEWAY: &str = "https://api.atlassian.com/ex/jira";

/// The most issues the JQL search serves per page when fields are requested.
pub const MAX_SEARCH_PAGE: u32 = 100;

/// The most projects `project/search` serves per page.
pub const MAX_PROJECT_PAGE: u32 = 50;

/// The default per-attempt request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Typed settings of the Jira Cloud connector.
///
/// ```
/// use connector_jira::JiraSettings;
///
/// let settings: JiraSettings = serde_json::from_value(serde_json::json!({
///     "site": "acme",
///     "projects": ["PAY", "WEB"]
/// }))?;
/// assert_eq!(settings.base_url().ok().as_deref(), Some("https://acme.atlassian.net"));
/// assert_eq!(settings.epic_issue_types, ["Epic"]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JiraSettings {
    /// The Jira Cloud site: `acme` or `acme.atlassian.net`. Requests go to
    /// `https://acme.atlassian.net`. Used with basic (email + API token) auth.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9-]*(\.atlassian\.net)?$"))]
    pub site: Option<String>,
    /// The site's cloud id, for OAuth 2.0 (3LO) apps and scoped tokens: requests go
    /// to `https://api.atlassian.com/ex/jira/{cloud_id}`.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]{8,64}$"))]
    pub cloud_id: Option<String>,
    /// An explicit API root (a proxy, a test server). Overrides `site` and
    /// `cloud_id`. Paths such as `/rest/api/3/myself` are appended to it.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Project keys whose issues are imported (`PAY`). Empty: every project the
    /// credentials can see.
    #[serde(default)]
    #[schemars(inner(regex(pattern = r"^[A-Z][A-Z0-9_]{0,254}$")))]
    pub projects: Vec<String>,
    /// The issue types imported as epics (`INITIATIVE`). Default: `["Epic"]`.
    #[serde(default = "epic_types")]
    #[schemars(default = "epic_types", length(min = 1))]
    pub epic_issue_types: Vec<String>,
    /// The issue types imported as stories (`REQUIREMENT`). Default: `["Story"]`.
    #[serde(default = "story_types")]
    #[schemars(default = "story_types", length(min = 1))]
    pub story_issue_types: Vec<String>,
    /// An extra JQL restriction ANDed to every issue search (`labels = roadmap`).
    #[serde(default)]
    pub jql: Option<String>,
    /// The UTC offset of the Jira user's time zone (`+10:00`, `-05:00`, `UTC`),
    /// in which Jira reads JQL dates. With daylight saving time, give the smaller
    /// (winter) offset. Absent: the connector asks `GET /rest/api/3/myself`; a
    /// zone other than UTC then widens the incremental window by 12 hours (and
    /// drops the extra records itself).
    #[serde(default)]
    #[schemars(regex(pattern = r"^(UTC|Z|[+-][0-9]{2}:[0-9]{2})$"))]
    pub time_zone_offset: Option<String>,
    /// The per-attempt request timeout in seconds; `0` disables it. Default: 30.
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
}

fn epic_types() -> Vec<String> {
    vec!["Epic".to_owned()]
}

fn story_types() -> Vec<String> {
    vec!["Story".to_owned()]
}

impl JiraSettings {
    /// Settings for the site `site` (`acme` or `acme.atlassian.net`).
    pub fn for_site(site: impl Into<String>) -> Self {
        Self {
            site: Some(site.into()),
            cloud_id: None,
            base_url: None,
            projects: Vec::new(),
            epic_issue_types: epic_types(),
            story_issue_types: story_types(),
            jql: None,
            time_zone_offset: None,
            request_timeout_secs: None,
        }
    }

    /// The API root requests go to: `base_url`, else the OAuth gateway for
    /// `cloud_id`, else `https://{site}.atlassian.net`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](connector_core::ErrorKind::Config) naming
    /// `settings.site` when none of the three is set, or `settings.base_url` when
    /// it is not an absolute http(s) URL without credentials.
    pub fn base_url(&self) -> Result<String> {
        if let Some(url) = &self.base_url {
            return connector_http::checked_base_url(url)
                .map_err(|message| invalid("settings.base_url", "url", message));
        }
        if let Some(cloud_id) = &self.cloud_id {
            return Ok(format!("{OAUTH_GATEWAY}/{cloud_id}"));
        }
        if let Some(site) = &self.site {
            let name = site.trim_end_matches(".atlassian.net");
            return Ok(format!(
                "https://{}.atlassian.net",
                name.to_ascii_lowercase()
            ));
        }
        Err(invalid(
            "settings.site",
            "required",
            "set `site` (basic auth), `cloud_id` (OAuth apps) or `base_url`",
        ))
    }

    /// The per-attempt timeout: `None` when disabled.
    pub fn timeout(&self) -> Option<Duration> {
        match self.request_timeout_secs {
            None => Some(DEFAULT_TIMEOUT),
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
        }
    }

    /// The configured time-zone offset, if any.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](connector_core::ErrorKind::Config) naming
    /// `settings.time_zone_offset` when it is out of range.
    pub fn offset(&self) -> Result<Option<FixedOffset>> {
        let Some(raw) = self.time_zone_offset.as_deref() else {
            return Ok(None);
        };
        if raw == "UTC" || raw == "Z" {
            return Ok(FixedOffset::east_opt(0));
        }
        let bad = || {
            invalid(
                "settings.time_zone_offset",
                "pattern",
                format!("`{raw}` is not an offset between -12:00 and +14:00"),
            )
        };
        let sign = match raw.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(bad()),
        };
        let (h, m) = raw[1..].split_once(':').ok_or_else(bad)?;
        let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        let seconds = sign * (h * 3600 + m * 60);
        if !(-12 * 3600..=14 * 3600).contains(&seconds) || m >= 60 {
            return Err(bad());
        }
        FixedOffset::east_opt(seconds).map(Some).ok_or_else(bad)
    }

    /// Checks everything the schema cannot: the base URL resolves and the offset
    /// is in range.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](connector_core::ErrorKind::Config) naming the field.
    pub fn validate(&self) -> Result<()> {
        self.base_url()?;
        self.offset()?;
        Ok(())
    }
}

/// The widest a JQL date can be off when the user's zone is unknown: UTC-12.
pub(crate) fn unknown_zone_slack() -> ChronoDuration {
    ChronoDuration::hours(-12)
}

fn invalid(path: &str, rule: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::invalid_config("Jira settings", vec![FieldError::new(path, rule, message)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_resolve_in_order() {
        let mut s = JiraSettings::for_site("Acme.atlassian.net");
        assert_eq!(
            s.base_url().ok().as_deref(),
            Some("https://acme.atlassian.net")
        );
        s.cloud_id = Some("11223344-5566-7788-99aa-bbccddeeff00".into());
        assert_eq!(
            s.base_url().ok().as_deref(),
            Some("https://api.atlassian.com/ex/jira/11223344-5566-7788-99aa-bbccddeeff00")
        );
        s.base_url = Some("http://127.0.0.1:8080/".into());
        assert_eq!(s.base_url().ok().as_deref(), Some("http://127.0.0.1:8080"));
        s.base_url = Some("https://u:p@jira.example.com".into());
        let err = s.base_url().err();
        assert!(err.is_some_and(|e| e.field_errors()[0].path == "settings.base_url"));
        let none = JiraSettings {
            site: None,
            ..JiraSettings::for_site("x")
        };
        let err = none.base_url().err();
        assert!(err.is_some_and(|e| e.field_errors()[0].path == "settings.site"));
    }

    #[test]
    fn offsets_parse_and_stay_in_range() {
        let with = |o: &str| JiraSettings {
            time_zone_offset: Some(o.into()),
            ..JiraSettings::for_site("x")
        };
        assert_eq!(
            with("UTC").offset().ok().flatten(),
            FixedOffset::east_opt(0)
        );
        assert_eq!(
            with("+10:00").offset().ok().flatten(),
            FixedOffset::east_opt(36_000)
        );
        assert_eq!(
            with("-05:30").offset().ok().flatten(),
            FixedOffset::east_opt(-19_800)
        );
        assert!(with("+15:00").offset().is_err());
        assert!(with("10:00").offset().is_err());
        assert_eq!(JiraSettings::for_site("x").offset().ok(), Some(None));
    }
}
