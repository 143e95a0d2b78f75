//! Credentials a connector authenticates with.
//!
//! Every secret is a [`SecretString`]: it deserialises from config, is never
//! serialised by accident, and prints as `[REDACTED]` in `Debug`. The JSON schema
//! of [`Credentials`] marks every secret field with `"writeOnly": true` and
//! `"secret": true`, so a UI renders it as a password input and never echoes it.
//! Use [`secret_schema`] to mark secrets in a connector's own settings the same way.

use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The placeholder `Debug` prints for a secret.
pub const REDACTED_DEBUG: &str = "[REDACTED]";

/// The JSON schema of a secret string: `{"type":"string","writeOnly":true,"secret":true}`.
///
/// Use it on secret fields of connector settings:
///
/// ```
/// use secrecy::SecretString;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Settings {
///     /// Shared secret GitHub signs webhooks with.
///     #[schemars(schema_with = "connector_core::credentials::secret_schema")]
///     webhook_secret: SecretString,
/// }
/// let schema = schemars::schema_for!(Settings);
/// assert_eq!(schema.as_value()["properties"]["webhook_secret"]["writeOnly"], true);
/// ```
pub fn secret_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "writeOnly": true, "secret": true })
}

/// Like [`secret_schema`], for an optional secret.
pub fn optional_secret_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["string", "null"], "writeOnly": true, "secret": true })
}

fn secret_map_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": { "type": "string", "writeOnly": true, "secret": true }
    })
}

/// How a connector authenticates. Deserialised from config with a `type` tag:
///
/// ```
/// use connector_core::Credentials;
///
/// let creds: Credentials = serde_json::from_str(
///     r#"{"type":"basic","username":"integration","password":"hunter2"}"#,
/// ).unwrap();
/// assert_eq!(
///     format!("{creds:?}"),
///     r#"Basic { username: "integration", password: [REDACTED] }"#
/// );
/// ```
#[derive(Clone, Default, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Credentials {
    /// No authentication (public APIs, tests). The default.
    #[default]
    None,
    /// HTTP basic: a user and a password or API token (Jira: email + API token).
    Basic {
        /// The user name or email.
        username: String,
        /// The password or API token.
        #[schemars(schema_with = "secret_schema")]
        password: SecretString,
    },
    /// A static bearer token (GitHub personal access token, OAuth access token).
    Bearer {
        /// The token.
        #[schemars(schema_with = "secret_schema")]
        token: SecretString,
    },
    /// An API key; where it goes (header or query parameter) is the connector's call.
    ApiKey {
        /// The key.
        #[schemars(schema_with = "secret_schema")]
        key: SecretString,
    },
    /// OAuth 2.0 client credentials.
    #[serde(rename = "oauth2_client_credentials")]
    #[schemars(rename = "oauth2_client_credentials")]
    OAuth2ClientCredentials {
        /// The client (application) id.
        client_id: String,
        /// The client secret.
        #[schemars(schema_with = "secret_schema")]
        client_secret: SecretString,
        /// The token endpoint; the connector's default when absent.
        #[serde(default)]
        token_url: Option<String>,
        /// Requested scopes.
        #[serde(default)]
        scopes: Vec<String>,
        /// The tenant (Microsoft Entra ID), when the vendor has one.
        #[serde(default)]
        tenant_id: Option<String>,
    },
    /// OAuth 2.0 with a refresh token.
    #[serde(rename = "oauth2_refresh_token")]
    #[schemars(rename = "oauth2_refresh_token")]
    OAuth2RefreshToken {
        /// The client id.
        client_id: String,
        /// The client secret, for confidential clients.
        #[serde(default)]
        #[schemars(schema_with = "optional_secret_schema")]
        client_secret: Option<SecretString>,
        /// The refresh token.
        #[schemars(schema_with = "secret_schema")]
        refresh_token: SecretString,
        /// A current access token, if one is at hand.
        #[serde(default)]
        #[schemars(schema_with = "optional_secret_schema")]
        access_token: Option<SecretString>,
        /// The token endpoint; the connector's default when absent.
        #[serde(default)]
        token_url: Option<String>,
    },
    /// A service-account key (Google): the JSON key file's essential fields.
    ServiceAccount {
        /// The service account's email.
        client_email: String,
        /// The PEM-encoded private key.
        #[schemars(schema_with = "secret_schema")]
        private_key: SecretString,
        /// The key id.
        #[serde(default)]
        private_key_id: Option<String>,
        /// The token endpoint.
        #[serde(default)]
        token_uri: Option<String>,
        /// The user to impersonate (domain-wide delegation).
        #[serde(default)]
        subject: Option<String>,
        /// Requested scopes.
        #[serde(default)]
        scopes: Vec<String>,
    },
    /// AWS access keys for Signature V4.
    AwsAccessKeys {
        /// The access key id (not secret on its own).
        access_key_id: String,
        /// The secret access key.
        #[schemars(schema_with = "secret_schema")]
        secret_access_key: SecretString,
        /// A session token for temporary credentials.
        #[serde(default)]
        #[schemars(schema_with = "optional_secret_schema")]
        session_token: Option<SecretString>,
        /// The region to sign for.
        #[serde(default)]
        region: Option<String>,
    },
    /// Anything else: named secret values.
    Custom {
        /// The values, each a secret.
        #[schemars(schema_with = "secret_map_schema")]
        values: BTreeMap<String, SecretString>,
    },
}

impl Credentials {
    /// The tag name of this variant (`basic`, `bearer`, ...), safe to print.
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::None => "none",
            Credentials::Basic { .. } => "basic",
            Credentials::Bearer { .. } => "bearer",
            Credentials::ApiKey { .. } => "api_key",
            Credentials::OAuth2ClientCredentials { .. } => "oauth2_client_credentials",
            Credentials::OAuth2RefreshToken { .. } => "oauth2_refresh_token",
            Credentials::ServiceAccount { .. } => "service_account",
            Credentials::AwsAccessKeys { .. } => "aws_access_keys",
            Credentials::Custom { .. } => "custom",
        }
    }

    /// Every secret value these credentials hold, for scrubbing them out of text
    /// that may echo them (error bodies, logs). Empty secrets are skipped.
    pub fn secret_values(&self) -> Vec<&str> {
        let secrets: Vec<&SecretString> = match self {
            Credentials::None => Vec::new(),
            Credentials::Basic { password, .. } => vec![password],
            Credentials::Bearer { token } => vec![token],
            Credentials::ApiKey { key } => vec![key],
            Credentials::OAuth2ClientCredentials { client_secret, .. } => vec![client_secret],
            Credentials::OAuth2RefreshToken {
                client_secret,
                refresh_token,
                access_token,
                ..
            } => std::iter::once(refresh_token)
                .chain(client_secret)
                .chain(access_token)
                .collect(),
            Credentials::ServiceAccount { private_key, .. } => vec![private_key],
            Credentials::AwsAccessKeys {
                secret_access_key,
                session_token,
                ..
            } => std::iter::once(secret_access_key)
                .chain(session_token)
                .collect(),
            Credentials::Custom { values } => values.values().collect(),
        };
        secrets
            .into_iter()
            .map(|s| s.expose_secret())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Serialises the credentials **with their secrets in clear**, for encrypted
    /// storage (the credential vault). Never log or print the result.
    pub fn to_json_exposing_secrets(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        let s = |v: &SecretString| Value::String(v.expose_secret().to_owned());
        let o = |v: &Option<SecretString>| v.as_ref().map(s).unwrap_or(Value::Null);
        match self {
            Credentials::None => json!({ "type": "none" }),
            Credentials::Basic { username, password } => {
                json!({ "type": "basic", "username": username, "password": s(password) })
            }
            Credentials::Bearer { token } => json!({ "type": "bearer", "token": s(token) }),
            Credentials::ApiKey { key } => json!({ "type": "api_key", "key": s(key) }),
            Credentials::OAuth2ClientCredentials {
                client_id,
                client_secret,
                token_url,
                scopes,
                tenant_id,
            } => json!({
                "type": "oauth2_client_credentials", "client_id": client_id,
                "client_secret": s(client_secret), "token_url": token_url, "scopes": scopes,
                "tenant_id": tenant_id,
            }),
            Credentials::OAuth2RefreshToken {
                client_id,
                client_secret,
                refresh_token,
                access_token,
                token_url,
            } => json!({
                "type": "oauth2_refresh_token", "client_id": client_id,
                "client_secret": o(client_secret), "refresh_token": s(refresh_token),
                "access_token": o(access_token), "token_url": token_url,
            }),
            Credentials::ServiceAccount {
                client_email,
                private_key,
                private_key_id,
                token_uri,
                subject,
                scopes,
            } => json!({
                "type": "service_account", "client_email": client_email,
                "private_key": s(private_key), "private_key_id": private_key_id,
                "token_uri": token_uri, "subject": subject, "scopes": scopes,
            }),
            Credentials::AwsAccessKeys {
                access_key_id,
                secret_access_key,
                session_token,
                region,
            } => {
                json!({
                    "type": "aws_access_keys", "access_key_id": access_key_id,
                    "secret_access_key": s(secret_access_key), "session_token": o(session_token),
                    "region": region,
                })
            }
            Credentials::Custom { values } => {
                let map: serde_json::Map<String, Value> =
                    values.iter().map(|(k, v)| (k.clone(), s(v))).collect();
                json!({ "type": "custom", "values": map })
            }
        }
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED_DEBUG)
    }
}

fn opt_redacted<T>(v: &Option<T>) -> Option<Redacted> {
    v.as_ref().map(|_| Redacted)
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &Redacted)
                .finish(),
            Credentials::Bearer { .. } => {
                f.debug_struct("Bearer").field("token", &Redacted).finish()
            }
            Credentials::ApiKey { .. } => f.debug_struct("ApiKey").field("key", &Redacted).finish(),
            Credentials::OAuth2ClientCredentials {
                client_id,
                token_url,
                scopes,
                tenant_id,
                ..
            } => f
                .debug_struct("OAuth2ClientCredentials")
                .field("client_id", client_id)
                .field("client_secret", &Redacted)
                .field("token_url", token_url)
                .field("scopes", scopes)
                .field("tenant_id", tenant_id)
                .finish(),
            Credentials::OAuth2RefreshToken {
                client_id,
                client_secret,
                access_token,
                token_url,
                ..
            } => f
                .debug_struct("OAuth2RefreshToken")
                .field("client_id", client_id)
                .field("client_secret", &opt_redacted(client_secret))
                .field("refresh_token", &Redacted)
                .field("access_token", &opt_redacted(access_token))
                .field("token_url", token_url)
                .finish(),
            Credentials::ServiceAccount {
                client_email,
                private_key_id,
                token_uri,
                subject,
                scopes,
                ..
            } => f
                .debug_struct("ServiceAccount")
                .field("client_email", client_email)
                .field("private_key", &Redacted)
                .field("private_key_id", private_key_id)
                .field("token_uri", token_uri)
                .field("subject", subject)
                .field("scopes", scopes)
                .finish(),
            Credentials::AwsAccessKeys {
                access_key_id,
                session_token,
                region,
                ..
            } => f
                .debug_struct("AwsAccessKeys")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &Redacted)
                .field("session_token", &opt_redacted(session_token))
                .field("region", region)
                .finish(),
            Credentials::Custom { values } => {
                let keys: BTreeMap<&str, Redacted> =
                    values.keys().map(|k| (k.as_str(), Redacted)).collect();
                f.debug_struct("Custom").field("values", &keys).finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CANARY: &str = "CANARY-7f3a9c-secret";

    fn all_variants() -> Vec<Credentials> {
        [
            json!({"type":"basic","username":"u","password":CANARY}),
            json!({"type":"bearer","token":CANARY}),
            json!({"type":"api_key","key":CANARY}),
            json!({"type":"oauth2_client_credentials","client_id":"c","client_secret":CANARY,"tenant_id":"t"}),
            json!({"type":"oauth2_refresh_token","client_id":"c","client_secret":CANARY,"refresh_token":CANARY,"access_token":CANARY}),
            json!({"type":"service_account","client_email":"sa@x.iam","private_key":CANARY}),
            json!({"type":"aws_access_keys","access_key_id":"AKIA","secret_access_key":CANARY,"session_token":CANARY}),
            json!({"type":"custom","values":{"a":CANARY,"b":CANARY}}),
        ]
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
    }

    #[test]
    fn debug_never_prints_a_secret() {
        for creds in all_variants() {
            let dbg = format!("{creds:?} {creds:#?}");
            assert!(!dbg.contains(CANARY), "{dbg}");
            assert!(dbg.contains(REDACTED_DEBUG), "{dbg}");
            assert!(creds.secret_values().contains(&CANARY), "{}", creds.kind());
        }
    }

    #[test]
    fn debug_exact_output() {
        let creds = &all_variants()[4];
        assert_eq!(
            format!("{creds:?}"),
            "OAuth2RefreshToken { client_id: \"c\", client_secret: Some([REDACTED]), \
             refresh_token: [REDACTED], access_token: Some([REDACTED]), token_url: None }"
        );
        let creds = &all_variants()[7];
        assert_eq!(
            format!("{creds:?}"),
            "Custom { values: {\"a\": [REDACTED], \"b\": [REDACTED]} }"
        );
    }

    #[test]
    fn exposing_round_trips() {
        for creds in all_variants() {
            let json = creds.to_json_exposing_secrets();
            let back: Credentials = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(back.to_json_exposing_secrets(), json);
        }
    }

    #[test]
    fn unknown_fields_and_types_are_rejected() {
        let err = serde_json::from_value::<Credentials>(json!({"type":"basic","user":"x"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("user"), "{err}");
        assert!(serde_json::from_value::<Credentials>(json!({"type":"kerberos"})).is_err());
    }

    #[test]
    fn schema_marks_every_secret() {
        let schema = serde_json::to_value(schemars::schema_for!(Credentials)).unwrap();
        let text = schema.to_string();
        // Ten secret fields across the variants, plus the custom map's values.
        assert_eq!(text.matches("\"writeOnly\":true").count(), 11, "{text}");
        assert_eq!(text.matches("\"secret\":true").count(), 11);
    }
}
