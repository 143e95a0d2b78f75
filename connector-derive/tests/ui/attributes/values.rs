use connector_derive::EntityMapping;

#[derive(EntityMapping)]
#[entity(source = user, target = "USER", rename_all = "camel")]
struct User {
    #[field(external_id = true)]
    id: String,
    #[field(source = 5)]
    name: String,
}

fn main() {}
