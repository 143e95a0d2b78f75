//! What a connector is and what it can do.
//!
//! [`ConnectorMetadata`] describes a connector for catalogs and UIs: id, vendor,
//! category, release status, auth methods, rate-limit hints, the hosts it talks to
//! and its [`Capabilities`]. It serialises to JSON, so a registry can publish a
//! catalog of every connector it knows.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// The family a connector belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Category {
    /// IT service management (ServiceNow, Jira Service Management).
    Itsm,
    /// Project and portfolio management (Jira, Azure DevOps boards).
    #[serde(rename = "project_portfolio")]
    ProjectPortfolio,
    /// Identity and access management (Entra ID, Okta).
    #[serde(rename = "identity_access")]
    IdentityAccess,
    /// Cloud infrastructure (AWS, Azure, GCP, Kubernetes).
    #[serde(rename = "cloud_infrastructure")]
    CloudInfrastructure,
    /// Development and DevOps (GitHub, GitLab).
    #[serde(rename = "development_devops")]
    DevelopmentDevops,
    /// Documentation and knowledge bases (Confluence, SharePoint).
    Documentation,
    /// CRM and sales (Salesforce, Dynamics 365).
    #[serde(rename = "crm_sales")]
    CrmSales,
    /// Communication (Slack, Teams).
    Communication,
    /// Security and compliance.
    #[serde(rename = "security_compliance")]
    SecurityCompliance,
    /// ERP and finance.
    #[serde(rename = "erp_financial")]
    ErpFinancial,
    /// Human resources.
    Hr,
    /// Analytics and BI.
    Analytics,
    /// File and object storage (S3, GCS).
    Storage,
    /// Databases.
    Database,
    /// Anything else.
    Other,
}

/// How far a connector has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ReleaseStatus {
    /// Generally available: complete and tested against the contract suite.
    #[serde(rename = "GA")]
    Ga,
    /// Works, may change.
    Beta,
    /// Early; expect gaps.
    Alpha,
    /// Not implemented yet; listed so catalogs are honest about what is coming.
    Planned,
}

/// How important a connector is to the roadmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    /// Must have.
    P0,
    /// Should have.
    P1,
    /// Nice to have.
    P2,
}

/// A way a connector can authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// HTTP basic (user and password or API token).
    Basic,
    /// A static bearer token.
    Bearer,
    /// An API key in a header or query parameter.
    ApiKey,
    /// OAuth 2.0 client credentials.
    #[serde(rename = "oauth2_client_credentials")]
    OAuth2ClientCredentials,
    /// OAuth 2.0 with a refresh token.
    #[serde(rename = "oauth2_refresh_token")]
    OAuth2RefreshToken,
    /// A service-account key signing JWTs (Google).
    ServiceAccount,
    /// AWS access keys with Signature V4.
    AwsSigV4,
    /// Something else, described in the connector's documentation.
    Custom,
}

/// What the vendor allows, so discovery can estimate and clients can pace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitHint {
    /// Sustained requests per minute the vendor allows one client.
    pub requests_per_minute: u32,
    /// Short bursts above the sustained rate.
    #[serde(default)]
    pub burst: u32,
    /// Anything else worth knowing (per-user vs per-app quotas, secondary limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl RateLimitHint {
    /// A hint of `requests_per_minute` with no burst.
    pub fn per_minute(requests_per_minute: u32) -> Self {
        Self {
            requests_per_minute,
            burst: 0,
            notes: None,
        }
    }

    /// Adds a note.
    pub fn with_notes(mut self, notes: impl Into<String>) -> Self {
        self.notes = Some(notes.into());
        self
    }
}

/// What a connector can do. The contract suite runs the tests that match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// Reads entities.
    #[serde(default)]
    pub import: bool,
    /// Writes entities back.
    #[serde(default)]
    pub export: bool,
    /// Reads only what changed since a checkpoint.
    #[serde(default)]
    pub incremental: bool,
    /// Receives webhooks and turns them into records.
    #[serde(default)]
    pub realtime: bool,
    /// Syncs both ways.
    #[serde(default)]
    pub bidirectional: bool,
    /// Reads documents (files with content).
    #[serde(default)]
    pub documents: bool,
    /// Yields relationships between entities.
    #[serde(default)]
    pub relationships: bool,
    /// `discover` reports counts per entity.
    #[serde(default)]
    pub discovery_counts: bool,
}

impl Capabilities {
    /// Import only.
    pub fn import() -> Self {
        Self {
            import: true,
            ..Self::default()
        }
    }

    /// Adds incremental reads.
    pub fn with_incremental(mut self) -> Self {
        self.incremental = true;
        self
    }

    /// Adds webhooks.
    pub fn with_realtime(mut self) -> Self {
        self.realtime = true;
        self
    }

    /// Adds relationships.
    pub fn with_relationships(mut self) -> Self {
        self.relationships = true;
        self
    }

    /// Adds discovery counts.
    pub fn with_discovery_counts(mut self) -> Self {
        self.discovery_counts = true;
        self
    }

    /// Adds document reads.
    pub fn with_documents(mut self) -> Self {
        self.documents = true;
        self
    }

    /// Adds writes.
    pub fn with_export(mut self) -> Self {
        self.export = true;
        self
    }
}

/// Describes a connector.
///
/// ```
/// use connector_core::metadata::{AuthMethod, Category, ConnectorMetadata, Capabilities};
///
/// let meta = ConnectorMetadata::new("acme-tickets", "Acme Tickets", "Acme", Category::Itsm)
///     .with_description("Tickets from the Acme helpdesk")
///     .with_documentation_url("https://docs.example.com/connectors/acme-tickets")
///     .with_auth_methods([AuthMethod::Bearer])
///     .with_capabilities(Capabilities::import().with_incremental());
/// assert!(meta.validate().is_ok());
/// let json = serde_json::to_value(&meta).unwrap();
/// assert_eq!(json["category"], "itsm");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectorMetadata {
    /// Stable kebab-case id (`servicenow`, `azure-ad`).
    pub id: String,
    /// Human name (`ServiceNow CMDB`).
    pub name: String,
    /// Vendor name.
    pub vendor: String,
    /// Category.
    pub category: Category,
    /// One or two sentences on what it imports.
    pub description: String,
    /// Semantic version of the connector.
    pub version: String,
    /// Release status.
    pub status: ReleaseStatus,
    /// Roadmap priority.
    pub priority: Priority,
    /// Where its documentation lives.
    pub documentation_url: String,
    /// Supported authentication methods.
    pub auth_methods: Vec<AuthMethod>,
    /// Vendor rate limits, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitHint>,
    /// The hosts it talks to by default (`api.github.com`, `*.service-now.com`).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// What it can do.
    pub capabilities: Capabilities,
}

impl ConnectorMetadata {
    /// Metadata with version `0.1.0`, status Alpha, priority P2, import capability
    /// and nothing else; fill in the rest with the `with_*` setters.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        vendor: impl Into<String>,
        category: Category,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            vendor: vendor.into(),
            category,
            description: String::new(),
            version: "0.1.0".into(),
            status: ReleaseStatus::Alpha,
            priority: Priority::P2,
            documentation_url: String::new(),
            auth_methods: Vec::new(),
            rate_limit: None,
            allowed_hosts: Vec::new(),
            capabilities: Capabilities::import(),
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the version (semver).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets the release status.
    pub fn with_status(mut self, status: ReleaseStatus) -> Self {
        self.status = status;
        self
    }

    /// Sets the priority.
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the documentation URL.
    pub fn with_documentation_url(mut self, url: impl Into<String>) -> Self {
        self.documentation_url = url.into();
        self
    }

    /// Sets the authentication methods.
    pub fn with_auth_methods(mut self, methods: impl IntoIterator<Item = AuthMethod>) -> Self {
        self.auth_methods = methods.into_iter().collect();
        self
    }

    /// Sets the rate-limit hint.
    pub fn with_rate_limit(mut self, hint: RateLimitHint) -> Self {
        self.rate_limit = Some(hint);
        self
    }

    /// Sets the default hosts.
    pub fn with_allowed_hosts<S: Into<String>>(
        mut self,
        hosts: impl IntoIterator<Item = S>,
    ) -> Self {
        self.allowed_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the capabilities.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Checks the metadata is well formed: a kebab-case id, a name, a semver
    /// version, an http(s) documentation URL and at least one auth method (unless
    /// the status is `Planned`).
    ///
    /// # Errors
    ///
    /// Every problem found, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if !is_kebab_case(&self.id) {
            errors.push(FieldError::new(
                "id",
                "kebab_case",
                format!(
                    "`{}` is not kebab-case (lowercase letters, digits and single dashes)",
                    self.id
                ),
            ));
        }
        if self.name.trim().is_empty() {
            errors.push(FieldError::new("name", "required", "required"));
        }
        if !is_semver(&self.version) {
            errors.push(FieldError::new(
                "version",
                "semver",
                format!("`{}` is not a semantic version like 1.2.3", self.version),
            ));
        }
        let planned = self.status == ReleaseStatus::Planned;
        let http_url = self.documentation_url.starts_with("https://")
            || self.documentation_url.starts_with("http://");
        if !planned && !http_url {
            errors.push(FieldError::new(
                "documentation_url",
                "url",
                "must be an http(s) URL",
            ));
        }
        if !planned && self.auth_methods.is_empty() {
            errors.push(FieldError::new(
                "auth_methods",
                "min_items",
                "needs at least one auth method",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// True for `github`, `azure-ad`, `jira-service-management`.
pub fn is_kebab_case(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--")
        && id.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// True for `1.2.3`, `0.1.0-beta.1`, `1.0.0+build.5` (SemVer 2.0 core rules).
pub fn is_semver(version: &str) -> bool {
    let (core, rest) = match version.find(['-', '+']) {
        Some(i) => (&version[..i], Some(&version[i..])),
        None => (version, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    if parts.len() != 3 || !parts.iter().all(numeric) {
        return false;
    }
    match rest {
        None => true,
        Some(r) => {
            let body = &r[1..];
            !body.is_empty()
                && body.split(['.', '+']).all(|id| {
                    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kebab_and_semver() {
        for ok in ["github", "azure-ad", "m365-teams"] {
            assert!(is_kebab_case(ok), "{ok}");
        }
        for bad in ["", "GitHub", "azure_ad", "-x", "x-", "a--b", "1abc"] {
            assert!(!is_kebab_case(bad), "{bad}");
        }
        for ok in ["1.0.0", "0.1.0-beta.1", "1.0.0+build.5", "10.20.30"] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.x"] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn validate_names_every_bad_field() {
        let meta = ConnectorMetadata::new("Bad_Id", "", "V", Category::Other).with_version("1.0");
        let errors = meta.validate().unwrap_err();
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["id", "name", "version", "documentation_url", "auth_methods"]
        );
    }

    #[test]
    fn serialises_with_catalog_names() {
        let meta = ConnectorMetadata::new("x", "X", "V", Category::IdentityAccess)
            .with_status(ReleaseStatus::Ga)
            .with_priority(Priority::P0)
            .with_auth_methods([AuthMethod::OAuth2ClientCredentials]);
        let v = serde_json::to_value(&meta).unwrap();
        assert_eq!(v["category"], json!("identity_access"));
        assert_eq!(v["status"], json!("GA"));
        assert_eq!(v["priority"], json!("P0"));
        assert_eq!(v["auth_methods"], json!(["oauth2_client_credentials"]));
        let back: ConnectorMetadata = serde_json::from_value(v).unwrap();
        assert_eq!(back, meta);
    }
}
