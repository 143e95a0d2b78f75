use connector_derive::EntityMapping;

#[derive(EntityMapping)]
#[entity(source = "server", target = "NODE")]
struct Server {
    #[field(external_id)]
    id: String,
    #[field(transform = "lowercase")]
    name: String,
    #[field(transform(convert_unit(from = "mb", to = "parsecs")))]
    ram: Option<i64>,
    #[field(transform(lookup()))]
    status: Option<String>,
    #[field(transform(trim("x")))]
    host: Option<String>,
    #[field(transform(split))]
    tags: Option<Vec<String>>,
    #[field(transform(custom(name = "mine")))]
    other: Option<String>,
}

fn main() {}
