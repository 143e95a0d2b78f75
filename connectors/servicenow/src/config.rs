//! The connector's settings (`ConnectorConfig::settings`), validated against their
//! JSON schema and then checked for what a schema cannot say: that the instance
//! names a ServiceNow host, so requests (and the credentials on them) cannot be
//! pointed anywhere else.

use connector_core::error::{FieldError, clip};
use connector_core::{ConnectorError, Result};
use schemars::JsonSchema;
use serde::Deserialize;

/// The default rows per page.
pub const DEFAULT_PAGE_SIZE: u32 = 1_000;

/// The largest page the connector asks for: the Table API's default
/// `sysparm_limit` (10,000). Larger pages strain the instance.
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// Settings of the ServiceNow connector.
///
/// ```json
/// { "instance": "acme", "page_size": 1000 }
/// ```
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowSettings {
    /// The instance: its name (`acme` for `https://acme.service-now.com`), its host
    /// (`acme.service-now.com`) or its full URL (`https://cmdb.acme.com` for a
    /// custom domain). A name is lowercase letters, digits and dashes; a URL must
    /// be `https` (`http` only for `localhost`/`127.0.0.1`, for local fakes).
    #[schemars(length(min = 1))]
    pub instance: String,
    /// Sends API requests to this URL instead of the instance's (an API gateway or
    /// proxy in front of the instance). Same rules as a full-URL `instance`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Rows per page (`sysparm_limit`), 1 to 10,000; default 1,000.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub page_size: Option<u32>,
    /// Per-request timeout in seconds; default 60. `0` disables it.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// A client-side cap on requests per second, to stay under the instance's
    /// rate-limit rules (they are per instance and per user; there is no default).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub requests_per_second: Option<u32>,
    /// The tables to import; default all three (`cmdb_ci_appl`, `cmdb_ci_server`,
    /// `cmdb_ci_service`).
    #[serde(default)]
    pub tables: Option<Vec<String>>,
}

impl ServiceNowSettings {
    /// The instance's root URL (`https://acme.service-now.com`), without a trailing
    /// slash.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](connector_core::ErrorKind::Config) naming
    /// `settings.instance` when it is neither a valid name nor an allowed URL.
    pub fn instance_url(&self) -> Result<String> {
        instance_url(&self.instance).map_err(|why| field_error("settings.instance", why))
    }

    /// The URL API requests go to: `base_url` when set, else the instance's.
    ///
    /// # Errors
    ///
    /// As [`instance_url`](Self::instance_url), or naming `settings.base_url`.
    pub fn api_url(&self) -> Result<String> {
        let instance = self.instance_url()?;
        match &self.base_url {
            Some(base) => connector_http::checked_base_url(base)
                .map_err(|why| field_error("settings.base_url", why)),
            None => Ok(instance),
        }
    }

    /// The OAuth token endpoint: `explicit` (the credentials' `token_url`) when
    /// given, else `<instance>/oauth_token.do`.
    ///
    /// # Errors
    ///
    /// As [`instance_url`](Self::instance_url), or naming `credentials.token_url`.
    pub fn token_url(&self, explicit: Option<&str>) -> Result<String> {
        match explicit {
            Some(url) => connector_http::checked_base_url(url)
                .map_err(|why| field_error("credentials.token_url", why)),
            None => Ok(format!("{}/oauth_token.do", self.instance_url()?)),
        }
    }

    /// The page size to use when a fetch names none.
    pub fn page_size(&self) -> u32 {
        self.page_size
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE)
    }
}

fn field_error(path: &str, why: String) -> ConnectorError {
    ConnectorError::invalid_config(
        "settings are invalid",
        vec![FieldError::new(path, "instance", why)],
    )
}

/// Whether `name` is a valid instance name: lowercase letters, digits and dashes,
/// starting with a letter or digit, at most 63 characters (a DNS label).
pub fn is_instance_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// The root URL `instance` stands for, or why it is refused.
fn instance_url(instance: &str) -> std::result::Result<String, String> {
    let instance = instance.trim();
    if instance.contains("://") {
        return connector_http::checked_base_url(instance);
    }
    if let Some(name) = instance.strip_suffix(".service-now.com")
        && is_instance_name(name)
    {
        return Ok(format!("https://{name}.service-now.com"));
    }
    if is_instance_name(instance) {
        return Ok(format!("https://{instance}.service-now.com"));
    }
    Err(format!(
        "`{}` is not an instance name (lowercase letters, digits and dashes, like `acme`), \
         a `<name>.service-now.com` host, or an https URL",
        clip(instance, 80)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(instance: &str) -> ServiceNowSettings {
        ServiceNowSettings {
            instance: instance.to_owned(),
            base_url: None,
            page_size: None,
            timeout_secs: None,
            requests_per_second: None,
            tables: None,
        }
    }

    #[test]
    fn names_hosts_and_urls_resolve() {
        let cases = [
            ("acme", "https://acme.service-now.com"),
            ("dev-12345", "https://dev-12345.service-now.com"),
            ("acme.service-now.com", "https://acme.service-now.com"),
            (
                "https://acme.service-now.com/",
                "https://acme.service-now.com",
            ),
            ("https://cmdb.acme.com", "https://cmdb.acme.com"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://localhost:1234/", "http://localhost:1234"),
        ];
        for (instance, url) in cases {
            assert_eq!(
                settings(instance).instance_url().ok().as_deref(),
                Some(url),
                "{instance}"
            );
        }
    }

    #[test]
    fn names_that_could_point_elsewhere_are_refused() {
        for bad in [
            "evil.com/x",
            "a@b",
            "a.b",
            "acme.service-now.com.evil.com",
            "Acme",
            "-acme",
            "",
            "acme/../x",
            "http://acme.service-now.com",
            "https://user:pw@acme.service-now.com",
            "https://acme.service-now.com/?x=1",
            "ftp://acme.service-now.com",
            "acme evil",
        ] {
            let err = settings(bad).instance_url().expect_err(bad);
            assert_eq!(err.kind(), connector_core::ErrorKind::Config, "{bad}");
            assert_eq!(err.field_errors()[0].path, "settings.instance", "{bad}");
        }
    }

    #[test]
    fn base_url_and_token_url() {
        let mut s = settings("acme");
        assert_eq!(
            s.token_url(None).ok().as_deref(),
            Some("https://acme.service-now.com/oauth_token.do")
        );
        s.base_url = Some("http://evil.com".to_owned());
        let err = s.api_url().expect_err("plain http");
        assert_eq!(err.field_errors()[0].path, "settings.base_url");
        s.base_url = Some("https://gw.acme.com/sn".to_owned());
        assert_eq!(s.api_url().ok().as_deref(), Some("https://gw.acme.com/sn"));
        assert_eq!(s.page_size(), DEFAULT_PAGE_SIZE);
    }
}
