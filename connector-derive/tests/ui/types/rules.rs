use connector_derive::EntityMapping;

#[derive(EntityMapping)]
#[entity(source = "server", target = "NODE")]
struct Server {
    #[field(external_id)]
    id: String,
    #[field(min_len = 2)]
    cpu_count: i64,
    #[field(range(min = 1, max = 10))]
    name: String,
    #[field(email)]
    active: bool,
    #[field(pattern = "([a-z]+")]
    host: Option<String>,
    #[field(range(min = 10, max = 1))]
    cores: Option<u8>,
    #[field(one_of = ["a", "b"])]
    level: Option<i32>,
}

fn main() {}
