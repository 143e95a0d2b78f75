use connector_derive::EntityMapping;
use connector_core::chrono::{DateTime, Utc};

#[derive(EntityMapping)]
#[entity(source = "user", target = "USER")]
struct User {
    #[field(external_id, updated_at)]
    id: String,
    #[field(external_id)]
    other_id: String,
    #[field(skip, source = "x", min_len = 1)]
    local: String,
    #[field(created_at, transform = "trim")]
    created: Option<DateTime<Utc>>,
    #[field(source = "m")]
    #[relationship(target = "USER", kind = "MANAGES")]
    manager: Option<String>,
}

fn main() {}
