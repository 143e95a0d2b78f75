//! The attributes beyond the seed mappings: `with`, defaults, `skip`, nested
//! targets, projections, serde types, JSON values, `rename_all`, relationships'
//! options, validation rules with messages and the crate-path override.

use connector_core::mapping::{Lookup, Rule, Transform, TypedMapping};
use connector_core::serde_json::{Value, json};
use connector_core::{FieldError, RelationshipKind};
use connector_derive::EntityMapping;

/// Parses `"a, b"` into tags: a `with` function.
fn parse_tags(value: &Value) -> Result<Vec<String>, String> {
    let text = value.as_str().ok_or("expected a comma-separated string")?;
    Ok(text.split(',').map(|t| t.trim().to_owned()).collect())
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Tier {
    Gold,
    Silver,
}

fn default_region() -> String {
    "eu".to_owned()
}

#[derive(Debug, EntityMapping)]
#[entity(
    source = "repo",
    target = "REPOSITORY",
    display_name = "Repositories",
    rename_all = "SCREAMING_SNAKE_CASE"
)]
struct Repo {
    #[field(external_id, source = "node.id")]
    id: String,
    #[field(
        source = "node.name",
        target = "meta.name",
        transform(trim, lower),
        min_len = 1
    )]
    name: String,
    #[field(
        source = "node.owner.login",
        target = "meta.owner",
        email(message = "owner must be an email")
    )]
    owner: Option<String>,
    #[field(source = "topics", with = parse_tags)]
    tags: Option<Vec<String>>,
    #[field(source = "labels[].name")]
    labels: Vec<String>,
    #[field(source = "stars[].count")]
    star_counts: Option<Vec<i64>>,
    #[field(default = "bronze", one_of = ["bronze", "silver", "gold"])]
    tier_name: String,
    #[field(default = default_region())]
    region: String,
    #[field(default)]
    archived: bool,
    tier: Option<Tier>,
    extra: Option<Value>,
    #[field(range(min = 0, max = 100, message = "score out of range"))]
    score: Option<i32>,
    #[field(source = r#""@odata.type""#, pattern = "^#microsoft")]
    odata_type: Option<String>,
    #[field(skip)]
    local_note: String,
    #[field(skip, default = 3)]
    retries: u32,
    #[relationship(
        source = "node.team",
        target = "TEAM",
        kind = "OWNED_BY",
        strength = 90,
        lookup(field = "slug"),
        bidirectional
    )]
    team: Option<String>,
    #[relationship(
        source = "contributors[].login",
        target = "USER",
        kind = "USES",
        lookup = "name"
    )]
    contributors: Vec<String>,
}

#[test]
fn descriptor_holds_every_attribute() {
    let m = Repo::entity_mapping();
    assert_eq!(m.display_name, "Repositories");
    assert_eq!(m.external_id.as_str(), "node.id");
    let targets: Vec<&str> = m.fields.iter().map(|f| f.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "meta.name",
            "meta.owner",
            "TAGS",
            "LABELS",
            "STAR_COUNTS",
            "TIER_NAME",
            "REGION",
            "ARCHIVED",
            "TIER",
            "EXTRA",
            "SCORE",
            "ODATA_TYPE"
        ]
    );
    let by = |t: &str| m.fields.iter().find(|f| f.target == t).unwrap();
    assert_eq!(
        by("meta.name").transforms,
        [Transform::Trim, Transform::Lower]
    );
    assert!(by("meta.name").required);
    assert_eq!(
        by("TAGS").transforms,
        [Transform::Custom {
            name: "parse_tags".into(),
            args: Value::Null
        }]
    );
    assert_eq!(by("STAR_COUNTS").transforms, [Transform::ToNumber]);
    assert_eq!(by("ARCHIVED").transforms, [Transform::ToBool]);
    assert_eq!(by("ARCHIVED").default, Some(json!(false)));
    assert!(!by("ARCHIVED").required);
    assert_eq!(by("TIER_NAME").default, Some(json!("bronze")));
    assert_eq!(by("REGION").default, Some(json!("eu")));
    assert_eq!(by("ODATA_TYPE").source.segments().len(), 1);
    let rules: Vec<(&str, &Rule, Option<&str>)> = m
        .validation
        .iter()
        .map(|v| (v.field.as_str(), &v.rule, v.message.as_deref()))
        .collect();
    assert_eq!(
        rules,
        [
            ("meta.name", &Rule::MinLength(1), None),
            ("meta.owner", &Rule::Email, Some("owner must be an email")),
            (
                "TIER_NAME",
                &Rule::OneOf(vec![json!("bronze"), json!("silver"), json!("gold")]),
                None
            ),
            (
                "SCORE",
                &Rule::Range {
                    min: Some(0.0),
                    max: Some(100.0)
                },
                Some("score out of range")
            ),
            ("ODATA_TYPE", &Rule::Pattern("^#microsoft".into()), None),
        ]
    );
    let team = &m.relationships[0];
    assert_eq!(team.kind, RelationshipKind::Other("OWNED_BY".into()));
    assert_eq!(team.lookup, Lookup::Field("slug".into()));
    assert_eq!((team.strength, team.bidirectional), (Some(90), true));
    assert_eq!(m.relationships[1].lookup, Lookup::Name);
    assert_eq!(m.relationships[1].kind, RelationshipKind::Uses);
    // The descriptor is valid data for the dynamic engine, `with` included.
    assert!(Repo::mapper().is_ok());
}

fn source() -> Value {
    json!({
        "@odata.type": "#microsoft.graph.repo",
        "node": {"id": "r1", "name": "  Connector-SDK ", "owner": {"login": "ann@acme.com"},
                 "team": {"id": "t9"}},
        "topics": "rust, etl",
        "labels": [{"name": "bug"}, {"name": "good first issue"}, {"other": 1}],
        "stars": [{"count": "3"}, {"count": 4}],
        "tier": "gold",
        "extra": {"any": ["thing"]},
        "score": "42",
        "contributors": [{"login": "bob"}, {"login": "eve"}]
    })
}

#[test]
fn typed_conversion_uses_every_attribute() {
    let repo = Repo::from_source(&source()).unwrap();
    assert_eq!(repo.name, "connector-sdk");
    assert_eq!(repo.owner.as_deref(), Some("ann@acme.com"));
    assert_eq!(repo.tags, Some(vec!["rust".to_owned(), "etl".to_owned()]));
    assert_eq!(repo.labels, ["bug", "good first issue"]);
    assert_eq!(repo.star_counts, Some(vec![3, 4]));
    assert_eq!(repo.tier_name, "bronze");
    assert_eq!(repo.region, "eu");
    assert!(!repo.archived);
    assert_eq!(repo.tier, Some(Tier::Gold));
    assert_eq!(repo.extra, Some(json!({"any": ["thing"]})));
    assert_eq!(repo.score, Some(42));
    assert_eq!(repo.local_note, "");
    assert_eq!(repo.retries, 3);
    assert_eq!(repo.team.as_deref(), Some("t9"));
    assert_eq!(repo.contributors, ["bob", "eve"]);
}

#[test]
fn record_matches_the_dynamic_mapper() {
    let typed = Repo::map_source(&source(), "github").unwrap();
    let dynamic = Repo::mapper().unwrap().map(&source(), "github").unwrap();
    assert_eq!(Some(&typed), dynamic.as_ref());
    assert_eq!(
        typed.fields["meta"],
        json!({"name": "connector-sdk", "owner": "ann@acme.com"})
    );
    assert_eq!(typed.fields["TAGS"], json!(["rust", "etl"]));
    assert_eq!(typed.fields["TIER"], json!("gold"));
    let team = &typed.relationships[0];
    assert_eq!(
        (team.to_type.as_str(), team.to_id.as_str(), team.strength),
        ("TEAM", "t9", 90)
    );
    assert!(team.bidirectional);
}

#[test]
fn rule_and_with_failures_are_collected() {
    let mut bad = source();
    bad["node"]["owner"]["login"] = json!("not-an-email");
    bad["topics"] = json!(7);
    bad["tier_name"] = json!("platinum");
    bad["tier"] = json!("bronze");
    bad["score"] = json!(101);
    bad["@odata.type"] = json!("#other");
    let err = Repo::from_source(&bad).unwrap_err();
    assert_eq!(
        err.field_errors(),
        [
            FieldError::new("topics", "parse_tags", "expected a comma-separated string"),
            FieldError::new(
                "tier",
                "type",
                "expected a value of type `Tier`, found \"bronze\""
            ),
            FieldError::new("meta.owner", "email", "owner must be an email"),
            FieldError::new("TIER_NAME", "one_of", "must be one of bronze, silver, gold"),
            FieldError::new("SCORE", "range", "score out of range"),
            FieldError::new(
                "ODATA_TYPE",
                "pattern",
                "does not match pattern `^#microsoft`"
            ),
        ]
    );
    let dynamic = Repo::mapper().unwrap().map(&bad, "c").unwrap_err();
    // The dynamic engine reports the same, except that serde types are the typed
    // conversion's own check.
    assert_eq!(dynamic.field_errors().len(), err.field_errors().len() - 1);
}

mod renamed {
    //! `#[entity(crate = "...")]` for a renamed dependency.
    use connector_core as core_renamed;
    use connector_core::mapping::TypedMapping;
    use connector_derive::EntityMapping;

    #[derive(EntityMapping)]
    #[entity(source = "x", target = "X", crate = "core_renamed")]
    struct X {
        #[field(external_id)]
        id: String,
    }

    #[test]
    fn crate_path_override() {
        let x = X::from_source(&core_renamed::serde_json::json!({"id": "1"})).unwrap();
        assert_eq!(x.id, "1");
        assert_eq!(X::entity_mapping().source_type, "x");
    }
}
