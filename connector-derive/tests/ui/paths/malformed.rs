use connector_derive::EntityMapping;

#[derive(EntityMapping)]
#[entity(source = "user", target = "USER")]
struct User {
    #[field(external_id, source = "id.")]
    id: String,
    #[field(source = "owner..email")]
    owner: Option<String>,
    #[field(source = "labels[x].name")]
    labels: Vec<String>,
    #[field(source = "\"unterminated")]
    odata: Option<String>,
    #[relationship(source = "manager[", target = "USER", kind = "MANAGES")]
    manager: Option<String>,
    #[field(transform(coalesce("a", "b c")))]
    nick: Option<String>,
}

fn main() {}
