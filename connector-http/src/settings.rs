//! Settings every HTTP connector shares.
//!
//! [`HttpSettings`] is a ready-made settings type (or a part of one, through
//! `#[serde(flatten)]`) for the two things every HTTP connector is configured
//! with: where the API lives, and how long a request may take. Its
//! [`client`](HttpSettings::client) builds the [`HttpClient`] with the base URL
//! checked by [`checked_base_url`] (an error names `settings.base_url`), the
//! timeout applied, and the config's credentials mapped to auth.

use std::time::Duration;

use connector_core::{ConnectorError, Credentials, FieldError, Result};
use serde::Deserialize;

use crate::{HttpClient, HttpClientBuilder, checked_base_url};

/// The request timeout used when settings name none.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where an HTTP API lives and how long a request may take.
///
/// ```
/// use connector_core::{ConnectorConfig, Credentials};
/// use connector_http::HttpSettings;
/// use serde_json::json;
///
/// let config = ConnectorConfig::new("org", Credentials::Bearer { token: "t".into() })
///     .with_settings(json!({ "base_url": "https://api.example.com/v1" }));
/// let settings: HttpSettings = config.settings()?;
/// let client = settings.client("example", &config.credentials)?;
/// assert_eq!(client.base_url().as_str(), "https://api.example.com/v1");
///
/// let bad = ConnectorConfig::new("org", Credentials::None)
///     .with_settings(json!({ "base_url": "http://api.example.com" }));
/// let err = bad.settings::<HttpSettings>()?.client("example", &bad.credentials).unwrap_err();
/// assert_eq!(err.field_errors()[0].path, "settings.base_url");
/// # Ok::<(), connector_core::ConnectorError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// The API root, e.g. `https://api.example.com/v1`: https, or plain http only
    /// for localhost.
    #[schemars(url)]
    pub base_url: String,
    /// The per-attempt request timeout in seconds; `0` disables it (tests on a
    /// paused clock). Default: 30.
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
}

impl HttpSettings {
    /// Settings for `base_url` with the default timeout.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            request_timeout_secs: None,
        }
    }

    /// The per-attempt timeout: `None` when disabled.
    pub fn timeout(&self) -> Option<Duration> {
        match self.request_timeout_secs {
            None => Some(DEFAULT_REQUEST_TIMEOUT),
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
        }
    }

    /// A client builder for `connector_id` with the checked base URL, the timeout
    /// (also as connect timeout) and `credentials` mapped to auth (see
    /// [`HttpClientBuilder::with_credentials`]); add vendor rules before `build()`.
    ///
    /// # Errors
    ///
    /// [`Config`](connector_core::ErrorKind::Config) naming `settings.base_url`.
    pub fn client_builder(
        &self,
        connector_id: &str,
        credentials: &Credentials,
    ) -> Result<HttpClientBuilder> {
        let base = checked_base_url(&self.base_url).map_err(|message| {
            ConnectorError::invalid_config(
                "settings are invalid",
                vec![FieldError::new("settings.base_url", "url", message)],
            )
            .with_connector(connector_id.to_owned())
        })?;
        Ok(HttpClient::builder(base)
            .with_connector(connector_id)
            .with_timeout(self.timeout())
            .with_connect_timeout(self.timeout())
            .with_credentials(credentials))
    }

    /// [`client_builder`](Self::client_builder), built.
    ///
    /// # Errors
    ///
    /// As [`client_builder`](Self::client_builder), and the builder's own errors
    /// (credentials it cannot map).
    pub fn client(&self, connector_id: &str, credentials: &Credentials) -> Result<HttpClient> {
        self.client_builder(connector_id, credentials)?.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        let mut s = HttpSettings::new("https://x.example");
        assert_eq!(s.timeout(), Some(DEFAULT_REQUEST_TIMEOUT));
        s.request_timeout_secs = Some(0);
        assert_eq!(s.timeout(), None);
        s.request_timeout_secs = Some(5);
        assert_eq!(s.timeout(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn bad_urls_and_credentials_are_config_errors_naming_the_field() {
        let err = HttpSettings::new("https://bot:pw@x.example")
            .client("x", &Credentials::None)
            .unwrap_err();
        assert_eq!(err.kind(), connector_core::ErrorKind::Config);
        assert!(
            err.to_string()
                .contains("settings.base_url: the URL must not carry credentials"),
            "{err}"
        );
        assert!(!err.to_string().contains("pw@"), "{err}");
        let key =
            serde_json::from_value(serde_json::json!({"type": "api_key", "key": "k"})).unwrap();
        let err = HttpSettings::new("https://x.example")
            .client("x", &key)
            .unwrap_err();
        assert!(
            err.to_string().contains("`api_key` credentials need"),
            "{err}"
        );
    }
}
