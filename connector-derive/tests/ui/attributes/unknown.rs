use connector_derive::EntityMapping;

#[derive(EntityMapping)]
#[entity(source = "user", target = "USER", tagret = "X")]
struct User {
    #[field(external_id)]
    id: String,
    #[field(sorce = "displayName")]
    name: String,
    #[field(min_length = 2)]
    login: String,
    #[relationship(target = "USER", kind = "MANAGES", weight = 5)]
    manager: Option<String>,
}

fn main() {}
