//! The typed conversion and the dynamic `Mapper` produce the same record (or the
//! same errors) for the same random source object.
//!
//! The generators send what vendors send for each field: strings (empty ones
//! included), numeric strings and numbers for numbers, ServiceNow reference objects
//! (with and without `value`), both timestamp styles, ids, lists of ids, `null`s,
//! missing keys and garbage. Not generated, because the typed struct is stricter
//! than its descriptor by design: objects or numbers in plain `String` fields and
//! fractional numbers in integer fields (the typed conversion rejects them, the
//! dynamic engine copies them), and several ids in an `Option<String>`
//! relationship.

use std::cell::Cell;

use connector_core::mapping::TypedMapping;
use connector_core::serde_json::{Map, Value, json};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::seed::{Application, AzureGroup, AzureUser, BusinessService, Server};

type Field = (&'static str, BoxedStrategy<Option<Value>>);

fn maybe(s: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        6 => s.prop_map(Some),
    ]
    .boxed()
}

fn text() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => "[a-zA-Z0-9 ]{1,8}".prop_map(Value::from),
        // Long enough for the owned paths to move rather than copy.
        2 => "[a-zA-Z0-9 ]{24,40}".prop_map(Value::from),
        1 => Just(Value::from("")),
    ]
    .boxed()
}

fn required_text() -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        12 => "[a-zA-Z0-9]{1,8}".prop_map(|s| Some(Value::from(s))),
        4 => "[a-zA-Z0-9]{24,40}".prop_map(|s| Some(Value::from(s))),
        1 => Just(Some(Value::from(""))),
    ]
    .boxed()
}

fn reference() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => text().prop_map(|v| json!({"link": "https://acme.service-now.com/x", "value": v})),
        2 => text(),
        1 => Just(json!({"link": "https://acme.service-now.com/x"})),
    ]
    .boxed()
}

fn code() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => "[0-9]".prop_map(Value::from),
        2 => (0..10i64).prop_map(Value::from),
        1 => text(),
        1 => Just(json!({"value": "1"})),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => (-100_000i64..1_000_000).prop_map(Value::from),
        4 => "-?[0-9]{1,7}".prop_map(Value::from),
        1 => (0..100_000u32).prop_map(|n| Value::from(format!(" {n} "))),
        1 => Just(Value::from("four")),
        1 => Just(Value::from("")),
        1 => Just(json!(true)),
    ]
    .boxed()
}

fn datetime() -> BoxedStrategy<Value> {
    let parts = (
        2000..2030i32,
        1..13u32,
        1..29u32,
        0..24u32,
        0..60u32,
        0..60u32,
    );
    prop_oneof![
        3 => parts.clone().prop_map(|(y, mo, d, h, mi, s)| {
            Value::from(format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"))
        }),
        3 => parts.prop_map(|(y, mo, d, h, mi, s)| {
            Value::from(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"))
        }),
        1 => Just(Value::from("")),
        1 => Just(Value::from("soon")),
        1 => Just(json!(1_700_000_000)),
    ]
    .boxed()
}

fn id() -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        12 => "[a-f0-9]{1,12}".prop_map(|s| Some(Value::from(s))),
        2 => (0..10_000i64).prop_map(|n| Some(Value::from(n))),
        1 => Just(None),
        1 => Just(Some(Value::from(""))),
        1 => Just(Some(json!({"x": 1}))),
    ]
    .boxed()
}

fn one_id() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => text(),
        2 => text().prop_map(|v| json!({"link": "l", "value": v})),
        1 => (0..1000i64).prop_map(|n| json!({"id": n})),
        1 => Just(json!({"link": "l"})),
        1 => Just(json!(true)),
    ]
    .boxed()
}

fn many_ids() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => one_id(),
        3 => prop::collection::vec(one_id(), 0..4).prop_map(Value::Array),
    ]
    .boxed()
}

fn object(fields: Vec<Field>) -> impl Strategy<Value = Value> {
    let (keys, values): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
    values.prop_map(move |values| {
        let mut map = Map::new();
        for (key, value) in keys.iter().zip(values) {
            if let Some(value) = value {
                match key.split_once('/') {
                    // `manager/id` puts the value at `manager.id`.
                    Some((outer, inner)) => {
                        map.insert(outer.to_owned(), json!({ inner: value }));
                    }
                    None => {
                        map.insert((*key).to_owned(), value);
                    }
                }
            }
        }
        Value::Object(map)
    })
}

fn servicenow_common() -> Vec<Field> {
    vec![
        ("sys_id", id()),
        ("sys_created_on", maybe(datetime())),
        ("sys_updated_on", maybe(datetime())),
        ("name", required_text()),
        ("short_description", maybe(text())),
    ]
}

/// Runs `cases` random sources through both conversions (the dynamic one
/// borrowing the source, consuming a copy of it with `Mapper::map_owned`, and
/// decoding the source's JSON text with `Mapper::record_seed`); all must agree,
/// and both outcomes (a record, an error) must occur often enough to mean
/// something.
fn agree<T: TypedMapping>(strategy: impl Strategy<Value = Value>) {
    let mapper = T::mapper().expect("the derived descriptor compiles");
    let seed = mapper.record_seed("c");
    let (ok, err) = (Cell::new(0u32), Cell::new(0u32));
    let mut runner = TestRunner::new(Config {
        cases: 500,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |source| {
        let typed = T::map_source(&source, "c");
        let dynamic = mapper.map(&source, "c");
        let text = source.to_string();
        let dynamic_owned = mapper.map_owned(source, "c");
        prop_assert_eq!(format!("{dynamic:?}"), format!("{dynamic_owned:?}"));
        let mut json = connector_core::serde_json::Deserializer::from_str(&text);
        let seeded = serde::de::DeserializeSeed::deserialize(&seed, &mut json)
            .expect("the source's own JSON decodes");
        prop_assert_eq!(format!("{dynamic:?}"), format!("{seeded:?}"));
        match (typed, dynamic) {
            (Ok(typed), Ok(Some(dynamic))) => {
                ok.set(ok.get() + 1);
                prop_assert_eq!(typed, dynamic);
            }
            (Err(typed), Err(dynamic)) => {
                err.set(err.get() + 1);
                prop_assert_eq!(typed.field_errors(), dynamic.field_errors());
                prop_assert_eq!(typed.message(), dynamic.message());
                prop_assert_eq!(typed.kind(), dynamic.kind());
                prop_assert_eq!(typed.context(), dynamic.context());
            }
            (typed, dynamic) => {
                return Err(TestCaseError::fail(format!(
                    "typed {typed:?} but dynamic {dynamic:?}"
                )));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        ok.get() >= 15 && err.get() >= 15,
        "too few records ({}) or errors ({}) to compare",
        ok.get(),
        err.get()
    );
}

#[test]
fn servicenow_application_typed_equals_dynamic() {
    let mut fields = servicenow_common();
    fields.extend([
        ("owned_by.email", maybe(reference())),
        (
            "operational_status",
            prop_oneof![1 => Just(None), 8 => code().prop_map(Some)].boxed(),
        ),
        ("u_criticality", maybe(code())),
        ("cost_cc.cost_center", maybe(reference())),
        ("install_status", maybe(code())),
        ("version", maybe(text())),
        ("vendor", maybe(reference())),
        ("depends_on", maybe(many_ids())),
        ("used_by", maybe(many_ids())),
    ]);
    agree::<Application>(object(fields));
}

#[test]
fn servicenow_server_typed_equals_dynamic() {
    let mut fields = servicenow_common();
    fields.extend([
        ("ip_address", maybe(text())),
        ("os", maybe(text())),
        ("host_name", maybe(text())),
        ("cpu_count", maybe(number())),
        ("ram", maybe(number())),
        ("hosted_on", maybe(one_id())),
    ]);
    agree::<Server>(object(fields));
}

#[test]
fn servicenow_business_service_typed_equals_dynamic() {
    let mut fields = servicenow_common();
    fields.extend([
        ("service_classification", maybe(text())),
        ("used_for", maybe(text())),
    ]);
    agree::<BusinessService>(object(fields));
}

#[test]
fn azure_ad_user_typed_equals_dynamic() {
    agree::<AzureUser>(object(vec![
        ("id", id()),
        ("createdDateTime", maybe(datetime())),
        ("userPrincipalName", required_text()),
        ("displayName", required_text()),
        ("givenName", maybe(text())),
        ("surname", maybe(text())),
        ("jobTitle", maybe(text())),
        ("department", maybe(text())),
        ("officeLocation", maybe(text())),
        ("mobilePhone", maybe(text())),
        ("manager/id", maybe(one_id())),
    ]));
}

#[test]
fn azure_ad_group_typed_equals_dynamic() {
    agree::<AzureGroup>(object(vec![
        ("id", id()),
        ("createdDateTime", maybe(datetime())),
        ("displayName", required_text()),
        ("description", maybe(text())),
        ("mail", maybe(text())),
    ]));
}
