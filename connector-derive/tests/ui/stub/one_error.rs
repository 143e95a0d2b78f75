//! With an attribute error, code using the struct adds no errors of its own: the
//! derive still emits a (stub) implementation.
use connector_core::mapping::TypedMapping;
use connector_derive::EntityMapping;

#[derive(Debug, EntityMapping)]
#[entity(source = "user", target = "USER")]
struct User {
    #[field(external_id)]
    id: String,
    #[field(min_len = "two")]
    name: String,
}

fn main() {
    let user = User::from_source(&connector_core::serde_json::json!({"id": "1"}));
    let _ = User::entity_mapping();
    let _ = user.map(|u| u.into_record("c"));
}
