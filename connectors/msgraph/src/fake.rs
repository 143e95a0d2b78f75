//! An in-process fake of Microsoft Graph for Entra ID (feature `fake`), following
//! `vendor-api-facts.md` §7, seeded with generated users and groups.
//!
//! - `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant (form body
//!   `client_id`, `client_secret`, `scope` ending in `/.default`,
//!   `grant_type=client_credentials`), answering
//!   `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":…}`
//!   or 401 `invalid_client` with an `AADSTS7000215` description.
//! - `GET /users`, `/groups`: `{"@odata.context", "value", "@odata.nextLink"}` with
//!   `$skiptoken` links that keep the query, `$top` 1–999 (else 400 `Invalid page
//!   size specified`), `$select` (`id` always), `$expand=manager($select=id)`
//!   (pages of at most 100), `$count=true` (needs `ConsistencyLevel: eventual`)
//!   adding `@odata.count`.
//! - `GET /users/delta`, `/groups/delta`: delta rounds paged by
//!   `Prefer: odata.maxpagesize` (at most 200), ending in `@odata.deltaLink`
//!   (`$deltatoken`); a delta link returns the objects changed since it was issued
//!   and `{"id", "@removed": {"reason": "deleted"}}` for deleted ones; the
//!   `$select` of the first request is kept in the token. `$deltatoken=latest`
//!   returns only a delta link.
//! - Graph error bodies and the testkit's gates (bearer guard, faults, rate limits).
//!
//! Guesses where the facts are uncertain: an unknown delta token answers 400 (a
//! real one may answer 410 Gone); changed objects come back with every selected
//! property (Graph may send only the changed ones).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use chrono::{Duration as ChronoDuration, SecondsFormat, TimeZone, Utc};
use connector_testkit::fake::{
    AuthGuard, CollectionHandle, Envelope, ErrorStyle, FakeApi, FakeCollection, FakeReply,
    FakeRoute, PageInfo, Paging,
};
use connector_testkit::rng::SplitMix64;
use serde_json::{Map, Value, json};
use wiremock::Request;

/// The access token the fake's token endpoint issues and its API accepts.
pub const ACCESS_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.fake-graph-access-token";

/// How many objects to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Users.
    pub users: usize,
    /// Groups.
    pub groups: usize,
}

impl Scale {
    /// 15 users and 9 groups.
    pub fn small() -> Self {
        Self {
            users: 15,
            groups: 9,
        }
    }

    /// 2,000 users and 300 groups.
    pub fn demo() -> Self {
        Self {
            users: 2_000,
            groups: 300,
        }
    }
}

/// The objects the fake serves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FakeData {
    /// Users, each with `manager: {"id"}` unless at the top of the hierarchy
    /// (served only with `$expand=manager`).
    pub users: Vec<Value>,
    /// Groups.
    pub groups: Vec<Value>,
}

const FIRST: &[&str] = &[
    "Adele", "Alex", "Diego", "Grady", "Isaiah", "Johanna", "Joni", "Lee", "Lidia", "Lynne",
    "Megan", "Miriam", "Nestor", "Patti", "Pradeep",
];
const LAST: &[&str] = &[
    "Vance",
    "Wilber",
    "Siciliani",
    "Archie",
    "Langer",
    "Lauridsen",
    "Sherman",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Graham",
    "Wilke",
    "Fernandez",
    "Gupta",
];
const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "HR",
    "Legal",
    "Operations",
];
const TITLES: &[&str] = &[
    "Engineer",
    "Manager",
    "Analyst",
    "Director",
    "Designer",
    "Specialist",
];
const OFFICES: &[&str] = &[
    "18/2111", "20/1101", "131/1104", "12/1110", "Seattle", "Dublin",
];

fn guid(rng: &mut SplitMix64) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

impl FakeData {
    /// Generates `scale` objects deterministically from `seed`. Creation times
    /// increase with the position; every user but the first few has a manager
    /// earlier in the list.
    pub fn generate(scale: Scale, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let epoch = Utc
            .with_ymd_and_hms(2021, 3, 1, 9, 0, 0)
            .single()
            .unwrap_or_default();
        let at = |i: usize| {
            (epoch + ChronoDuration::hours(i as i64 * 7)).to_rfc3339_opts(SecondsFormat::Secs, true)
        };
        let mut users: Vec<Value> = Vec::with_capacity(scale.users);
        for i in 0..scale.users {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len() + i) % LAST.len()];
            let nick = format!(
                "{first}{}{}",
                &last[..1],
                if i < FIRST.len() {
                    String::new()
                } else {
                    i.to_string()
                }
            );
            let mut user = json!({
                "id": guid(&mut rng),
                "displayName": format!("{first} {last}"),
                "givenName": first,
                "surname": last,
                "userPrincipalName": format!("{nick}@contoso.onmicrosoft.com"),
                "mail": format!("{nick}@contoso.com"),
                "jobTitle": TITLES[rng.below(TITLES.len() as u64) as usize],
                "department": DEPARTMENTS[rng.below(DEPARTMENTS.len() as u64) as usize],
                "officeLocation": OFFICES[rng.below(OFFICES.len() as u64) as usize],
                "mobilePhone": if rng.chance(700) { json!(format!("+1 425 555 {:04}", i % 10_000)) } else { Value::Null },
                "businessPhones": [],
                "accountEnabled": rng.chance(950),
                "createdDateTime": at(i),
            });
            if i >= 3 {
                let manager = users[rng.below(i.min(3 + i / 4) as u64) as usize]["id"].clone();
                user["manager"] = json!({ "@odata.type": "#microsoft.graph.user", "id": manager });
            }
            users.push(user);
        }
        let groups = (0..scale.groups)
            .map(|i| {
                let dept = DEPARTMENTS[i % DEPARTMENTS.len()];
                let unified = i % 3 != 2;
                let name = if i < DEPARTMENTS.len() { format!("{dept} Team") } else { format!("{dept} Team {}", i / DEPARTMENTS.len() + 1) };
                let nick = name.replace(' ', "");
                json!({
                    "id": guid(&mut rng),
                    "displayName": name,
                    "description": format!("Everyone in {dept}"),
                    "mail": if unified { json!(format!("{nick}@contoso.com")) } else { Value::Null },
                    "mailEnabled": unified,
                    "mailNickname": nick,
                    "securityEnabled": !unified,
                    "groupTypes": if unified { json!(["Unified"]) } else { json!([]) },
                    "visibility": if unified { "Private" } else { "Public" },
                    "createdDateTime": at(i * 3 + 1),
                    "resourceProvisioningOptions": if i % 2 == 0 { json!(["Team"]) } else { json!([]) },
                })
            })
            .collect();
        Self { users, groups }
    }
}

/// A fake Graph tenant.
///
/// ```no_run
/// # async fn demo() {
/// use connector_msgraph::fake::{FakeData, FakeGraph, Scale};
/// let api = FakeGraph::new(FakeData::generate(Scale::small(), 1))
///     .client("app-id", "app-secret")
///     .start()
///     .await;
/// // settings: {"tenant_id": FakeGraph::TENANT, "authority": api.uri(), "base_url": api.uri()}
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct FakeGraph {
    data: FakeData,
    client_id: String,
    client_secret: String,
}

#[derive(Debug, Default)]
struct DeltaState {
    next: u64,
    /// token → (the round's `$select`, id → hash of the object).
    tokens: HashMap<String, (Option<String>, HashMap<String, u64>)>,
}

type Shared = Arc<Mutex<DeltaState>>;
type Handle = Arc<Mutex<Option<CollectionHandle>>>;

fn param(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn digest(item: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    item.to_string().hash(&mut h);
    h.finish()
}

fn id_of(item: &Value) -> String {
    item.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `$select` (with `id`) and `$expand=manager`.
fn project(item: &Value, select: Option<&str>, expand_manager: bool) -> Value {
    let Value::Object(obj) = item else {
        return item.clone();
    };
    let fields: Option<Vec<&str>> = select.map(|s| s.split(',').map(str::trim).collect());
    let mut out = Map::new();
    for (k, v) in obj {
        let keep = if k == "manager" {
            expand_manager
        } else {
            k == "id" || fields.as_ref().is_none_or(|f| f.contains(&k.as_str()))
        };
        if keep {
            let v = if k == "manager" {
                json!({ "@odata.type": "#microsoft.graph.user", "id": v.get("id").cloned().unwrap_or(Value::Null) })
            } else {
                v.clone()
            };
            out.insert(k.clone(), v);
        }
    }
    Value::Object(out)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn is_delta(request: &Request) -> bool {
    request.url.path().ends_with("/delta")
}

fn select(state: &Shared, request: &Request, items: Vec<Value>) -> Result<Vec<Value>, String> {
    if !is_delta(request) {
        if param(request, "$count").as_deref() == Some("true")
            && request
                .headers
                .get("consistencylevel")
                .and_then(|v| v.to_str().ok())
                != Some("eventual")
        {
            return Err(
                "$count on directory objects requires the header ConsistencyLevel: eventual"
                    .to_owned(),
            );
        }
        let expand = param(request, "$expand").is_some_and(|e| e.starts_with("manager"));
        let select = param(request, "$select");
        return Ok(items
            .iter()
            .map(|i| project(i, select.as_deref(), expand))
            .collect());
    }
    match param(request, "$deltatoken") {
        None => {
            let select = param(request, "$select");
            Ok(items
                .iter()
                .map(|i| project(i, select.as_deref(), false))
                .collect())
        }
        Some(token) if token == "latest" => Ok(Vec::new()),
        Some(token) => {
            let state = lock(state);
            let (select, before) = state.tokens.get(&token).ok_or_else(|| {
                format!("the delta token `{token}` is not valid for this resource")
            })?;
            let mut out: Vec<Value> = items
                .iter()
                .filter(|i| before.get(&id_of(i)) != Some(&digest(i)))
                .map(|i| project(i, select.as_deref(), false))
                .collect();
            let now: std::collections::HashSet<String> = items.iter().map(id_of).collect();
            let mut gone: Vec<&String> = before.keys().filter(|id| !now.contains(*id)).collect();
            gone.sort();
            out.extend(
                gone.into_iter()
                    .map(|id| json!({ "id": id, "@removed": { "reason": "deleted" } })),
            );
            Ok(out)
        }
    }
}

fn decorate(state: &Shared, handle: &Handle, request: &Request, page: &PageInfo, body: &mut Value) {
    if !is_delta(request) {
        if param(request, "$count").as_deref() == Some("true") {
            body["@odata.count"] = json!(page.total);
        }
        return;
    }
    if page.has_next {
        return;
    }
    let items = lock(handle)
        .as_ref()
        .map(CollectionHandle::items)
        .unwrap_or_default();
    let mut state = lock(state);
    let select = match param(request, "$deltatoken") {
        Some(t) => state.tokens.get(&t).and_then(|(s, _)| s.clone()),
        None => param(request, "$select"),
    };
    state.next += 1;
    let token = format!(
        "dt{:06}{:08x}",
        state.next,
        digest(&json!(state.next)) as u32
    );
    let snapshot = items.iter().map(|i| (id_of(i), digest(i))).collect();
    state.tokens.insert(token.clone(), (select, snapshot));
    body["@odata.deltaLink"] = json!(format!(
        "{}{}?$deltatoken={token}",
        page.base,
        request.url.path()
    ));
}

fn page_size(request: &Request) -> Result<Option<u32>, String> {
    if is_delta(request) {
        let prefer = request
            .headers
            .get("prefer")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let size = prefer
            .split(',')
            .filter_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
            .find_map(|n| n.trim().parse::<u32>().ok());
        return Ok(size.map(|n| n.clamp(1, 200)));
    }
    let expand = param(request, "$expand").is_some();
    match param(request, "$top") {
        None => Ok(None),
        Some(raw) => match raw.parse::<u32>() {
            Ok(n @ 1..=999) => Ok(Some(if expand { n.min(100) } else { n })),
            _ => Err(format!(
                "Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive."
            )),
        },
    }
}

impl FakeGraph {
    /// The tenant the fake's token endpoint serves.
    pub const TENANT: &'static str = "contoso.onmicrosoft.com";

    /// A fake serving `data`; the app `fake-client-id` / `fake-client-secret`.
    pub fn new(data: FakeData) -> Self {
        Self {
            data,
            client_id: "fake-client-id".to_owned(),
            client_secret: "fake-client-secret".to_owned(),
        }
    }

    /// Accepts the app `client_id` with `client_secret` at the token endpoint.
    pub fn client(mut self, client_id: &str, client_secret: &str) -> Self {
        self.client_id = client_id.to_owned();
        self.client_secret = client_secret.to_owned();
        self
    }

    /// Starts the fake on 127.0.0.1 (inside a tokio runtime): the token endpoint
    /// and the `user` and `group` collections (each also served at its `/delta`).
    pub async fn start(self) -> FakeApi {
        let api = FakeApi::builder()
            .auth(AuthGuard::bearer(ACCESS_TOKEN))
            .errors(ErrorStyle::Graph)
            .start()
            .await;
        let (client_id, secret) = (self.client_id, self.client_secret);
        FakeRoute::new("POST", "token", format!("/{}/oauth2/v2.0/token", Self::TENANT), move |request| {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body).into_owned().collect();
            let field = |k: &str| form.get(k).map(String::as_str);
            if field("grant_type") != Some("client_credentials") {
                return FakeReply::json(400, &json!({"error": "unsupported_grant_type", "error_description": "AADSTS70003: The app requested an unsupported grant type."}));
            }
            if !field("scope").is_some_and(|s| s.ends_with("/.default")) {
                return FakeReply::json(400, &json!({"error": "invalid_scope", "error_description": "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier."}));
            }
            if field("client_id") != Some(client_id.as_str()) || field("client_secret") != Some(secret.as_str()) {
                return FakeReply::json(401, &json!({
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: 00000000-0000-0000-0000-000000000000",
                    "error_codes": [7000215],
                    "timestamp": "2024-01-15 10:22:33Z",
                    "trace_id": "00000000-0000-0000-0000-000000000000",
                    "correlation_id": "00000000-0000-0000-0000-000000000001"
                }));
            }
            FakeReply::json(200, &json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": ACCESS_TOKEN}))
        })
        .auth(None)
        .mount(&api)
        .await;
        for (name, path, items) in [
            ("user", "/users", self.data.users),
            ("group", "/groups", self.data.groups),
        ] {
            let state: Shared = Arc::default();
            let handle: Handle = Arc::default();
            let (s1, s2, h2) = (Arc::clone(&state), Arc::clone(&state), Arc::clone(&handle));
            let mounted = FakeCollection::new(name, format!("{path}/delta"), items)
                .also_at(path)
                .paging(Paging::NextUrl {
                    next_path: "@odata.nextLink".to_owned(),
                    token_param: "$skiptoken".to_owned(),
                    size_param: None,
                })
                .envelope(Envelope::OData)
                .page_size(100)
                .updated_field("createdDateTime")
                .page_size_from(page_size)
                .query(move |request, items| select(&s1, request, items))
                .decorate(move |request, page, body, _headers| {
                    decorate(&s2, &h2, request, page, body)
                })
                .mount(&api)
                .await;
            match mounted {
                Ok(h) => *lock(&handle) = Some(h),
                Err(e) => tracing::error!("fake Graph collection `{name}` did not mount: {e}"),
            }
        }
        api
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_users_have_earlier_managers() {
        let d = FakeData::generate(Scale::small(), 3);
        assert_eq!(d, FakeData::generate(Scale::small(), 3));
        let ids: Vec<String> = d.users.iter().map(id_of).collect();
        for (i, u) in d.users.iter().enumerate() {
            if let Some(m) = u.pointer("/manager/id").and_then(Value::as_str) {
                let at = ids.iter().position(|id| id == m).expect("manager exists");
                assert!(at < i);
            }
        }
        assert!(
            d.users
                .iter()
                .filter(|u| u.get("manager").is_some())
                .count()
                >= 10
        );
    }
}
