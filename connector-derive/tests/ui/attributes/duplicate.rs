use connector_derive::EntityMapping;

#[derive(EntityMapping)]
#[entity(source = "user", source = "person", target = "USER")]
struct User {
    #[field(external_id)]
    id: String,
    #[field(source = "displayName", source = "name")]
    name: String,
}

fn main() {}
