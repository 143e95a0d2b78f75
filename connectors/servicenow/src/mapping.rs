//! The CMDB mappings of seed 000 as derived structs: applications
//! (`cmdb_ci_appl` → `APPLICATION_COMPONENT`), servers (`cmdb_ci_server` → `NODE`)
//! and business services (`cmdb_ci_service` → `BUSINESS_SERVICE`).
//!
//! Each struct's descriptor ([`TypedMapping::entity_mapping`]) equals the JSON
//! mapping in `connector-core/tests/fixtures/mappings/servicenow_*.json` (a test
//! checks it), so discovery, schemas and configuration overrides see the same
//! mapping the typed conversion runs. The connector compiles a dynamic
//! [`Mapper`](connector_core::Mapper) from each descriptor (after the config's
//! overrides); callers who want typed values can run
//! [`TypedMapping::from_source`] on the raw rows themselves.
//!
//! ServiceNow sends every value as a string: `"4"` becomes `4` for integer fields,
//! `"2024-01-15 10:22:33"` (UTC) becomes a `DateTime<Utc>`, and reference fields
//! (`{"link": …, "value": sys_id}`, or a bare sys_id with
//! `sysparm_exclude_reference_link=true`) give their value.

use connector_core::chrono::{DateTime, Utc};
use connector_core::{EntityMapping, TypedMapping};

/// An application CI (`cmdb_ci_appl`) as an `APPLICATION_COMPONENT`.
///
/// `depends_on` and `used_by` are the seed's relationship fields. They are not
/// Table API columns: a stock instance keeps dependencies in `cmdb_rel_ci`, which
/// [`fetch_relationships`](connector_core::UniversalConnector::fetch_relationships)
/// reads. They are kept so custom columns of that name still map.
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "cmdb_ci_appl",
    target = "APPLICATION_COMPONENT",
    display_name = "Applications",
    description = "Import applications from ServiceNow CMDB",
    rename_all = "camelCase"
)]
pub struct Application {
    /// The CI's `sys_id`.
    #[field(external_id)]
    pub sys_id: String,
    /// `sys_created_on`.
    #[field(created_at, source = "sys_created_on")]
    pub created: Option<DateTime<Utc>>,
    /// `sys_updated_on`.
    #[field(updated_at, source = "sys_updated_on")]
    pub updated: Option<DateTime<Utc>>,
    /// The application's name (at least 2 characters).
    #[field(
        required(message = "Application name is required"),
        min_len(2, message = "Application name must be at least 2 characters")
    )]
    pub name: String,
    /// `short_description`.
    #[field(source = "short_description")]
    pub description: Option<String>,
    /// The owner's email, dot-walked as `owned_by.email`.
    #[field(
        source = r#""owned_by.email""#,
        transform = "extract_reference",
        description = "The owner's email, dot-walked (sysparm_fields=owned_by.email); ServiceNow returns it under the flat key `owned_by.email`, as a reference object with sysparm_display_value=all"
    )]
    pub owner_email: Option<String>,
    /// `operational_status` mapped to PRODUCTION / RETIRED / DEVELOPMENT / UNKNOWN.
    #[field(
        source = "operational_status",
        transform(lookup(
            "1" => "PRODUCTION", "2" => "RETIRED", "3" => "DEVELOPMENT",
            "4" => "PRODUCTION", "5" => "PRODUCTION", "6" => "RETIRED",
            _ => "UNKNOWN"
        ))
    )]
    pub status: String,
    /// `u_criticality` mapped to CRITICAL / HIGH / MEDIUM / LOW (default MEDIUM).
    #[field(
        source = "u_criticality",
        transform(lookup("1" => "CRITICAL", "2" => "HIGH", "3" => "MEDIUM", "4" => "LOW", default = "MEDIUM"))
    )]
    pub criticality: Option<String>,
    /// The cost center, dot-walked as `cost_cc.cost_center`.
    #[field(
        source = r#""cost_cc.cost_center""#,
        transform = "extract_reference",
        description = "The cost center, dot-walked (sysparm_fields=cost_cc.cost_center)"
    )]
    pub cost_center: Option<String>,
    /// `install_status` mapped to DEVELOPMENT / PRODUCTION / RETIRED (default PRODUCTION).
    #[field(
        source = "install_status",
        transform(lookup("1" => "DEVELOPMENT", "6" => "PRODUCTION", "7" => "RETIRED", _ => "PRODUCTION"))
    )]
    pub lifecycle: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `vendor` (a reference: its value).
    #[field(transform = "extract_reference")]
    pub vendor: Option<String>,
    /// Applications this one depends on.
    #[relationship(target = "APPLICATION_COMPONENT", kind = "DEPENDS_ON", strength = 75)]
    pub depends_on: Vec<String>,
    /// Business services this application serves.
    #[relationship(target = "BUSINESS_SERVICE", kind = "SERVES", strength = 80)]
    pub used_by: Vec<String>,
}

/// A server CI (`cmdb_ci_server` and its subclasses) as a `NODE`.
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "cmdb_ci_server",
    target = "NODE",
    display_name = "Servers",
    description = "Import servers and compute infrastructure",
    rename_all = "camelCase"
)]
pub struct Server {
    /// The CI's `sys_id`.
    #[field(external_id)]
    pub sys_id: String,
    /// `sys_created_on`.
    #[field(created_at, source = "sys_created_on")]
    pub created: Option<DateTime<Utc>>,
    /// `sys_updated_on`.
    #[field(updated_at, source = "sys_updated_on")]
    pub updated: Option<DateTime<Utc>>,
    /// The server's name.
    pub name: String,
    /// `short_description`.
    #[field(source = "short_description")]
    pub description: Option<String>,
    /// `ip_address`.
    pub ip_address: Option<String>,
    /// `os`.
    #[field(target = "operatingSystem")]
    pub os: Option<String>,
    /// `host_name`.
    #[field(source = "host_name")]
    pub hostname: Option<String>,
    /// `cpu_count` (a numeric string at the source).
    pub cpu_count: Option<i64>,
    /// `ram` in MB, converted to GB.
    #[field(
        source = "ram",
        transform(convert_unit(from = "mb", to = "gb")),
        description = "Memory; ServiceNow reports RAM in MB"
    )]
    pub memory_gb: Option<i64>,
    /// The node this server runs on (a custom `hosted_on` column, if any).
    #[relationship(target = "NODE", kind = "RUNS_ON")]
    pub hosted_on: Option<String>,
}

/// A business service CI (`cmdb_ci_service` and its descendants) as a
/// `BUSINESS_SERVICE`.
#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "cmdb_ci_service",
    target = "BUSINESS_SERVICE",
    display_name = "Business Services",
    description = "Import business services"
)]
pub struct BusinessService {
    /// The CI's `sys_id`.
    #[field(external_id)]
    pub sys_id: String,
    /// `sys_created_on`.
    #[field(created_at, source = "sys_created_on")]
    pub created: Option<DateTime<Utc>>,
    /// `sys_updated_on`.
    #[field(updated_at, source = "sys_updated_on")]
    pub updated: Option<DateTime<Utc>>,
    /// The service's name.
    pub name: String,
    /// `short_description`.
    #[field(source = "short_description")]
    pub description: Option<String>,
    /// `service_classification` (`Business Service`, `Technical Service`).
    #[field(source = "service_classification")]
    pub classification: Option<String>,
    /// `used_for` (`Production`, `Staging`, ...).
    #[field(source = "used_for")]
    pub purpose: Option<String>,
}

/// The three default mappings, in the order the connector lists its entities.
pub fn default_mappings() -> Vec<EntityMapping> {
    vec![
        Application::entity_mapping().clone(),
        Server::entity_mapping().clone(),
        BusinessService::entity_mapping().clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> EntityMapping {
        let path = format!(
            "{}/../../connector-core/tests/fixtures/mappings/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        EntityMapping::from_json(&json).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn descriptors_equal_the_seed_fixtures() {
        assert_eq!(
            *Application::entity_mapping(),
            fixture("servicenow_cmdb_ci_appl")
        );
        assert_eq!(
            *Server::entity_mapping(),
            fixture("servicenow_cmdb_ci_server")
        );
        assert_eq!(
            *BusinessService::entity_mapping(),
            fixture("servicenow_cmdb_ci_service")
        );
    }

    #[test]
    fn server_converts_strings_and_megabytes() {
        let row = connector_core::serde_json::json!({
            "sys_id": "a9c0c8d2c6112276018f7705562f9cb0", "name": "lnux100",
            "cpu_count": "4", "ram": "16384", "os": "Linux Red Hat",
            "sys_updated_on": "2024-01-15 10:22:33"
        });
        let server = Server::from_source(&row).expect("maps");
        assert_eq!(server.cpu_count, Some(4));
        assert_eq!(server.memory_gb, Some(16));
        assert_eq!(
            server.updated.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-01-15T10:22:33+00:00")
        );
    }
}
