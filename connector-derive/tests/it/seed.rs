//! The seed mappings (ServiceNow applications, servers and business services; Azure
//! AD users and groups) as derived structs. Their descriptors must equal the JSON
//! mappings in connector-core's fixtures.

use connector_core::chrono::{DateTime, Utc};
use connector_core::mapping::{EntityMapping, TypedMapping};
use connector_derive::EntityMapping;

#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "cmdb_ci_appl",
    target = "APPLICATION_COMPONENT",
    display_name = "Applications",
    description = "Import applications from ServiceNow CMDB",
    rename_all = "camelCase"
)]
pub(crate) struct Application {
    #[field(external_id)]
    pub(crate) sys_id: String,
    #[field(created_at, source = "sys_created_on")]
    pub(crate) created: Option<DateTime<Utc>>,
    #[field(updated_at, source = "sys_updated_on")]
    pub(crate) updated: Option<DateTime<Utc>>,
    #[field(
        required(message = "Application name is required"),
        min_len(2, message = "Application name must be at least 2 characters")
    )]
    pub(crate) name: String,
    #[field(source = "short_description")]
    pub(crate) description: Option<String>,
    #[field(
        source = r#""owned_by.email""#,
        transform = "extract_reference",
        description = "The owner's email, dot-walked (sysparm_fields=owned_by.email); ServiceNow returns it under the flat key `owned_by.email`, as a reference object with sysparm_display_value=all"
    )]
    pub(crate) owner_email: Option<String>,
    #[field(
        source = "operational_status",
        transform(lookup(
            "1" => "PRODUCTION", "2" => "RETIRED", "3" => "DEVELOPMENT",
            "4" => "PRODUCTION", "5" => "PRODUCTION", "6" => "RETIRED",
            _ => "UNKNOWN"
        ))
    )]
    pub(crate) status: String,
    #[field(
        source = "u_criticality",
        transform(lookup("1" => "CRITICAL", "2" => "HIGH", "3" => "MEDIUM", "4" => "LOW", default = "MEDIUM"))
    )]
    pub(crate) criticality: Option<String>,
    #[field(
        source = r#""cost_cc.cost_center""#,
        transform = "extract_reference",
        description = "The cost center, dot-walked (sysparm_fields=cost_cc.cost_center)"
    )]
    pub(crate) cost_center: Option<String>,
    #[field(
        source = "install_status",
        transform(lookup("1" => "DEVELOPMENT", "6" => "PRODUCTION", "7" => "RETIRED", _ => "PRODUCTION"))
    )]
    pub(crate) lifecycle: Option<String>,
    pub(crate) version: Option<String>,
    #[field(transform = "extract_reference")]
    pub(crate) vendor: Option<String>,
    #[relationship(target = "APPLICATION_COMPONENT", kind = "DEPENDS_ON", strength = 75)]
    pub(crate) depends_on: Vec<String>,
    #[relationship(target = "BUSINESS_SERVICE", kind = "SERVES", strength = 80)]
    pub(crate) used_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "cmdb_ci_server",
    target = "NODE",
    display_name = "Servers",
    description = "Import servers and compute infrastructure",
    rename_all = "camelCase"
)]
pub(crate) struct Server {
    #[field(external_id)]
    pub(crate) sys_id: String,
    #[field(created_at, source = "sys_created_on")]
    pub(crate) created: Option<DateTime<Utc>>,
    #[field(updated_at, source = "sys_updated_on")]
    pub(crate) updated: Option<DateTime<Utc>>,
    pub(crate) name: String,
    #[field(source = "short_description")]
    pub(crate) description: Option<String>,
    pub(crate) ip_address: Option<String>,
    #[field(target = "operatingSystem")]
    pub(crate) os: Option<String>,
    #[field(source = "host_name")]
    pub(crate) hostname: Option<String>,
    /// `to_number` is implied by the integer type.
    pub(crate) cpu_count: Option<i64>,
    #[field(
        source = "ram",
        transform(convert_unit(from = "mb", to = "gb")),
        description = "Memory; ServiceNow reports RAM in MB"
    )]
    pub(crate) memory_gb: Option<i64>,
    #[relationship(target = "NODE", kind = "RUNS_ON")]
    pub(crate) hosted_on: Option<String>,
}

#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "cmdb_ci_service",
    target = "BUSINESS_SERVICE",
    display_name = "Business Services",
    description = "Import business services"
)]
pub(crate) struct BusinessService {
    #[field(external_id)]
    pub(crate) sys_id: String,
    #[field(created_at, source = "sys_created_on")]
    pub(crate) created: Option<DateTime<Utc>>,
    #[field(updated_at, source = "sys_updated_on")]
    pub(crate) updated: Option<DateTime<Utc>>,
    pub(crate) name: String,
    #[field(source = "short_description")]
    pub(crate) description: Option<String>,
    #[field(source = "service_classification")]
    pub(crate) classification: Option<String>,
    #[field(source = "used_for")]
    pub(crate) purpose: Option<String>,
}

#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "user",
    target = "USER",
    display_name = "Users",
    description = "Import Azure AD users"
)]
pub(crate) struct AzureUser {
    #[field(external_id)]
    pub(crate) id: String,
    #[field(created_at, source = "createdDateTime")]
    pub(crate) created: Option<DateTime<Utc>>,
    #[field(source = "userPrincipalName")]
    pub(crate) email: String,
    #[field(source = "displayName")]
    pub(crate) name: String,
    #[field(source = "givenName", target = "firstName")]
    pub(crate) first_name: Option<String>,
    #[field(source = "surname", target = "lastName")]
    pub(crate) last_name: Option<String>,
    #[field(source = "jobTitle")]
    pub(crate) title: Option<String>,
    pub(crate) department: Option<String>,
    #[field(source = "officeLocation")]
    pub(crate) location: Option<String>,
    #[field(source = "mobilePhone")]
    pub(crate) phone: Option<String>,
    #[relationship(source = "manager.id", target = "USER", kind = "MANAGES")]
    pub(crate) manager: Option<String>,
}

#[derive(Debug, Clone, PartialEq, EntityMapping)]
#[entity(
    source = "group",
    target = "TEAM",
    display_name = "Groups",
    description = "Import Azure AD groups as teams"
)]
pub(crate) struct AzureGroup {
    #[field(external_id)]
    pub(crate) id: String,
    #[field(created_at, source = "createdDateTime")]
    pub(crate) created: Option<DateTime<Utc>>,
    #[field(source = "displayName")]
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    #[field(source = "mail")]
    pub(crate) email: Option<String>,
}

fn fixture(name: &str) -> EntityMapping {
    let path = format!(
        "{}/../connector-core/tests/fixtures/mappings/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    EntityMapping::from_json(&json).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn assert_descriptor<T: TypedMapping>(name: &str) {
    let derived = T::entity_mapping();
    let expected = fixture(name);
    assert_eq!(
        *derived,
        expected,
        "descriptor of {name} differs; derived:\n{}",
        derived.to_json().unwrap_or_default()
    );
    // And it round-trips through the file format.
    let json = derived.to_json().unwrap();
    assert_eq!(EntityMapping::from_json(&json).unwrap(), *derived);
}

#[test]
fn servicenow_application_descriptor_equals_the_fixture() {
    assert_descriptor::<Application>("servicenow_cmdb_ci_appl");
}

#[test]
fn servicenow_server_descriptor_equals_the_fixture() {
    assert_descriptor::<Server>("servicenow_cmdb_ci_server");
}

#[test]
fn servicenow_business_service_descriptor_equals_the_fixture() {
    assert_descriptor::<BusinessService>("servicenow_cmdb_ci_service");
}

#[test]
fn azure_ad_user_descriptor_equals_the_fixture() {
    assert_descriptor::<AzureUser>("azure_ad_user");
}

#[test]
fn azure_ad_group_descriptor_equals_the_fixture() {
    assert_descriptor::<AzureGroup>("azure_ad_group");
}

#[test]
fn descriptor_is_built_once() {
    assert!(std::ptr::eq(
        Application::entity_mapping(),
        Application::entity_mapping()
    ));
}

#[test]
fn servicenow_application_maps_typed() {
    let source = connector_core::serde_json::json!({
        "sys_id": "a1b2",
        "name": "Payroll",
        "short_description": "Pays people",
        "owned_by.email": {"link": "https://acme.service-now.com/api/now/table/sys_user/u1", "value": "ann@acme.com"},
        "operational_status": "1",
        "u_criticality": "9",
        "install_status": 7,
        "version": "2.1",
        "vendor": {"link": "l", "value": "v1"},
        "sys_created_on": "2023-05-01 08:00:00",
        "sys_updated_on": "2024-01-15T10:30:00Z",
        "depends_on": [{"link": "l", "value": "c3d4"}, "e5f6", ""],
        "used_by": ""
    });
    let app = Application::from_source(&source).unwrap();
    assert_eq!(app.sys_id, "a1b2");
    assert_eq!(app.owner_email.as_deref(), Some("ann@acme.com"));
    assert_eq!(app.status, "PRODUCTION");
    assert_eq!(app.criticality.as_deref(), Some("MEDIUM"));
    assert_eq!(app.lifecycle.as_deref(), Some("RETIRED"));
    assert_eq!(app.cost_center, None);
    assert_eq!(app.depends_on, ["c3d4", "e5f6"]);
    assert!(app.used_by.is_empty());
    assert_eq!(
        app.created.map(|t| t.to_rfc3339()).as_deref(),
        Some("2023-05-01T08:00:00+00:00")
    );
    let record = app.into_record("servicenow").unwrap();
    // Both relationships start at the record, sharing one copy of its id.
    let [first, second] = &record.relationships[..] else {
        panic!("two relationships, found {:?}", record.relationships);
    };
    assert_eq!(&*first.from_id, "a1b2");
    assert!(std::sync::Arc::ptr_eq(&first.from_id, &second.from_id));
    let dynamic = Application::mapper()
        .unwrap()
        .map(&source, "servicenow")
        .unwrap();
    assert_eq!(Some(record), dynamic);
}
