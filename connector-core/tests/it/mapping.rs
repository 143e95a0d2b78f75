//! The mapping engine against the seed mappings in `tests/fixtures/mappings/`, through
//! the public API only.

use chrono::{TimeZone, Utc};
use connector_core::mapping::{
    EntityMapping, FieldMapping, FieldPath, FilterOp, FilterRule, Mapper, MappingOverride, Rule,
    Transform, TransformRegistry, ValidationRule,
};
use connector_core::{ErrorKind, FieldError, Record, Relationship, RelationshipKind};
use serde_json::{Value, json};

const FIXTURES: [&str; 5] = [
    "servicenow_cmdb_ci_appl",
    "servicenow_cmdb_ci_server",
    "servicenow_cmdb_ci_service",
    "azure_ad_user",
    "azure_ad_group",
];

fn fixture_text(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/mappings/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn fixture(name: &str) -> EntityMapping {
    EntityMapping::from_json(&fixture_text(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[path = "../support/map_checked.rs"]
mod map_checked;
use connector_core::ConnectorError;
use map_checked::MapChecked;

fn mapper(name: &str) -> Mapper {
    Mapper::new(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A `cmdb_ci_appl` row as the Table API returns it with
/// `sysparm_fields=...,owned_by.email,cost_cc.cost_center` and no display values:
/// every scalar a string, references as `{"link", "value"}`, dot-walked fields under
/// flat dotted keys, unset fields as "".
fn servicenow_app() -> Value {
    json!({
        "sys_id": "0a5b6f1bdb3e2010a4b0f4d8f4961901",
        "sys_class_name": "cmdb_ci_appl",
        "name": "Payroll",
        "short_description": "Monthly payroll processing",
        "owned_by": {
            "link": "https://acme.service-now.com/api/now/table/sys_user/62826bf03710200044e0bfc8bcbe5df1",
            "value": "62826bf03710200044e0bfc8bcbe5df1"
        },
        "owned_by.email": "abel.tuter@acme.example",
        "operational_status": "1",
        "u_criticality": "2",
        "cost_cc.cost_center": "CC-4100",
        "install_status": "6",
        "version": "12.4.1",
        "vendor": {
            "link": "https://acme.service-now.com/api/now/table/core_company/b7e7d7d8c0a8016900a5d7f291acce5c",
            "value": "b7e7d7d8c0a8016900a5d7f291acce5c"
        },
        "depends_on": [
            {
                "link": "https://acme.service-now.com/api/now/table/cmdb_ci_appl/3a27d8c7c0a8000b00c5dd5b7c10a1b2",
                "value": "3a27d8c7c0a8000b00c5dd5b7c10a1b2"
            },
            {
                "link": "https://acme.service-now.com/api/now/table/cmdb_ci_appl/df2a7e1cdb3e2010a4b0f4d8f49619aa",
                "value": "df2a7e1cdb3e2010a4b0f4d8f49619aa"
            }
        ],
        "used_by": {
            "link": "https://acme.service-now.com/api/now/table/cmdb_ci_service/27d32778c0a8000b00db970eeaa60f16",
            "value": "27d32778c0a8000b00db970eeaa60f16"
        },
        "sys_created_on": "2021-03-04 08:15:00",
        "sys_updated_on": "2024-01-15 10:30:45",
        "sys_updated_by": "admin"
    })
}

#[test]
fn every_fixture_loads_validates_and_compiles() {
    for name in FIXTURES {
        let mapping = fixture(name);
        assert!(!mapping.fields.is_empty(), "{name}");
        mapper(name);
    }
}

#[test]
fn cmdb_ci_appl_maps_a_servicenow_record_to_the_expected_entity() {
    const APP: &str = "0a5b6f1bdb3e2010a4b0f4d8f4961901";
    let record = mapper("servicenow_cmdb_ci_appl")
        .map_checked(&servicenow_app(), "servicenow")
        .expect("valid record")
        .expect("no filters");

    let mut expected = Record::new("APPLICATION_COMPONENT", APP, "servicenow")
        .with_field("name", json!("Payroll"))
        .with_field("description", json!("Monthly payroll processing"))
        .with_field("ownerEmail", json!("abel.tuter@acme.example"))
        .with_field("status", json!("PRODUCTION"))
        .with_field("criticality", json!("HIGH"))
        .with_field("costCenter", json!("CC-4100"))
        .with_field("lifecycle", json!("PRODUCTION"))
        .with_field("version", json!("12.4.1"))
        .with_field("vendor", json!("b7e7d7d8c0a8016900a5d7f291acce5c"))
        .with_created_at(Utc.with_ymd_and_hms(2021, 3, 4, 8, 15, 0).unwrap())
        .with_updated_at(Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 45).unwrap());
    for (to_type, to_id, kind, strength) in [
        (
            "APPLICATION_COMPONENT",
            "3a27d8c7c0a8000b00c5dd5b7c10a1b2",
            RelationshipKind::DependsOn,
            75,
        ),
        (
            "APPLICATION_COMPONENT",
            "df2a7e1cdb3e2010a4b0f4d8f49619aa",
            RelationshipKind::DependsOn,
            75,
        ),
        (
            "BUSINESS_SERVICE",
            "27d32778c0a8000b00db970eeaa60f16",
            RelationshipKind::Serves,
            80,
        ),
    ] {
        expected = expected.with_relationship(
            Relationship::new(("APPLICATION_COMPONENT", APP), kind, (to_type, to_id))
                .with_strength(strength),
        );
    }
    assert_eq!(record, expected);
}

#[test]
fn cmdb_ci_appl_lookups_fall_back_to_their_defaults() {
    let mut app = servicenow_app();
    app["operational_status"] = json!("9");
    app["u_criticality"] = json!("");
    app["install_status"] = json!("7");
    let record = mapper("servicenow_cmdb_ci_appl")
        .map_checked(&app, "servicenow")
        .unwrap()
        .unwrap();
    assert_eq!(record.field("status"), Some(&json!("UNKNOWN")));
    assert_eq!(record.field("criticality"), Some(&json!("MEDIUM")));
    assert_eq!(record.field("lifecycle"), Some(&json!("RETIRED")));
}

#[test]
fn server_mapping_converts_megabytes_to_gigabytes() {
    let server = json!({
        "sys_id": "d0d0e5d1db3e2010a4b0f4d8f4961922",
        "name": "db01",
        "short_description": "",
        "ip_address": "10.0.4.17",
        "os": "Linux Red Hat",
        "host_name": "db01.acme.example",
        "cpu_count": "8",
        "ram": "16384",
        "hosted_on": {
            "link": "https://acme.service-now.com/api/now/table/cmdb_ci_server/9e1b",
            "value": "9e1b"
        },
        "sys_updated_on": "2024-02-01 00:00:00"
    });
    let record = mapper("servicenow_cmdb_ci_server")
        .map_checked(&server, "servicenow")
        .unwrap()
        .unwrap();
    assert_eq!(record.entity_type, "NODE");
    assert_eq!(record.field("memoryGb"), Some(&json!(16)));
    assert_eq!(record.field("cpuCount"), Some(&json!(8)));
    assert_eq!(record.field("description"), Some(&json!("")));
    assert_eq!(
        record.relationships,
        [Relationship::new(
            ("NODE", "d0d0e5d1db3e2010a4b0f4d8f4961922"),
            RelationshipKind::RunsOn,
            ("NODE", "9e1b")
        )]
    );
}

#[test]
fn azure_ad_user_and_group() {
    let user = json!({
        "@odata.type": "#microsoft.graph.user",
        "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
        "userPrincipalName": "AdeleV@contoso.com",
        "displayName": "Adele Vance",
        "givenName": "Adele",
        "surname": "Vance",
        "jobTitle": "Retail Manager",
        "department": "Retail",
        "officeLocation": "18/2111",
        "mobilePhone": null,
        "createdDateTime": "2023-08-01T12:00:00Z",
        "manager": {
            "@odata.type": "#microsoft.graph.user",
            "id": "5bde3e51-d13b-4db1-9948-fe4b109d11a7",
            "displayName": "Miriam Graham"
        }
    });
    let record = mapper("azure_ad_user")
        .map_checked(&user, "azure-ad")
        .unwrap()
        .unwrap();
    assert_eq!(record.external_id, "87d349ed-44d7-43e1-9a83-5f2406dee5bd");
    assert_eq!(record.field("email"), Some(&json!("AdeleV@contoso.com")));
    assert_eq!(record.field("phone"), None, "null is omitted");
    assert_eq!(
        record.created_at,
        Some(Utc.with_ymd_and_hms(2023, 8, 1, 12, 0, 0).unwrap())
    );
    assert_eq!(record.relationships.len(), 1);
    assert_eq!(record.relationships[0].kind, RelationshipKind::Manages);
    assert_eq!(
        record.relationships[0].to_id,
        "5bde3e51-d13b-4db1-9948-fe4b109d11a7"
    );

    let group = json!({"id": "02bd9fd6", "displayName": "Sales", "description": null, "mail": "sales@contoso.com"});
    let record = mapper("azure_ad_group")
        .map_checked(&group, "azure-ad")
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_value(&record.fields).unwrap(),
        json!({"name": "Sales", "email": "sales@contoso.com"})
    );
}

#[test]
fn every_problem_of_a_record_is_reported_in_one_error() {
    let mapper = mapper("servicenow_cmdb_ci_appl");

    let mut app = servicenow_app();
    let map = app.as_object_mut().unwrap();
    map.remove("name");
    map.remove("operational_status");
    map.insert("sys_updated_on".into(), json!("last tuesday"));
    let err = mapper.map_checked(&app, "servicenow").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(
        err.field_errors(),
        [
            FieldError::new("name", "required", "required field is missing"),
            FieldError::new(
                "operational_status",
                "required",
                "required field is missing"
            ),
            FieldError::new(
                "sys_updated_on",
                "datetime",
                "expected a date and time, found \"last tuesday\""
            ),
        ]
    );
    assert_eq!(err.context().entity.as_deref(), Some("cmdb_ci_appl"));
    assert_eq!(
        err.context().external_id.as_deref(),
        Some("0a5b6f1bdb3e2010a4b0f4d8f4961901")
    );
    assert_eq!(err.context().connector.as_deref(), Some("servicenow"));
    assert!(err.to_string().starts_with(
        "invalid record: record 0a5b6f1bdb3e2010a4b0f4d8f4961901 breaks mapping cmdb_ci_appl: \
         name: required field is missing; operational_status: required field is missing; \
         sys_updated_on: expected a date and time"
    ));

    let mut app = servicenow_app();
    app["name"] = json!("P");
    app.as_object_mut().unwrap().remove("sys_id");
    let err = mapper.map_checked(&app, "servicenow").unwrap_err();
    assert_eq!(
        err.field_errors(),
        [
            FieldError::new("sys_id", "required", "external id is missing"),
            FieldError::new(
                "name",
                "min_length",
                "Application name must be at least 2 characters"
            ),
        ]
    );
    assert_eq!(err.context().external_id, None);
}

#[test]
fn filters_skip_records_without_error() {
    let mut mapping = fixture("servicenow_cmdb_ci_appl");
    mapping.filters.push(FilterRule {
        field: FieldPath::parse("install_status").unwrap(),
        op: FilterOp::NotIn,
        value: Some(json!([7, 8])),
    });
    let mapper = Mapper::new(&mapping).unwrap();
    assert!(
        mapper
            .map_checked(&servicenow_app(), "servicenow")
            .unwrap()
            .is_some()
    );
    let mut retired = servicenow_app();
    retired["install_status"] = json!("7");
    retired.as_object_mut().unwrap().remove("name"); // would be invalid, but is skipped first
    assert_eq!(mapper.map_checked(&retired, "servicenow").unwrap(), None);
}

#[test]
fn overrides_add_replace_and_remove() {
    let base = fixture("servicenow_cmdb_ci_appl");
    let overrides: Vec<MappingOverride> = serde_json::from_value(json!([
        {
            "entity": "cmdb_ci_appl",
            "remove": ["version"],
            "replace": [{"source": "u_criticality", "target": "criticality", "transform": "to_number"}],
            "add": [{"source": "u_region", "target": "region", "default": "EMEA"}]
        },
        {"entity": "cmdb_ci_server", "remove": ["nope"]}
    ]))
    .unwrap();
    let changed = base.apply_overrides(&overrides).unwrap();
    let targets: Vec<&str> = changed.fields.iter().map(|f| f.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "name",
            "description",
            "ownerEmail",
            "status",
            "criticality",
            "costCenter",
            "lifecycle",
            "vendor",
            "region"
        ]
    );
    let record = Mapper::new(&changed)
        .unwrap()
        .map_checked(&servicenow_app(), "servicenow")
        .unwrap()
        .unwrap();
    assert_eq!(record.field("criticality"), Some(&json!(2)));
    assert_eq!(record.field("region"), Some(&json!("EMEA")));
    assert_eq!(record.field("version"), None);

    let err = |o: MappingOverride| base.apply_overrides(&[o]).unwrap_err();
    let mut o = MappingOverride::new("cmdb_ci_appl");
    o.replace
        .push(FieldMapping::new(FieldPath::parse("x").unwrap(), "colour"));
    let e = err(o);
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(
        e.message(),
        "mapping override for `cmdb_ci_appl`: replaces `colour`, which the mapping does not have"
    );
    let mut o = MappingOverride::new("cmdb_ci_appl");
    o.add
        .push(FieldMapping::new(FieldPath::parse("x").unwrap(), "name"));
    assert_eq!(
        err(o).message(),
        "mapping override for `cmdb_ci_appl`: adds `name`, which the mapping has already (use `replace`)"
    );
    let mut o = MappingOverride::new("cmdb_ci_appl");
    o.remove.push("colour".into());
    assert_eq!(
        err(o).message(),
        "mapping override for `cmdb_ci_appl`: removes `colour`, which the mapping does not have"
    );
    // Removing a target drops its validation rules with it.
    let mut o = MappingOverride::new("cmdb_ci_appl");
    o.remove.push("name".into());
    assert!(base.apply_overrides(&[o]).unwrap().validation.is_empty());
}

#[test]
fn json_round_trip_keeps_every_fixture() {
    for name in FIXTURES {
        let mapping = fixture(name);
        let text = mapping.to_json().unwrap();
        assert_eq!(EntityMapping::from_json(&text).unwrap(), mapping, "{name}");
        // The files are written in the canonical shape: serialising reproduces them.
        let file: Value = serde_json::from_str(&fixture_text(name)).unwrap();
        assert_eq!(serde_json::to_value(&mapping).unwrap(), file, "{name}");
    }
}

#[test]
fn load_errors_are_config_errors_naming_the_problem() {
    let err = EntityMapping::from_json(
        r#"{"source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [{"source": "owner..email", "target": "email"}]}"#,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(
        err.message(),
        "invalid entity mapping: invalid field path `owner..email`: expected key at position 6, \
         found `.` at line 2 column 48"
    );
    let err = EntityMapping::from_json(
        r#"{"source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [{"source": "a", "target": "a", "transfrom": "lower"}]}"#,
    )
    .unwrap_err();
    assert!(
        err.message()
            .starts_with("invalid entity mapping: unknown field `transfrom`"),
        "{err}"
    );
    let err = EntityMapping::from_json(
        r#"{"source_type": "t", "target_type": "T", "display_name": "T", "external_id": "id",
            "fields": [{"source": "a", "target": "a"}],
            "validation": [{"field": "b", "rule": "required"}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.message(),
        "entity mapping `t`: validation rule `required` names `b`, which no field mapping targets"
    );
}

#[test]
fn custom_transforms_and_rules_come_from_the_registry() {
    let mapping = EntityMapping::new("user", "USER", "Users", FieldPath::parse("id").unwrap())
        .with_field(
            FieldMapping::new(FieldPath::parse("mail").unwrap(), "domain").with_transform(
                Transform::Custom {
                    name: "domain".into(),
                    args: Value::Null,
                },
            ),
        );
    let mut mapping = mapping;
    mapping.validation.push(
        ValidationRule::new(
            "domain",
            Rule::Custom {
                name: "corporate".into(),
            },
        )
        .with_message("must be a corporate domain"),
    );
    assert_eq!(Mapper::new(&mapping).unwrap_err().kind(), ErrorKind::Config);

    let registry = TransformRegistry::new()
        .with_transform("domain", |v, _| {
            v.as_str()
                .and_then(|s| s.split_once('@'))
                .map(|(_, d)| json!(d))
                .ok_or_else(|| "expected an email address".to_owned())
        })
        .with_rule("corporate", |v| {
            if v == "contoso.com" {
                Ok(())
            } else {
                Err("not corporate".into())
            }
        });
    let mapper = Mapper::with_registry(&mapping, &registry).unwrap();
    let record = mapper
        .map_checked(&json!({"id": "1", "mail": "a@contoso.com"}), "c")
        .unwrap()
        .unwrap();
    assert_eq!(record.field("domain"), Some(&json!("contoso.com")));
    let err = mapper
        .map_checked(&json!({"id": "2", "mail": "a@gmail.com"}), "c")
        .unwrap_err();
    assert_eq!(
        err.field_errors(),
        [FieldError::new(
            "domain",
            "corporate",
            "must be a corporate domain"
        )]
    );
    let err = mapper
        .map_checked(&json!({"id": "3", "mail": "nobody"}), "c")
        .unwrap_err();
    assert_eq!(
        err.field_errors(),
        [FieldError::new(
            "mail",
            "domain",
            "expected an email address"
        )]
    );
}

#[test]
fn schema_describes_the_mapped_entity() {
    let schema = fixture("servicenow_cmdb_ci_appl").schema();
    assert_eq!(schema.target_type, "APPLICATION_COMPONENT");
    assert_eq!(schema.fields.len(), 9);
    assert_eq!(schema.fields[2].name, "ownerEmail");
    assert_eq!(schema.fields[2].source, "\"owned_by.email\"");
    let required: Vec<&str> = schema
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(required, ["name", "status"]);
    let json = serde_json::to_value(&schema).unwrap();
    assert_eq!(
        json["relationships"],
        json!([
            {"target_type": "APPLICATION_COMPONENT", "kind": "DEPENDS_ON"},
            {"target_type": "BUSINESS_SERVICE", "kind": "SERVES"}
        ])
    );
}

#[test]
fn raw_is_kept_on_request() {
    let mapper = mapper("azure_ad_group").with_raw(true);
    let group = json!({"id": "g1", "displayName": "Ops", "visibility": "Private"});
    let record = mapper.map_checked(&group, "azure-ad").unwrap().unwrap();
    assert_eq!(record.raw, Some(group));
}

#[cfg(feature = "yaml")]
#[test]
fn yaml_loads_the_same_mapping_as_json() {
    let yaml = r#"
source_type: cmdb_ci_server
target_type: NODE
display_name: Servers
description: Import servers and compute infrastructure
external_id: sys_id
created_at: sys_created_on
updated_at: sys_updated_on
fields:
  - { source: name, target: name, required: true }
  - { source: short_description, target: description }
  - { source: ip_address, target: ipAddress }
  - { source: os, target: operatingSystem }
  - { source: host_name, target: hostname }
  - { source: cpu_count, target: cpuCount, transform: to_number }
  - source: ram
    target: memoryGb
    transform: { type: convert_unit, from: mb, to: gb }
    description: Memory; ServiceNow reports RAM in MB
relationships:
  - { source_field: hosted_on, target_type: NODE, kind: RUNS_ON }
"#;
    let mapping = EntityMapping::from_yaml(yaml).unwrap();
    assert_eq!(mapping, fixture("servicenow_cmdb_ci_server"));

    let lookup = r#"
source_type: t
target_type: T
display_name: T
external_id: '"@odata.id"'
fields:
  - source: status
    target: status
    transform: { type: lookup, table: { "1": PRODUCTION }, default: UNKNOWN }
"#;
    let mapping = EntityMapping::from_yaml(lookup).unwrap();
    let record = Mapper::new(&mapping)
        .unwrap()
        .map_checked(&json!({"@odata.id": "x", "status": 1}), "c")
        .unwrap()
        .unwrap();
    assert_eq!(record.external_id, "x");
    assert_eq!(record.field("status"), Some(&json!("PRODUCTION")));

    let err = EntityMapping::from_yaml("source_type: t\ntarget_type: T\n").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("display_name"), "{err}");
}
