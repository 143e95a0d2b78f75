use connector_derive::EntityMapping;

#[derive(EntityMapping)]
#[entity(source = "user", target = "USER")]
struct User {
    #[field(external_id)]
    id: String,
    #[field(target = "name")]
    display_name: String,
    name: Option<String>,
    #[field(target = "owner")]
    owner: Option<String>,
    #[field(target = "owner.email")]
    owner_email: Option<String>,
    #[field(target = "a..b")]
    broken: Option<String>,
}

fn main() {}
