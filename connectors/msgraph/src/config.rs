//! The settings of the Microsoft Graph connectors, validated against their JSON
//! schema and then checked for what a schema cannot say: that the tenant cannot
//! rewrite the token URL, and that the authority and Graph URLs are https.

use connector_core::error::{FieldError, clip};
use connector_core::{ConnectorError, Result};
use schemars::JsonSchema;
use serde::Deserialize;
use url::Url;

/// The public-cloud authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The public-cloud Graph endpoint (v1.0).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";

/// The default page size (`Prefer: odata.maxpagesize` for delta rounds).
pub const DEFAULT_PAGE_SIZE: u32 = 200;

/// The largest page Graph returns for user and group delta rounds [?]: larger
/// asks are capped by the service.
pub const MAX_DELTA_PAGE_SIZE: u32 = 200;

/// Settings of the Microsoft Entra ID connector (`azure-ad`).
///
/// ```json
/// { "tenant_id": "contoso.onmicrosoft.com" }
/// ```
///
/// Sovereign clouds set both URLs, e.g. US Government:
/// `"authority": "https://login.microsoftonline.us"`,
/// `"base_url": "https://graph.microsoft.us/v1.0"`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphSettings {
    /// The directory (tenant) id or a verified domain (`contoso.onmicrosoft.com`).
    /// Falls back to the credentials' `tenant_id`.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The login authority; default `https://login.microsoftonline.com`.
    #[serde(default)]
    pub authority: Option<String>,
    /// The Graph endpoint including its version; default
    /// `https://graph.microsoft.com/v1.0`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Objects per page, 1 to 200 for delta rounds; default 200.
    #[serde(default)]
    #[schemars(range(min = 1, max = 999))]
    pub page_size: Option<u32>,
    /// Per-request timeout in seconds; default 60. `0` disables it.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// A client-side cap on requests per second (Graph throttles per app and
    /// tenant; there is no published number for directory reads).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub requests_per_second: Option<u32>,
    /// The entities to import; default both (`user`, `group`).
    #[serde(default)]
    pub entities: Option<Vec<String>>,
}

fn field_error(path: &str, rule: &str, why: String) -> ConnectorError {
    ConnectorError::invalid_config(
        "settings are invalid",
        vec![FieldError::new(path, rule, why)],
    )
}

/// Whether `tenant` is a tenant id or domain: letters, digits, dots and dashes,
/// nothing that could change the token URL's path or host.
pub fn is_tenant(tenant: &str) -> bool {
    let b = tenant.as_bytes();
    !b.is_empty()
        && b.len() <= 253
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'-')
        && !tenant.contains("..")
}

impl GraphSettings {
    /// The tenant: the setting, else `from_credentials`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](connector_core::ErrorKind::Config) naming
    /// `settings.tenant_id` when it is missing or not a tenant id or domain.
    pub fn tenant(&self, from_credentials: Option<&str>) -> Result<String> {
        let tenant = self
            .tenant_id
            .as_deref()
            .or(from_credentials)
            .map(str::trim)
            .ok_or_else(|| {
                field_error(
                    "settings.tenant_id",
                    "required",
                    "required: the directory (tenant) id or a verified domain".to_owned(),
                )
            })?;
        if !is_tenant(tenant) {
            return Err(field_error(
                "settings.tenant_id",
                "pattern",
                format!(
                    "`{}` is not a tenant id or domain (letters, digits, dots and dashes)",
                    clip(tenant, 80)
                ),
            ));
        }
        Ok(tenant.to_owned())
    }

    /// The authority URL, without a trailing slash.
    ///
    /// # Errors
    ///
    /// A config error naming `settings.authority`.
    pub fn authority(&self) -> Result<String> {
        connector_http::checked_base_url(self.authority.as_deref().unwrap_or(DEFAULT_AUTHORITY))
            .map_err(|why| field_error("settings.authority", "url", why))
    }

    /// The Graph URL, without a trailing slash.
    ///
    /// # Errors
    ///
    /// A config error naming `settings.base_url`.
    pub fn graph_url(&self) -> Result<String> {
        connector_http::checked_base_url(self.base_url.as_deref().unwrap_or(DEFAULT_GRAPH_URL))
            .map_err(|why| field_error("settings.base_url", "url", why))
    }

    /// The client-credentials scope: the Graph origin's `/.default`
    /// (`https://graph.microsoft.com/.default`).
    ///
    /// # Errors
    ///
    /// As [`graph_url`](Self::graph_url).
    pub fn scope(&self) -> Result<String> {
        let url = self.graph_url()?;
        let origin = Url::parse(&url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or(url);
        Ok(format!("{origin}/.default"))
    }

    /// The page size to ask for when a fetch names none.
    pub fn page_size(&self) -> u32 {
        self.page_size.unwrap_or(DEFAULT_PAGE_SIZE).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GraphSettings {
        GraphSettings {
            tenant_id: None,
            authority: None,
            base_url: None,
            page_size: None,
            timeout_secs: None,
            requests_per_second: None,
            entities: None,
        }
    }

    #[test]
    fn tenants() {
        let s = settings();
        assert_eq!(
            s.tenant(Some("contoso.onmicrosoft.com")).ok().as_deref(),
            Some("contoso.onmicrosoft.com")
        );
        assert_eq!(
            s.tenant(Some("87d349ed-44d7-43e1-9a83-5f2406dee5bd"))
                .ok()
                .as_deref(),
            Some("87d349ed-44d7-43e1-9a83-5f2406dee5bd")
        );
        for bad in ["evil.com/x", "a@b", "../x", "", "a b", "x?y=1", "a..b"] {
            let err = s.tenant(Some(bad)).expect_err(bad);
            assert_eq!(err.field_errors()[0].path, "settings.tenant_id", "{bad}");
        }
        assert!(s.tenant(None).is_err());
    }

    #[test]
    fn clouds() {
        let mut s = settings();
        assert_eq!(s.authority().ok().as_deref(), Some(DEFAULT_AUTHORITY));
        assert_eq!(
            s.scope().ok().as_deref(),
            Some("https://graph.microsoft.com/.default")
        );
        s.base_url = Some("https://graph.microsoft.us/v1.0/".to_owned());
        s.authority = Some("https://login.microsoftonline.us".to_owned());
        assert_eq!(
            s.graph_url().ok().as_deref(),
            Some("https://graph.microsoft.us/v1.0")
        );
        assert_eq!(
            s.scope().ok().as_deref(),
            Some("https://graph.microsoft.us/.default")
        );
        s.authority = Some("http://login.evil.com".to_owned());
        assert_eq!(
            s.authority().expect_err("http").field_errors()[0].path,
            "settings.authority"
        );
    }
}
