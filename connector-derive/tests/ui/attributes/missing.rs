use connector_derive::EntityMapping;

#[derive(EntityMapping)]
#[entity(display_name = "Users")]
struct User {
    id: String,
}

#[derive(EntityMapping)]
#[entity(source = "user", target = "USER")]
enum Kind {
    A,
}

fn main() {}
