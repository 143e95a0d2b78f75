use connector_derive::EntityMapping;
use connector_core::chrono::{DateTime, FixedOffset, Utc};

#[derive(EntityMapping)]
#[entity(source = "server", target = "NODE")]
struct Server {
    #[field(external_id)]
    id: Option<String>,
    #[field(updated_at)]
    updated: DateTime<Utc>,
    seen: Option<DateTime<FixedOffset>>,
    #[field(default = "many")]
    cpu_count: i64,
    #[field(default = 3)]
    tags: Vec<String>,
}

fn main() {}
