use connector_derive::EntityMapping;

#[derive(EntityMapping)]
#[entity(source = "server", target = "NODE")]
struct Server {
    #[field(external_id)]
    id: String,
    #[relationship(target = "NODE", kind = "RUNS_ON")]
    hosted_on: String,
    #[relationship(target = "NODE", kind = "DEPENDS_ON")]
    depends_on: Vec<u64>,
    #[relationship(kind = "USES", strength = 150)]
    uses: Option<String>,
    #[relationship(target = "NODE", lookup = "email")]
    peers: Vec<String>,
}

fn main() {}
