//! An in-process fake of the ServiceNow Table API (feature `fake`), following
//! `vendor-api-facts.md` §6, seeded with generated CMDB data.
//!
//! It serves `GET /api/now/table/{cmdb_ci_appl, cmdb_ci_server, cmdb_ci_service,
//! cmdb_rel_ci}` on 127.0.0.1 with:
//!
//! - the `{"result": [...]}` envelope, every value a string, reference fields as
//!   `{"link", "value"}` (a bare sys_id with `sysparm_exclude_reference_link=true`),
//!   dot-walked columns (`owned_by.email`, `parent.sys_class_name`) as flat keys;
//! - `sysparm_limit` (default 10,000) / `sysparm_offset` paging with
//!   `X-Total-Count` and a `Link` header (`first`, `prev` — negative on the first
//!   page, as observed on a real instance —, `next`, `last`);
//! - `sysparm_query`: `^`-joined terms (`^OR` groups) with `=`, `!=`, `>=`, `>`,
//!   `<=`, `<`, `IN`, `STARTSWITH`, `LIKE`, `ISEMPTY`, `ISNOTEMPTY`, `INSTANCEOF`
//!   (over a small class hierarchy), `ORDERBY`/`ORDERBYDESC`, and
//!   `javascript:gs.dateGenerate('YYYY-MM-DD','HH:MM:SS')` values. Without an
//!   `ORDERBY` the fake serves rows in an order that changes with the offset, as
//!   an unordered real query may: a client that forgets to order sees rows
//!   repeated and skipped. A term it does not understand is a **400** (a real
//!   instance would ignore it silently — louder here on purpose);
//! - `sysparm_fields` projection;
//! - ServiceNow error bodies (`{"error":{"message","detail"},"status":"failure"}`)
//!   and the testkit's gates (auth guard, scripted faults, rate limits).
//!
//! Assumptions where the facts are tagged uncertain (`[K]`/`[?]`): the exact
//! column lists of `cmdb_ci_appl` and `cmdb_ci_service`; `cmdb_rel_ci.type.name`
//! holding `"Depends on::Used by"`; the 429 body wording.
//!
//! Every page costs one pass over the table (filter, sort, project), so a few
//! thousand rows are served in milliseconds.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use connector_testkit::fake::{
    AuthGuard, Envelope, ErrorStyle, FakeApi, FakeCollection, PageInfo, Paging,
};
use connector_testkit::rng::SplitMix64;
use serde_json::{Map, Value, json};
use url::Url;
use wiremock::Request;

/// The tables the fake serves, as collection names (the collection of a table is
/// named like the table).
pub const TABLES: [&str; 4] = [
    "cmdb_ci_appl",
    "cmdb_ci_server",
    "cmdb_ci_service",
    "cmdb_rel_ci",
];

/// How many CIs to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Application CIs.
    pub applications: usize,
    /// Server CIs (Linux and Windows subclasses).
    pub servers: usize,
    /// Business services.
    pub services: usize,
}

impl Scale {
    /// A small data set for tests: 12 applications, 10 servers, 9 services.
    pub fn small() -> Self {
        Self {
            applications: 12,
            servers: 10,
            services: 9,
        }
    }

    /// A demo-sized data set: 1,500 applications, 1,200 servers, 300 services.
    pub fn demo() -> Self {
        Self {
            applications: 1_500,
            servers: 1_200,
            services: 300,
        }
    }
}

/// The rows the fake serves, one `Vec` per table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FakeData {
    /// `cmdb_ci_appl` rows.
    pub applications: Vec<Value>,
    /// `cmdb_ci_server` rows (with subclass rows).
    pub servers: Vec<Value>,
    /// `cmdb_ci_service` rows.
    pub services: Vec<Value>,
    /// `cmdb_rel_ci` rows.
    pub relationships: Vec<Value>,
}

const APP_NAMES: &[&str] = &[
    "Payroll",
    "Order Management",
    "Customer Portal",
    "Inventory",
    "Billing",
    "CRM",
    "Data Warehouse",
    "HR Self Service",
    "Ticketing",
    "Expense Reports",
    "Identity Broker",
    "Search",
    "Pricing Engine",
    "Shipping",
    "Loyalty",
    "Reporting",
];
const SERVICE_NAMES: &[&str] = &[
    "Email",
    "Online Store",
    "Payments",
    "Employee Onboarding",
    "Customer Support",
    "Field Service",
    "Analytics",
    "Supply Chain",
    "Finance Close",
];
const VENDORS: &[&str] = &[
    "SAP",
    "Oracle",
    "Microsoft",
    "Salesforce",
    "In-house",
    "Atlassian",
];
const DEPARTMENTS: &[&str] = &["finance", "it", "sales", "hr", "ops", "support"];

fn sys_id(rng: &mut SplitMix64) -> String {
    format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

fn reference(base: &str, table: &str, id: &str) -> Value {
    json!({ "link": format!("{base}/api/now/table/{table}/{id}"), "value": id })
}

fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

impl FakeData {
    /// Generates `scale` CIs and their relationships, deterministically from
    /// `seed`. Update times are distinct seconds between 2024-01-01 and mid-2025;
    /// reference links point at `https://example.service-now.com`.
    pub fn generate(scale: Scale, seed: u64) -> Self {
        let base = "https://example.service-now.com";
        let mut rng = SplitMix64::new(seed);
        let epoch = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let total = (scale.applications + scale.servers + scale.services).max(1) as i64;
        let span = 540 * 24 * 3600 / total;
        let mut tick = 0_i64;
        let mut times = |rng: &mut SplitMix64| {
            tick += 1;
            let updated = epoch + ChronoDuration::seconds(tick * span + (rng.below(60) as i64));
            let created = updated - ChronoDuration::days(200 + rng.below(300) as i64);
            (stamp(created), stamp(updated))
        };
        let pick = |rng: &mut SplitMix64, list: &[&'static str]| -> &'static str {
            list[rng.below(list.len() as u64) as usize]
        };
        let servers: Vec<Value> = (0..scale.servers)
            .map(|i| {
                let id = sys_id(&mut rng);
                let (created, updated) = times(&mut rng);
                let linux = i % 3 != 2;
                let name = if linux { format!("lnux{:03}", 100 + i) } else { format!("win{:03}", 100 + i) };
                json!({
                    "sys_id": id,
                    "name": name,
                    "sys_class_name": if linux { "cmdb_ci_linux_server" } else { "cmdb_ci_win_server" },
                    "short_description": format!("{} server in rack {}", if linux { "Linux" } else { "Windows" }, 1 + i % 40),
                    "host_name": name,
                    "fqdn": format!("{name}.example.com"),
                    "ip_address": format!("10.{}.{}.{}", i / 65_536 % 256, i / 256 % 256, i % 256),
                    "os": if linux { "Linux Red Hat" } else { "Windows 2022 Datacenter" },
                    "os_version": if linux { "8.6" } else { "10.0.20348" },
                    "serial_number": format!("SN{:08X}", rng.next_u64() as u32),
                    "manufacturer": reference(base, "core_company", &format!("{:032x}", 7 + i % 3)),
                    "location": reference(base, "cmn_location", &format!("{:032x}", 100 + i % 12)),
                    "operational_status": if rng.chance(900) { "1" } else { "2" },
                    "install_status": if rng.chance(920) { "1" } else { "7" },
                    "cpu_count": pick(&mut rng, &["2", "4", "8", "16", "32"]),
                    "ram": pick(&mut rng, &["4096", "8192", "16384", "32768", "65536"]),
                    "support_group": reference(base, "sys_user_group", &format!("{:032x}", 200 + i % 5)),
                    "sys_created_on": created,
                    "sys_updated_on": updated,
                })
            })
            .collect();
        let applications: Vec<Value> = (0..scale.applications)
            .map(|i| {
                let id = sys_id(&mut rng);
                let (created, updated) = times(&mut rng);
                let base_name = APP_NAMES[i % APP_NAMES.len()];
                let name = if i < APP_NAMES.len() { base_name.to_owned() } else { format!("{base_name} {}", i / APP_NAMES.len() + 1) };
                let dept = pick(&mut rng, DEPARTMENTS);
                json!({
                    "sys_id": id,
                    "name": name,
                    "sys_class_name": if i % 7 == 6 { "cmdb_ci_app_server_tomcat" } else { "cmdb_ci_appl" },
                    "short_description": format!("{name} for the {dept} department"),
                    "owned_by.email": format!("{}.owner{}@example.com", dept, i % 50),
                    "operational_status": pick(&mut rng, &["1", "1", "1", "2", "3", "4", "5", "6"]),
                    "install_status": pick(&mut rng, &["1", "6", "6", "6", "7"]),
                    "u_criticality": pick(&mut rng, &["1", "2", "3", "4", ""]),
                    "cost_cc.cost_center": format!("CC-{}", 1000 + i % 40),
                    "version": format!("{}.{}.{}", 1 + rng.below(5), rng.below(10), rng.below(20)),
                    "vendor": reference(base, "core_company", &format!("{:032x}", 20 + (i % VENDORS.len()))),
                    "install_directory": format!("/opt/{}", name.to_lowercase().replace(' ', "-")),
                    "tcp_port": pick(&mut rng, &["443", "8080", "8443", ""]),
                    "used_for": "Production",
                    "owned_by": reference(base, "sys_user", &format!("{:032x}", 300 + i % 50)),
                    "support_group": reference(base, "sys_user_group", &format!("{:032x}", 200 + i % 5)),
                    "sys_created_on": created,
                    "sys_updated_on": updated,
                })
            })
            .collect();
        let services: Vec<Value> = (0..scale.services)
            .map(|i| {
                let id = sys_id(&mut rng);
                let (created, updated) = times(&mut rng);
                let base_name = SERVICE_NAMES[i % SERVICE_NAMES.len()];
                let name = if i < SERVICE_NAMES.len() { base_name.to_owned() } else { format!("{base_name} {}", i / SERVICE_NAMES.len() + 1) };
                let technical = i % 4 == 3;
                json!({
                    "sys_id": id,
                    "name": name,
                    "sys_class_name": if technical { "cmdb_ci_service_technical" } else { "cmdb_ci_service" },
                    "short_description": format!("The {name} service"),
                    "service_classification": if technical { "Technical Service" } else { "Business Service" },
                    "busines_criticality": pick(&mut rng, &["1 - most critical", "2 - somewhat critical", "3 - less critical", "4 - not critical"]),
                    "used_for": pick(&mut rng, &["Production", "Production", "Staging", "Development"]),
                    "version": "",
                    "owned_by": reference(base, "sys_user", &format!("{:032x}", 300 + i % 50)),
                    "managed_by": reference(base, "sys_user", &format!("{:032x}", 350 + i % 20)),
                    "support_group": reference(base, "sys_user_group", &format!("{:032x}", 200 + i % 5)),
                    "operational_status": "1",
                    "sys_created_on": created,
                    "sys_updated_on": updated,
                })
            })
            .collect();
        let mut relationships = Vec::new();
        let mut rel = |rng: &mut SplitMix64, parent: &Value, child: &Value, type_name: &str| {
            let id = sys_id(rng);
            let text = |v: &Value, k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            relationships.push(json!({
                "sys_id": id,
                "parent": reference(base, "cmdb_ci", &text(parent, "sys_id")),
                "child": reference(base, "cmdb_ci", &text(child, "sys_id")),
                "type": reference(base, "cmdb_rel_type", &format!("{:032x}", type_name.len())),
                "type.name": type_name,
                "parent.sys_class_name": text(parent, "sys_class_name"),
                "child.sys_class_name": text(child, "sys_class_name"),
                "connection_strength": "always",
                "port": "",
                "percent_outage": "",
                "sys_updated_on": text(child, "sys_updated_on"),
            }));
        };
        for (i, app) in applications.iter().enumerate() {
            if !servers.is_empty() {
                let server = &servers[(i * 7 + 3) % servers.len()];
                rel(&mut rng, app, server, "Runs on::Runs");
            }
            if i > 0 && i % 3 == 0 {
                let other = &applications[rng.below(i as u64) as usize];
                rel(
                    &mut rng,
                    app,
                    other,
                    if i % 2 == 0 {
                        "Depends on::Used by"
                    } else {
                        "Uses::Used by"
                    },
                );
            }
        }
        for (i, service) in services.iter().enumerate() {
            if !applications.is_empty() {
                for k in 0..(1 + i % 2) {
                    let app = &applications[(i * 5 + k * 11) % applications.len()];
                    rel(&mut rng, service, app, "Depends on::Used by");
                }
            }
        }
        // A relationship to a class the connector does not import.
        if let Some(app) = applications.first() {
            let switch = json!({"sys_id": format!("{:032x}", 999), "sys_class_name": "cmdb_ci_ip_switch", "sys_updated_on": "2024-03-01 00:00:00"});
            rel(&mut rng, app, &switch, "Connected by::Connects");
        }
        Self {
            applications,
            servers,
            services,
            relationships,
        }
    }

    /// The rows of `table`.
    pub fn table(&self, table: &str) -> Option<&Vec<Value>> {
        match table {
            "cmdb_ci_appl" => Some(&self.applications),
            "cmdb_ci_server" => Some(&self.servers),
            "cmdb_ci_service" => Some(&self.services),
            "cmdb_rel_ci" => Some(&self.relationships),
            _ => None,
        }
    }
}

/// Builds and starts a fake ServiceNow instance.
///
/// ```no_run
/// # async fn demo() {
/// use connector_servicenow::fake::{FakeData, FakeServiceNow, Scale};
/// let api = FakeServiceNow::new(FakeData::generate(Scale::demo(), 7))
///     .basic_auth("admin", "s3cret")
///     .start()
///     .await;
/// let instance = api.uri(); // use as `settings.instance`
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct FakeServiceNow {
    data: FakeData,
    auth: Option<AuthGuard>,
}

impl FakeServiceNow {
    /// A fake serving `data`, with no auth guard.
    pub fn new(data: FakeData) -> Self {
        Self { data, auth: None }
    }

    /// Requires HTTP basic auth with `user` and `password`.
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        self.auth(AuthGuard::basic(user, password))
    }

    /// Requires the credential `guard` checks.
    pub fn auth(mut self, guard: AuthGuard) -> Self {
        self.auth = Some(guard);
        self
    }

    /// Starts the fake on 127.0.0.1 (inside a tokio runtime) and mounts the four
    /// tables; each is a collection named like its table.
    ///
    /// # Panics
    ///
    /// Never for the fake's own configuration (the collections are valid).
    pub async fn start(self) -> FakeApi {
        let mut builder = FakeApi::builder().errors(ErrorStyle::ServiceNow);
        if let Some(guard) = self.auth {
            builder = builder.auth(guard);
        }
        let api = builder.start().await;
        for table in TABLES {
            let rows = self.data.table(table).cloned().unwrap_or_default();
            let mounted = FakeCollection::new(table, format!("/api/now/table/{table}"), rows)
                .paging(
                    Paging::offset()
                        .with_params("sysparm_offset", "sysparm_limit")
                        .with_total_header("X-Total-Count"),
                )
                .envelope(Envelope::result())
                .id_field("sys_id")
                .updated_field("sys_updated_on")
                .page_size(10_000)
                .query(select)
                .decorate(link_header)
                .mount(&api)
                .await;
            if let Err(e) = mounted {
                // The collections above are always valid; say so loudly if not.
                tracing::error!("fake ServiceNow table `{table}` did not mount: {e}");
            }
        }
        api
    }
}

fn param(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A column's value as text (a reference gives its sys_id).
fn column<'a>(row: &'a Value, field: &str) -> Option<&'a str> {
    match row.get(field)? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("value").and_then(Value::as_str),
        _ => None,
    }
}

/// The class hierarchy `INSTANCEOF` walks: class → parent class.
fn parent_class(class: &str) -> Option<&'static str> {
    Some(match class {
        "cmdb_ci_linux_server"
        | "cmdb_ci_win_server"
        | "cmdb_ci_unix_server"
        | "cmdb_ci_esx_server" => "cmdb_ci_server",
        "cmdb_ci_server" => "cmdb_ci_computer",
        "cmdb_ci_computer" => "cmdb_ci_hardware",
        "cmdb_ci_ip_switch" => "cmdb_ci_netgear",
        "cmdb_ci_netgear" | "cmdb_ci_hardware" | "cmdb_ci_appl" | "cmdb_ci_service" => "cmdb_ci",
        "cmdb_ci_app_server_tomcat" => "cmdb_ci_app_server",
        "cmdb_ci_app_server" => "cmdb_ci_appl",
        "cmdb_ci_service_technical"
        | "cmdb_ci_service_discovered"
        | "cmdb_ci_service_auto"
        | "service_offering" => "cmdb_ci_service",
        _ => return None,
    })
}

fn instance_of(class: &str, ancestor: &str) -> bool {
    let mut current = Some(class);
    let mut depth = 0;
    while let Some(c) = current {
        if c == ancestor {
            return true;
        }
        depth += 1;
        if depth > 16 {
            return false;
        }
        current = parent_class(c);
    }
    false
}

/// One condition of an encoded query.
#[derive(Debug)]
struct Term {
    field: String,
    op: &'static str,
    value: String,
}

fn date_generate(value: &str) -> String {
    // javascript:gs.dateGenerate('2024-01-15','10:00:00')
    let Some(args) = value
        .strip_prefix("javascript:gs.dateGenerate(")
        .and_then(|v| v.strip_suffix(')'))
    else {
        return value.to_owned();
    };
    let parts: Vec<&str> = args
        .split(',')
        .map(|p| p.trim().trim_matches('\''))
        .collect();
    match parts.as_slice() {
        [date, time] => format!("{date} {time}"),
        [date] => format!("{date} 00:00:00"),
        _ => value.to_owned(),
    }
}

fn parse_term(raw: &str) -> Result<Term, String> {
    let end = raw
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(raw.len());
    // Operators spelled in capitals follow the field directly: cut the field
    // where one of them starts.
    let (field, rest) = {
        let word = &raw[..end];
        let cut = [
            "INSTANCEOF",
            "ISNOTEMPTY",
            "ISEMPTY",
            "STARTSWITH",
            "LIKE",
            "IN",
        ]
        .iter()
        .filter_map(|op| word.find(op).filter(|&i| i > 0))
        .min()
        .unwrap_or(end);
        (&raw[..cut], &raw[cut..])
    };
    const OPS: [&str; 12] = [
        ">=",
        "<=",
        "!=",
        "INSTANCEOF",
        "ISNOTEMPTY",
        "ISEMPTY",
        "STARTSWITH",
        "LIKE",
        "IN",
        ">",
        "<",
        "=",
    ];
    let op = OPS
        .iter()
        .find(|op| rest.starts_with(**op))
        .ok_or_else(|| format!("the fake does not understand the query term `{raw}`"))?;
    if field.is_empty() {
        return Err(format!("the query term `{raw}` names no field"));
    }
    Ok(Term {
        field: field.to_owned(),
        op,
        value: date_generate(&rest[op.len()..]),
    })
}

fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn matches(row: &Value, term: &Term) -> bool {
    use std::cmp::Ordering::*;
    let value = column(row, &term.field).unwrap_or("");
    match term.op {
        "=" => value == term.value,
        "!=" => value != term.value,
        ">=" => !value.is_empty() && compare(value, &term.value) != Less,
        ">" => !value.is_empty() && compare(value, &term.value) == Greater,
        "<=" => !value.is_empty() && compare(value, &term.value) != Greater,
        "<" => !value.is_empty() && compare(value, &term.value) == Less,
        "IN" => term.value.split(',').any(|v| v == value),
        "STARTSWITH" => value.starts_with(&term.value),
        "LIKE" => value.to_lowercase().contains(&term.value.to_lowercase()),
        "ISEMPTY" => value.is_empty(),
        "ISNOTEMPTY" => !value.is_empty(),
        "INSTANCEOF" => instance_of(value, &term.value),
        _ => false,
    }
}

/// `sysparm_query`, `sysparm_fields` and `sysparm_exclude_reference_link`.
fn select(request: &Request, rows: Vec<Value>) -> Result<Vec<Value>, String> {
    let query = param(request, "sysparm_query").unwrap_or_default();
    let mut groups: Vec<Vec<Term>> = Vec::new();
    let mut order: Vec<(String, bool)> = Vec::new();
    for raw in query.split('^').filter(|t| !t.is_empty()) {
        if raw == "NQ" {
            return Err("the fake does not support `^NQ` queries".to_owned());
        }
        if let Some(field) = raw.strip_prefix("ORDERBYDESC") {
            order.push((field.to_owned(), true));
        } else if let Some(field) = raw.strip_prefix("ORDERBY") {
            order.push((field.to_owned(), false));
        } else if let Some(alt) = raw.strip_prefix("OR") {
            let term = parse_term(alt)?;
            match groups.last_mut() {
                Some(group) => group.push(term),
                None => groups.push(vec![term]),
            }
        } else {
            groups.push(vec![parse_term(raw)?]);
        }
    }
    let mut rows: Vec<Value> = rows
        .into_iter()
        .filter(|row| groups.iter().all(|g| g.iter().any(|t| matches(row, t))))
        .collect();
    if order.is_empty() {
        // No order asked for: an order that changes from page to page.
        let offset = param(request, "sysparm_offset").unwrap_or_default();
        rows.sort_by_cached_key(|row| {
            let mut h = DefaultHasher::new();
            (column(row, "sys_id").unwrap_or(""), offset.as_str()).hash(&mut h);
            h.finish()
        });
    } else {
        rows.sort_by(|a, b| {
            for (field, desc) in &order {
                let o = compare(
                    column(a, field).unwrap_or(""),
                    column(b, field).unwrap_or(""),
                );
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let fields: Option<Vec<String>> = param(request, "sysparm_fields")
        .filter(|f| !f.trim().is_empty())
        .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
    let bare_refs = param(request, "sysparm_exclude_reference_link").as_deref() == Some("true");
    if fields.is_none() && !bare_refs {
        return Ok(rows);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let Value::Object(obj) = row else { return row };
            let mut out = Map::new();
            for (k, v) in obj {
                if fields.as_ref().is_some_and(|f| !f.contains(&k)) {
                    continue;
                }
                let v = match v {
                    Value::Object(r) if bare_refs && r.contains_key("link") => r
                        .get("value")
                        .cloned()
                        .unwrap_or(Value::String(String::new())),
                    other => other,
                };
                out.insert(k, v);
            }
            Value::Object(out)
        })
        .collect())
}

/// ServiceNow's `Link` header: first, prev (negative on the first page, as a real
/// instance sends), next (only when more rows follow) and last.
fn link_header(
    request: &Request,
    page: &PageInfo,
    _body: &mut Value,
    headers: &mut Vec<(String, String)>,
) {
    let Ok(mut base) = Url::parse(&format!("{}{}", page.base, request.url.path())) else {
        return;
    };
    let size = i64::from(page.size);
    let offset = page.offset as i64;
    let total = page.total as i64;
    let at = |base: &mut Url, to: i64| {
        {
            let mut pairs = base.query_pairs_mut();
            pairs.clear();
            for (k, v) in request.url.query_pairs() {
                if k != "sysparm_offset" && k != "sysparm_limit" {
                    pairs.append_pair(&k, &v);
                }
            }
            pairs.append_pair("sysparm_limit", &size.to_string());
            pairs.append_pair("sysparm_offset", &to.to_string());
        }
        base.to_string()
    };
    let mut links = vec![
        format!("<{}>;rel=\"first\"", at(&mut base, 0)),
        format!("<{}>;rel=\"prev\"", at(&mut base, offset - size)),
    ];
    if page.has_next {
        links.push(format!("<{}>;rel=\"next\"", at(&mut base, offset + size)));
    }
    let last = if total == 0 {
        0
    } else {
        (total - 1) / size * size
    };
    links.push(format!("<{}>;rel=\"last\"", at(&mut base, last)));
    headers.push(("Link".to_owned(), links.join(",")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_data_is_deterministic_and_shaped() {
        let a = FakeData::generate(Scale::small(), 1);
        assert_eq!(a, FakeData::generate(Scale::small(), 1));
        assert_eq!(a.applications.len(), 12);
        let server = &a.servers[0];
        assert!(server["ram"].is_string() && server["cpu_count"].is_string());
        assert!(
            server["manufacturer"]["link"]
                .as_str()
                .is_some_and(|l| l.contains("/core_company/"))
        );
        assert!(
            a.relationships
                .iter()
                .any(|r| r["type.name"] == "Runs on::Runs")
        );
    }

    #[test]
    fn terms_parse() {
        let t = parse_term("sys_updated_on>=2024-01-15 10:00:00").expect("term");
        assert_eq!(
            (t.field.as_str(), t.op, t.value.as_str()),
            ("sys_updated_on", ">=", "2024-01-15 10:00:00")
        );
        let t = parse_term("sys_updated_on>javascript:gs.dateGenerate('2024-01-15','10:00:00')")
            .expect("term");
        assert_eq!(t.value, "2024-01-15 10:00:00");
        let t = parse_term("parent.sys_class_nameINSTANCEOFcmdb_ci_server").expect("term");
        assert_eq!(
            (t.field.as_str(), t.op),
            ("parent.sys_class_name", "INSTANCEOF")
        );
        let t = parse_term("operational_statusIN1,2").expect("term");
        assert_eq!(
            (t.field.as_str(), t.op, t.value.as_str()),
            ("operational_status", "IN", "1,2")
        );
        assert!(parse_term("???").is_err());
        assert!(instance_of("cmdb_ci_linux_server", "cmdb_ci_server"));
        assert!(instance_of("cmdb_ci_app_server_tomcat", "cmdb_ci_appl"));
        assert!(!instance_of("cmdb_ci_ip_switch", "cmdb_ci_server"));
    }
}
