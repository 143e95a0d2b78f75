//! Connector configuration.
//!
//! A [`ConnectorConfig`] says which organization a connector instance works for,
//! how it authenticates ([`Credentials`]), its connector-specific settings, when it
//! syncs and how its mappings are overridden. Settings arrive as JSON and are turned
//! into the connector's typed settings with [`ConnectorConfig::settings`], which
//! first validates them against the settings type's JSON schema so every problem
//! is reported at once, each naming its path (`settings.instance: required`).

use chrono::NaiveTime;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::credentials::Credentials;
use crate::error::{ConnectorError, Result};
use crate::mapping::MappingOverride;

/// How often a scheduled sync runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// Every hour, at the given minute past the hour.
    Hourly,
    /// Every day.
    Daily,
    /// Every week, on Mondays.
    Weekly,
    /// Every month, on the first day.
    Monthly,
}

/// When a connector syncs on its own. The embedding application drives the runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncSchedule {
    /// Whether scheduled runs happen at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How often.
    pub frequency: Frequency,
    /// The time of day (UTC) as `HH:MM`; midnight when absent. For hourly
    /// schedules only the minutes count.
    #[serde(default, with = "time_of_day", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", regex(pattern = r"^([01]\d|2[0-3]):[0-5]\d$"))]
    pub time: Option<NaiveTime>,
}

fn default_true() -> bool {
    true
}

mod time_of_day {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(t: &Option<NaiveTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.format("%H:%M").to_string()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<NaiveTime>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        raw.map(|s| {
            NaiveTime::parse_from_str(&s, "%H:%M")
                .map_err(|_| D::Error::custom(format!("time `{s}` is not HH:MM (24-hour, UTC)")))
        })
        .transpose()
    }
}

/// The configuration of one connector instance.
///
/// ```
/// use connector_core::ConnectorConfig;
///
/// let config = ConnectorConfig::from_json(r#"{
///     "organization_id": "org-1",
///     "name": "Production CMDB",
///     "credentials": { "type": "basic", "username": "svc", "password": "s3cr3t" },
///     "settings": { "instance": "acme" },
///     "schedule": { "frequency": "daily", "time": "02:30" }
/// }"#).unwrap();
/// assert_eq!(config.credentials.kind(), "basic");
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// ```
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ConnectorConfig {
    /// The organization (tenant) this instance imports for.
    pub organization_id: String,
    /// A name the user chose (`Production CMDB`).
    #[serde(default)]
    pub name: String,
    /// How to authenticate.
    #[serde(default)]
    pub credentials: Credentials,
    /// Connector-specific settings; see [`ConnectorConfig::settings`].
    #[serde(default = "empty_object")]
    pub settings: Value,
    /// When to sync on a schedule.
    #[serde(default)]
    pub schedule: Option<SyncSchedule>,
    /// Data filters, by entity or connector-specific keys.
    #[serde(default)]
    pub filters: Map<String, Value>,
    /// Changes to the connector's default mappings.
    #[serde(default)]
    #[schemars(with = "Vec<Value>")]
    pub mapping_overrides: Vec<MappingOverride>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

impl ConnectorConfig {
    /// A config for `organization_id` with the given credentials and no settings.
    pub fn new(organization_id: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            organization_id: organization_id.into(),
            name: String::new(),
            credentials,
            settings: empty_object(),
            schedule: None,
            filters: Map::new(),
            mapping_overrides: Vec::new(),
        }
    }

    /// Sets the settings.
    pub fn with_settings(mut self, settings: Value) -> Self {
        self.settings = settings;
        self
    }

    /// Sets the name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the schedule.
    pub fn with_schedule(mut self, schedule: SyncSchedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// Adds mapping overrides.
    pub fn with_mapping_overrides(mut self, overrides: Vec<MappingOverride>) -> Self {
        self.mapping_overrides = overrides;
        self
    }

    /// Parses a config from JSON.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the problem and its
    /// position.
    pub fn from_json(json: &str) -> Result<Self> {
        let config: Self = serde_json::from_str(json)
            .map_err(|e| ConnectorError::config(format!("connector config is invalid: {e}")))?;
        if config.organization_id.trim().is_empty() {
            return Err(ConnectorError::config("organization_id: required"));
        }
        Ok(config)
    }

    /// Validates the settings against `S`'s JSON schema, then deserialises them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) listing every violation,
    /// each with its path under `settings` (`settings.instance: required`); the
    /// same list is in [`ConnectorError::field_errors`].
    ///
    /// ```
    /// use connector_core::{ConnectorConfig, Credentials, ErrorKind};
    /// use serde_json::json;
    ///
    /// #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    /// struct Settings { instance: String, page_size: Option<u32> }
    ///
    /// let config = ConnectorConfig::new("org", Credentials::None)
    ///     .with_settings(json!({ "page_size": "big" }));
    /// let err = config.settings::<Settings>().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Config);
    /// assert_eq!(
    ///     err.message(),
    ///     "settings are invalid: settings.instance: required; \
    ///      settings.page_size: expected integer or null, found string"
    /// );
    /// ```
    pub fn settings<S: DeserializeOwned + JsonSchema>(&self) -> Result<S> {
        parse_settings(&self.settings)
    }
}

/// Validates `value` against `S`'s schema, then deserialises it (see
/// [`ConnectorConfig::settings`]).
///
/// # Errors
///
/// [`ErrorKind::Config`](crate::ErrorKind::Config) listing every violation.
pub fn parse_settings<S: DeserializeOwned + JsonSchema>(value: &Value) -> Result<S> {
    let schema = schemars::schema_for!(S);
    let errors = crate::schema::validate(schema.as_value(), value, "settings");
    if !errors.is_empty() {
        return Err(ConnectorError::invalid_config(
            "settings are invalid",
            errors,
        ));
    }
    serde_json::from_value(value.clone())
        .map_err(|e| ConnectorError::config(format!("settings are invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    #[test]
    fn from_json_reports_unknown_fields() {
        let err =
            ConnectorConfig::from_json(r#"{"organization_id":"o","setings":{}}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("setings"), "{err}");
        let err = ConnectorConfig::from_json(r#"{"organization_id":" "}"#).unwrap_err();
        assert!(
            err.to_string().contains("organization_id: required"),
            "{err}"
        );
    }

    #[test]
    fn schedule_time_is_validated() {
        let ok: SyncSchedule =
            serde_json::from_value(json!({"frequency":"weekly","time":"23:59"})).unwrap();
        assert!(ok.enabled);
        assert_eq!(ok.time, NaiveTime::from_hms_opt(23, 59, 0));
        let err =
            serde_json::from_value::<SyncSchedule>(json!({"frequency":"daily","time":"25:00"}))
                .unwrap_err();
        assert!(err.to_string().contains("HH:MM"), "{err}");
        assert_eq!(
            serde_json::to_value(&ok).unwrap(),
            json!({"enabled":true,"frequency":"weekly","time":"23:59"})
        );
    }

    #[test]
    fn settings_errors_carry_field_errors() {
        #[allow(dead_code)]
        #[derive(Debug, Deserialize, JsonSchema)]
        struct S {
            instance: String,
        }
        let config = ConnectorConfig::new("o", Credentials::None).with_settings(json!({}));
        let err = config.settings::<S>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(err.field_errors()[0].path, "settings.instance");
        assert_eq!(
            err.to_string(),
            "invalid configuration: settings are invalid: settings.instance: required; fix the configuration"
        );
    }
}
