//! The records the benchmarks read: GitHub issues (for whole syncs and mapping) and
//! ServiceNow `cmdb_ci_appl` rows (for mapping), generated deterministically.

use serde_json::{Value, json};

/// Records per page in every whole-sync benchmark.
pub const PAGE_SIZE: usize = 100;

const LABELS: [&str; 6] = ["bug", "enhancement", "question", "p1", "p2", "docs"];

/// The `i`-th GitHub issue, shaped like `GET /repos/{owner}/{repo}/issues`
/// returns it: id, number, title, state, nested user, a labels array, creation and
/// update timestamps and a body of about 150 characters.
pub fn issue(i: u64) -> Value {
    let day = 1 + i % 28;
    let hour = i % 24;
    let labels: Vec<Value> = (0..(i % 3) as usize)
        .map(|k| {
            let name = LABELS[(i as usize + k) % LABELS.len()];
            json!({ "id": 208045946 + (i + k as u64) % 6, "name": name })
        })
        .collect();
    json!({
        "id": 1_000_000_000 + i,
        "number": i + 1,
        "title": format!("Sync stalls after page {} when the token rotates", i % 997),
        "state": if i.is_multiple_of(3) { "closed" } else { "open" },
        "user": { "login": format!("octocat{}", i % 500), "id": 583231 + i % 500 },
        "labels": labels,
        "comments": i % 17,
        "created_at": format!("2024-01-{day:02}T{hour:02}:15:00Z"),
        "updated_at": format!("2024-02-{day:02}T{hour:02}:45:30Z"),
        "body": format!(
            "Steps to reproduce: run a full import of issue {i} against the staging \
             tenant, then rotate the token mid-way. Expected: the sync resumes from the last checkpoint."
        ),
    })
}

/// The `i`-th GitHub issue as the REST API really returns it: [`issue`]'s fields
/// plus the ~20 others a mapping rarely reads (URLs, node ids, `reactions`,
/// `author_association`, ...) and the author as the full 18-field user object;
/// each label with all 7 fields. About 3 KB of JSON.
pub fn issue_full_api(i: u64) -> Value {
    let mut issue = issue(i);
    let repo = "https://api.github.com/repos/acme/widgets";
    let number = i + 1;
    let user = |login: &str, id: u64| {
        let url = format!("https://api.github.com/users/{login}");
        json!({
            "login": login, "id": id, "node_id": format!("MDQ6VXNlcj{id}"),
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
            "gravatar_id": "", "url": url, "html_url": format!("https://github.com/{login}"),
            "followers_url": format!("{url}/followers"),
            "following_url": format!("{url}/following{{/other_user}}"),
            "gists_url": format!("{url}/gists{{/gist_id}}"),
            "starred_url": format!("{url}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{url}/subscriptions"),
            "organizations_url": format!("{url}/orgs"), "repos_url": format!("{url}/repos"),
            "events_url": format!("{url}/events{{/privacy}}"),
            "received_events_url": format!("{url}/received_events"),
            "type": "User", "site_admin": false
        })
    };
    let login = format!("octocat{}", i % 500);
    let Some(object) = issue.as_object_mut() else {
        return issue;
    };
    object.insert("user".into(), user(&login, 583231 + i % 500));
    if let Some(Value::Array(labels)) = object.get_mut("labels") {
        for label in labels.iter_mut() {
            let name = label["name"].as_str().unwrap_or_default().to_owned();
            *label = json!({
                "id": label["id"], "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
                "url": format!("{repo}/labels/{name}"), "name": name,
                "color": "f29513", "default": name == "bug",
                "description": format!("Issues labelled {name}")
            });
        }
    }
    for (key, value) in [
        ("url", json!(format!("{repo}/issues/{number}"))),
        ("repository_url", json!(repo)),
        (
            "labels_url",
            json!(format!("{repo}/issues/{number}/labels{{/name}}")),
        ),
        (
            "comments_url",
            json!(format!("{repo}/issues/{number}/comments")),
        ),
        (
            "events_url",
            json!(format!("{repo}/issues/{number}/events")),
        ),
        (
            "html_url",
            json!(format!("https://github.com/acme/widgets/issues/{number}")),
        ),
        ("node_id", json!(format!("MDU6SXNzdWUx{i}"))),
        ("locked", json!(false)),
        ("assignee", Value::Null),
        ("assignees", json!([])),
        ("milestone", Value::Null),
        ("closed_at", Value::Null),
        ("author_association", json!("CONTRIBUTOR")),
        ("active_lock_reason", Value::Null),
        (
            "reactions",
            json!({
                "url": format!("{repo}/issues/{number}/reactions"), "total_count": i % 5,
                "+1": i % 3, "-1": 0, "laugh": 0, "hooray": 0, "confused": 0, "heart": i % 2,
                "rocket": 0, "eyes": 0
            }),
        ),
        (
            "timeline_url",
            json!(format!("{repo}/issues/{number}/timeline")),
        ),
        ("performed_via_github_app", Value::Null),
        ("state_reason", Value::Null),
    ] {
        object.insert(key.into(), value);
    }
    issue
}

/// The items of page `page` (0-based) as a JSON array, `PAGE_SIZE` issues with ids
/// `page * PAGE_SIZE ..`.
pub fn issue_page_items(page: u64) -> Vec<u8> {
    let start = page * PAGE_SIZE as u64;
    let items: Vec<Value> = (start..start + PAGE_SIZE as u64).map(issue).collect();
    serde_json::to_vec(&items).unwrap_or_default()
}

/// The `i`-th ServiceNow application row, as the Table API returns it with
/// `sysparm_fields=...,owned_by.email,cost_cc.cost_center` and no display values
/// (the shape of connector-core's mapping tests).
pub fn servicenow_app(i: u64) -> Value {
    let id = format!("0a5b6f1bdb3e2010a4b0f4d8{i:08x}");
    let status = ["1", "2", "3", "6"][(i % 4) as usize];
    json!({
        "sys_id": id,
        "sys_class_name": "cmdb_ci_appl",
        "name": format!("Payroll {i}"),
        "short_description": "Monthly payroll processing",
        "owned_by": {
            "link": "https://acme.service-now.com/api/now/table/sys_user/62826bf03710200044e0bfc8bcbe5df1",
            "value": "62826bf03710200044e0bfc8bcbe5df1"
        },
        "owned_by.email": "abel.tuter@acme.example",
        "operational_status": status,
        "u_criticality": "2",
        "cost_cc.cost_center": "CC-4100",
        "install_status": "6",
        "version": "12.4.1",
        "vendor": {
            "link": "https://acme.service-now.com/api/now/table/core_company/b7e7d7d8c0a8016900a5d7f291acce5c",
            "value": "b7e7d7d8c0a8016900a5d7f291acce5c"
        },
        "depends_on": [
            {
                "link": "https://acme.service-now.com/api/now/table/cmdb_ci_appl/3a27d8c7c0a8000b00c5dd5b7c10a1b2",
                "value": "3a27d8c7c0a8000b00c5dd5b7c10a1b2"
            },
            {
                "link": "https://acme.service-now.com/api/now/table/cmdb_ci_appl/df2a7e1cdb3e2010a4b0f4d8f49619aa",
                "value": "df2a7e1cdb3e2010a4b0f4d8f49619aa"
            }
        ],
        "used_by": {
            "link": "https://acme.service-now.com/api/now/table/cmdb_ci_service/27d32778c0a8000b00db970eeaa60f16",
            "value": "27d32778c0a8000b00db970eeaa60f16"
        },
        "sys_created_on": "2021-03-04 08:15:00",
        "sys_updated_on": "2024-01-15 10:30:45",
        "sys_updated_by": "admin"
    })
}
