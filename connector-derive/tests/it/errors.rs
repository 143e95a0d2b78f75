//! Runtime errors of the typed conversion: every problem of a record in one
//! validation error, each naming the source path and what was expected.

use connector_core::chrono::{DateTime, Utc};
use connector_core::mapping::TypedMapping;
use connector_core::serde_json::json;
use connector_core::{ErrorKind, FieldError};
use connector_derive::EntityMapping;

use crate::seed::{Application, Server};

#[derive(Debug, EntityMapping)]
#[entity(source = "thing", target = "THING")]
struct Thing {
    #[field(external_id)]
    id: String,
    count: u8,
    ratio: Option<f64>,
    active: bool,
    seen: Option<DateTime<Utc>>,
    tags: Option<Vec<String>>,
    #[relationship(target = "THING", kind = "USES")]
    uses: Option<String>,
}

#[test]
fn every_field_error_of_a_record_is_reported_at_once() {
    let err = Thing::from_source(&json!({
        "id": "t1",
        "count": "300",
        "ratio": "half",
        "seen": "yesterday",
        "tags": "a,b",
        "uses": ["a", "b"]
    }))
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(err.context().external_id.as_deref(), Some("t1"));
    assert_eq!(err.context().entity.as_deref(), Some("thing"));
    assert_eq!(
        err.field_errors(),
        [
            FieldError::new(
                "count",
                "type",
                "expected an unsigned integer that fits in u8, found 300"
            ),
            FieldError::new("ratio", "to_number", "expected a number, found \"half\""),
            FieldError::new("active", "required", "required field is missing"),
            FieldError::new(
                "seen",
                "parse_datetime",
                "expected a date and time, found \"yesterday\""
            ),
            FieldError::new("tags", "type", "expected an array, found \"a,b\""),
            FieldError::new(
                "uses",
                "relationship",
                "expected at most one id, found 2 (use a `Vec<String>` field)"
            ),
        ]
    );
    assert_eq!(
        err.message(),
        "record t1 breaks mapping thing: count: expected an unsigned integer \
         that fits in u8, found 300; ratio: expected a number, found \"half\"; active: required \
         field is missing; seen: expected a date and time, found \"yesterday\"; tags: expected \
         an array, found \"a,b\"; uses: expected at most one id, found 2 (use a `Vec<String>` \
         field)"
    );
}

#[test]
fn coercions_accept_what_vendors_send() {
    let thing = Thing::from_source(&json!({
        "id": 42,
        "count": "7",
        "ratio": "0.5",
        "active": "1",
        "seen": "2024-01-15 10:30:00",
        "tags": ["a", "b"],
        "uses": {"link": "l", "value": "t2"}
    }))
    .unwrap();
    assert_eq!(thing.id, "42");
    assert_eq!(thing.count, 7);
    assert_eq!(thing.ratio, Some(0.5));
    assert!(thing.active);
    assert_eq!(
        thing.seen.map(|t| t.to_rfc3339()).as_deref(),
        Some("2024-01-15T10:30:00+00:00")
    );
    assert_eq!(thing.tags, Some(vec!["a".to_owned(), "b".to_owned()]));
    assert_eq!(thing.uses.as_deref(), Some("t2"));
    for (active, expected) in [
        (json!("true"), true),
        (json!(0), false),
        (json!("no"), false),
    ] {
        let t = Thing::from_source(&json!({"id": "x", "count": 1, "active": active})).unwrap();
        assert_eq!(t.active, expected);
    }
    // Missing or null optional values are `None`.
    let t =
        Thing::from_source(&json!({"id": "x", "count": 1, "active": true, "ratio": null})).unwrap();
    assert_eq!((t.ratio, t.seen, t.tags, t.uses), (None, None, None, None));
}

#[test]
fn a_missing_external_id_and_required_fields_are_named_by_source_path() {
    let err =
        Application::from_source(&json!({"operational_status": "1", "name": "P"})).unwrap_err();
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
    let err =
        Server::from_source(&json!({"sys_id": "s", "cpu_count": "four", "ram": ""})).unwrap_err();
    assert_eq!(
        err.field_errors(),
        [
            FieldError::new("name", "required", "required field is missing"),
            FieldError::new(
                "cpu_count",
                "to_number",
                "expected a number, found \"four\""
            ),
        ]
    );
    // ServiceNow sends "" for an unset number: absent, not a type error.
    let server = Server::from_source(&json!({"sys_id": "s", "name": "db1", "ram": ""})).unwrap();
    assert_eq!(server.memory_gb, None);
}

#[test]
fn map_source_names_the_connector() {
    let err = Server::map_source(&json!({"sys_id": "s"}), "servicenow").unwrap_err();
    assert_eq!(err.context().connector.as_deref(), Some("servicenow"));
    let record = Server::map_source(&json!({"sys_id": "s", "name": "db"}), "servicenow").unwrap();
    assert_eq!(record.source_connector, "servicenow");
    assert_eq!(record.entity_type, "NODE");
}
