//! The authorization matrix: every route the node serves (read from the
//! node's own route table, so a new route that is missing here fails this
//! test), called by every kind of caller, with the answer checked against
//! what this file says the route needs. Objects in paths belong to the
//! first organization and are made fresh for each call, so an allowed
//! call that deletes one does not change what the next caller sees.
//!
//! Also, for every route: the security headers are on the answer, nothing
//! answers 5xx, and every route that takes a body refuses one over its
//! limit with 413.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::{csrf_of, Browser, TestApp, PASSWORD};
use openseer_core::clock::system_now_ms;
use openseer_protocol::{Role, Scope};
use openseer_store::{NewApiToken, NewEnrollmentToken, NewUser};

const METRICS_TOKEN: &str = "metrics-token-0123456789";

/// What a route needs, as this test (not the node) states it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    /// Anyone, signed in or not (the route may still answer 404/410).
    Public,
    /// A dashboard session of a member with at least this role.
    Page(Role),
    /// As `Page`, and the password (and second factor) given in the last
    /// 10 minutes; signing in counts. Otherwise the node asks for it again.
    PageReauth(Role),
    /// A session of an owner or admin of the instance's first organization.
    Operator,
    /// A user API caller with at least this role and token scope.
    Api(Role, Scope),
    /// A worker token.
    Worker,
    /// An enrollment token in the body (no caller here has one).
    Enrollment,
    /// The configured metrics token (no caller here has it).
    MetricsToken,
    /// The cluster secret (this node is not in a cluster: nobody).
    ClusterSecret,
}

/// The object a path's `{...}` names, made fresh in the first organization.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Object {
    None,
    Monitor,
    EnrollmentToken,
    Worker,
    Node,
    ApiToken,
    Member,
    Invitation,
    Asset,
    Incident,
    Channel,
    Maintenance,
}

use Need::*;
use Object as O;

/// Every route: (method, path) -> (need, object in the path).
fn matrix() -> BTreeMap<(&'static str, &'static str), (Need, Object)> {
    let v = Role::Viewer;
    let e = Role::Editor;
    let a = Role::Admin;
    [
        (("GET", "/healthz"), (Public, O::None)),
        (("GET", "/readyz"), (Public, O::None)),
        (("GET", "/metrics"), (MetricsToken, O::None)),
        (("GET", "/events"), (Page(v), O::None)),
        (("GET", "/"), (Page(v), O::None)),
        (("GET", "/overview/counts"), (Page(v), O::None)),
        (("GET", "/overview/incidents"), (Page(v), O::None)),
        (("GET", "/incidents"), (Page(v), O::None)),
        (("GET", "/incidents/{id}"), (Page(v), O::Incident)),
        (("POST", "/incidents/{id}/ack"), (Page(e), O::Incident)),
        (("POST", "/incidents/{id}/notes"), (Page(e), O::Incident)),
        (("GET", "/channels"), (Page(a), O::None)),
        (("GET", "/channels/new"), (Page(a), O::None)),
        (("POST", "/channels"), (Page(a), O::None)),
        (("GET", "/channels/{id}"), (Page(a), O::Channel)),
        (("POST", "/channels/{id}"), (Page(a), O::Channel)),
        (("POST", "/channels/{id}/delete"), (Page(a), O::Channel)),
        (("POST", "/channels/{id}/test"), (Page(a), O::Channel)),
        (("GET", "/setup"), (Public, O::None)),
        (("POST", "/setup"), (Public, O::None)),
        (("GET", "/login"), (Public, O::None)),
        (("POST", "/login"), (Public, O::None)),
        (("GET", "/login/2fa"), (Public, O::None)),
        (("POST", "/login/2fa"), (Public, O::None)),
        (("GET", "/reauth"), (Page(v), O::None)),
        (("POST", "/reauth"), (Page(v), O::None)),
        (("POST", "/logout"), (Page(v), O::None)),
        (("GET", "/invite"), (Public, O::None)),
        (("POST", "/invite"), (Public, O::None)),
        (("POST", "/orgs"), (Page(v), O::None)),
        (("POST", "/orgs/switch"), (Page(v), O::None)),
        (("GET", "/monitors/new"), (Page(e), O::None)),
        (("POST", "/monitors"), (Page(e), O::None)),
        (("POST", "/monitors/test"), (Page(e), O::None)),
        (("GET", "/monitors/{id}"), (Page(v), O::Monitor)),
        (("GET", "/monitors/{id}/summary"), (Page(v), O::Monitor)),
        (("POST", "/monitors/{id}"), (Page(e), O::Monitor)),
        (("GET", "/monitors/{id}/edit"), (Page(e), O::Monitor)),
        (("POST", "/monitors/{id}/pause"), (Page(e), O::Monitor)),
        (("POST", "/monitors/{id}/check"), (Page(e), O::Monitor)),
        (("POST", "/monitors/{id}/resume"), (Page(e), O::Monitor)),
        (("POST", "/monitors/{id}/delete"), (Page(e), O::Monitor)),
        (("GET", "/workers"), (Page(v), O::None)),
        (
            ("POST", "/workers/enrollment-tokens"),
            (PageReauth(a), O::None),
        ),
        (
            ("POST", "/workers/enrollment-tokens/{id}/revoke"),
            (Page(a), O::EnrollmentToken),
        ),
        (("POST", "/workers/{id}/revoke"), (PageReauth(a), O::Worker)),
        (("GET", "/cluster"), (Operator, O::None)),
        (("POST", "/cluster/nodes/{id}/leave"), (Operator, O::Node)),
        (("GET", "/settings/tokens"), (Page(v), O::None)),
        (("POST", "/settings/tokens"), (PageReauth(v), O::None)),
        (
            ("POST", "/settings/tokens/{id}/revoke"),
            (Page(v), O::ApiToken),
        ),
        (("GET", "/settings/profile"), (Page(v), O::None)),
        (("POST", "/settings/profile"), (Page(v), O::None)),
        (("POST", "/settings/password"), (PageReauth(v), O::None)),
        (("GET", "/settings/2fa"), (Page(v), O::None)),
        (("POST", "/settings/2fa/setup"), (PageReauth(v), O::None)),
        (("POST", "/settings/2fa/enable"), (Page(v), O::None)),
        (("POST", "/settings/2fa/disable"), (PageReauth(v), O::None)),
        (
            ("POST", "/settings/2fa/recovery-codes"),
            (PageReauth(v), O::None),
        ),
        (("GET", "/settings/members"), (Page(v), O::None)),
        (
            ("POST", "/settings/members/{user_id}/role"),
            (PageReauth(a), O::Member),
        ),
        (
            ("POST", "/settings/members/{user_id}/remove"),
            (PageReauth(a), O::Member),
        ),
        (("POST", "/settings/invitations"), (PageReauth(a), O::None)),
        (
            ("POST", "/settings/invitations/{id}/revoke"),
            (Page(a), O::Invitation),
        ),
        (("GET", "/settings/organization"), (Page(a), O::None)),
        (("POST", "/settings/organization"), (PageReauth(a), O::None)),
        (("GET", "/settings/audit"), (Page(a), O::None)),
        (("GET", "/static/{name}"), (Public, O::Asset)),
        (("GET", "/api/v1/monitors"), (Api(v, Scope::Read), O::None)),
        (
            ("POST", "/api/v1/monitors"),
            (Api(e, Scope::Write), O::None),
        ),
        (
            ("GET", "/api/v1/monitors/{id}"),
            (Api(v, Scope::Read), O::Monitor),
        ),
        (
            ("PUT", "/api/v1/monitors/{id}"),
            (Api(e, Scope::Write), O::Monitor),
        ),
        (
            ("PATCH", "/api/v1/monitors/{id}"),
            (Api(e, Scope::Write), O::Monitor),
        ),
        (
            ("DELETE", "/api/v1/monitors/{id}"),
            (Api(e, Scope::Write), O::Monitor),
        ),
        (
            ("GET", "/api/v1/monitors/{id}/results"),
            (Api(v, Scope::Read), O::Monitor),
        ),
        (
            ("GET", "/api/v1/monitors/{id}/stats"),
            (Api(v, Scope::Read), O::Monitor),
        ),
        (
            ("GET", "/api/v1/monitors/{id}/series"),
            (Api(v, Scope::Read), O::Monitor),
        ),
        (("GET", "/api/v1/members"), (Api(v, Scope::Read), O::None)),
        (("GET", "/api/v1/incidents"), (Api(v, Scope::Read), O::None)),
        (
            ("GET", "/api/v1/incidents/{id}"),
            (Api(v, Scope::Read), O::Incident),
        ),
        (
            ("POST", "/api/v1/incidents/{id}/ack"),
            (Api(e, Scope::Write), O::Incident),
        ),
        (
            ("POST", "/api/v1/incidents/{id}/notes"),
            (Api(e, Scope::Write), O::Incident),
        ),
        (("GET", "/api/v1/channels"), (Api(a, Scope::Read), O::None)),
        (
            ("POST", "/api/v1/channels"),
            (Api(a, Scope::Admin), O::None),
        ),
        (
            ("GET", "/api/v1/channels/{id}"),
            (Api(a, Scope::Read), O::Channel),
        ),
        (
            ("PUT", "/api/v1/channels/{id}"),
            (Api(a, Scope::Admin), O::Channel),
        ),
        (
            ("DELETE", "/api/v1/channels/{id}"),
            (Api(a, Scope::Admin), O::Channel),
        ),
        (
            ("POST", "/api/v1/channels/{id}/test"),
            (Api(a, Scope::Admin), O::Channel),
        ),
        (
            ("GET", "/api/v1/monitors/{id}/channels"),
            (Api(v, Scope::Read), O::Monitor),
        ),
        (
            ("PUT", "/api/v1/monitors/{id}/channels"),
            (Api(e, Scope::Write), O::Monitor),
        ),
        (("GET", "/overview/maintenance"), (Page(v), O::None)),
        (("GET", "/maintenance"), (Page(v), O::None)),
        (("POST", "/maintenance"), (Page(e), O::None)),
        (
            ("POST", "/maintenance/{id}/delete"),
            (Page(e), O::Maintenance),
        ),
        (
            ("GET", "/api/v1/maintenance"),
            (Api(v, Scope::Read), O::None),
        ),
        (
            ("POST", "/api/v1/maintenance"),
            (Api(e, Scope::Write), O::None),
        ),
        (
            ("GET", "/api/v1/maintenance/{id}"),
            (Api(v, Scope::Read), O::Maintenance),
        ),
        (
            ("PUT", "/api/v1/maintenance/{id}"),
            (Api(e, Scope::Write), O::Maintenance),
        ),
        (
            ("DELETE", "/api/v1/maintenance/{id}"),
            (Api(e, Scope::Write), O::Maintenance),
        ),
        (("GET", "/api/v1/audit"), (Api(a, Scope::Admin), O::None)),
        (("POST", "/api/worker/v1/enroll"), (Enrollment, O::None)),
        (("POST", "/api/worker/v1/jobs"), (Worker, O::None)),
        (("POST", "/api/worker/v1/results"), (Worker, O::None)),
        (("POST", "/api/worker/v1/leases/renew"), (Worker, O::None)),
        (
            ("POST", "/cluster/v1/raft/append"),
            (ClusterSecret, O::None),
        ),
        (("POST", "/cluster/v1/raft/vote"), (ClusterSecret, O::None)),
        (
            ("POST", "/cluster/v1/raft/snapshot"),
            (ClusterSecret, O::None),
        ),
        (("POST", "/cluster/v1/join"), (ClusterSecret, O::None)),
        (("POST", "/cluster/v1/leave"), (ClusterSecret, O::None)),
        (("POST", "/cluster/v1/drain"), (ClusterSecret, O::None)),
        (("GET", "/cluster/v1/state"), (ClusterSecret, O::None)),
    ]
    .into_iter()
    .collect()
}

/// Routes after which the caller's session is different (signed out, in
/// another organization): callers sign in again before each.
const RESETS: &[&str] = &["/logout", "/orgs", "/orgs/switch"];
/// Routes whose calls here are failed sign-ins: they run last, since
/// enough of them throttle this client's address.
const SIGN_INS: &[&str] = &["/login", "/login/2fa"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Anonymous,
    WorkerToken,
    Member(Role),
    OtherOrganization,
    ExpiredToken,
    RevokedToken,
    /// The owner's token with the read scope: the scope, not the role, limits.
    ReadToken,
}

struct Caller {
    kind: Kind,
    email: &'static str,
    user_id: i64,
    /// A session (cookie jar) for pages.
    session: Option<Browser>,
    csrf: String,
    /// A bearer token for the API (and, to be refused, for everything else).
    token: Option<String>,
}

impl Caller {
    async fn sign_in(&mut self, app: &TestApp) {
        if self.session.is_none() {
            return;
        }
        let b = Browser::new(app);
        assert_eq!(b.login(self.email, PASSWORD).await, 303, "{}", self.email);
        self.csrf = csrf_of(&b.get("/settings/profile").await.1);
        self.session = Some(b);
    }
}

async fn user_token(
    app: &TestApp,
    user_id: i64,
    org_id: i64,
    scope: Scope,
    expires_at: Option<i64>,
) -> (i64, String) {
    let t = openseer_node::auth::token::generate(openseer_protocol::token::TokenKind::User);
    let id = app
        .store
        .create_api_token(
            NewApiToken {
                org_id,
                user_id,
                name: "matrix",
                token_hash: &openseer_node::auth::token::hash(&t),
                scope,
                expires_at,
            },
            system_now_ms(),
        )
        .await
        .unwrap();
    (id, t)
}

async fn callers(app: &TestApp) -> Vec<Caller> {
    app.setup_admin("owner@example.com").await;
    let mut out = Vec::new();
    let member = |kind, email, user_id| Caller {
        kind,
        email,
        user_id,
        session: Some(Browser::new(app)),
        csrf: String::new(),
        token: None,
    };
    for (role, email) in [
        (Role::Viewer, "viewer@example.com"),
        (Role::Editor, "editor@example.com"),
        (Role::Admin, "admin@example.com"),
    ] {
        let hash = openseer_node::auth::password::hash(PASSWORD).unwrap();
        let u = app
            .store
            .create_member(
                1,
                NewUser {
                    email,
                    name: "M",
                    password_hash: &hash,
                },
                role,
                system_now_ms(),
            )
            .await
            .unwrap();
        out.push(member(Kind::Member(role), email, u.id));
    }
    out.push(member(Kind::Member(Role::Owner), "owner@example.com", 1));
    app.other_org_admin("other@example.com").await;
    let other = app
        .store
        .user_by_email("other@example.com")
        .await
        .unwrap()
        .unwrap();
    out.push(member(
        Kind::OtherOrganization,
        "other@example.com",
        other.id,
    ));
    for c in &mut out {
        c.sign_in(app).await;
        let org = if c.kind == Kind::OtherOrganization {
            2
        } else {
            1
        };
        c.token = Some(user_token(app, c.user_id, org, Scope::Admin, None).await.1);
    }
    let bearer = |kind, token: String| Caller {
        kind,
        email: "",
        user_id: 1,
        session: None,
        csrf: String::new(),
        token: Some(token),
    };
    let expired = user_token(app, 1, 1, Scope::Admin, Some(system_now_ms() - 1))
        .await
        .1;
    let (revoked_id, revoked) = user_token(app, 1, 1, Scope::Admin, None).await;
    app.store
        .revoke_api_token(1, 1, revoked_id, system_now_ms())
        .await
        .unwrap();
    let read = user_token(app, 1, 1, Scope::Read, None).await.1;
    // A worker of the first organization.
    let enroll = app.enrollment_token(out[3].session.as_ref().unwrap()).await;
    let w: openseer_protocol::wire::EnrollResponse = common::enroll(&app.base, &enroll, "eu")
        .await
        .json()
        .await
        .unwrap();
    out.push(bearer(Kind::ExpiredToken, expired));
    out.push(bearer(Kind::RevokedToken, revoked));
    out.push(bearer(Kind::ReadToken, read));
    out.push(bearer(Kind::WorkerToken, w.api_token));
    out.push(Caller {
        kind: Kind::Anonymous,
        email: "",
        user_id: 0,
        session: None,
        csrf: String::new(),
        token: None,
    });
    out
}

/// Whether `caller` may use a route that needs `need` on `object`.
fn allowed(caller: Kind, need: Need, object: Object) -> bool {
    let own_org_object = object == O::None || object == O::Asset;
    match (need, caller) {
        (Public, _) => true,
        (Page(r) | PageReauth(r), Kind::Member(mine)) => mine >= r,
        // An admin of another organization, in their own: allowed where the
        // route names no object of ours.
        (Page(r) | PageReauth(r), Kind::OtherOrganization) => own_org_object && Role::Admin >= r,
        (Operator, Kind::Member(mine)) => mine >= Role::Admin,
        (Api(r, _), Kind::Member(mine)) => mine >= r,
        (Api(_, _), Kind::OtherOrganization) => own_org_object,
        (Api(_, s), Kind::ReadToken) => s == Scope::Read,
        (Worker, Kind::WorkerToken) => true,
        _ => false,
    }
}

/// The path with its parameter filled with a fresh object.
async fn concrete(app: &TestApp, path: &str, object: Object, caller: &Caller) -> String {
    let now = system_now_ms();
    let id = match object {
        O::None => return path.to_string(),
        O::Asset => return path.replace("{name}", "app.css"),
        O::Node => 1,
        O::Monitor => {
            let input: openseer_protocol::MonitorInput = serde_json::from_value(
                serde_json::json!({"name": "fixture", "url": "http://127.0.0.1:9/", "interval_seconds": 3600}),
            )
            .unwrap();
            app.store
                .create_monitor(1, &input.validate().unwrap(), now)
                .await
                .unwrap()
                .id
        }
        O::EnrollmentToken | O::Worker => {
            let hash = openseer_node::auth::token::random_hex(16);
            let id = app
                .store
                .create_enrollment_token(
                    NewEnrollmentToken {
                        org_id: 1,
                        name: "fixture",
                        token_hash: &hash,
                        expires_at: None,
                        max_uses: None,
                    },
                    now,
                )
                .await
                .unwrap();
            if object == O::EnrollmentToken {
                id
            } else {
                let wt = openseer_node::auth::token::random_hex(16);
                app.store
                    .enroll_worker(&hash, "fixture", "eu", "t", "{}", &wt, now)
                    .await
                    .unwrap()
                    .unwrap()
                    .0
            }
        }
        // One's own token, or (for callers outside the organization) the owner's.
        O::ApiToken => {
            let user = match caller.kind {
                Kind::Member(_) => caller.user_id,
                _ => 1,
            };
            user_token(app, user, 1, Scope::Read, None).await.0
        }
        O::Member => {
            let email = format!(
                "fixture-{}@example.com",
                openseer_node::auth::token::random_hex(4)
            );
            app.store
                .create_member(
                    1,
                    NewUser {
                        email: &email,
                        name: "F",
                        password_hash: "x",
                    },
                    Role::Editor,
                    now,
                )
                .await
                .unwrap()
                .id
        }
        O::Incident => {
            let input: openseer_protocol::MonitorInput = serde_json::from_value(
                serde_json::json!({"name": "fixture", "url": "http://127.0.0.1:9/", "interval_seconds": 3600}),
            )
            .unwrap();
            let m = app
                .store
                .create_monitor(1, &input.validate().unwrap(), now)
                .await
                .unwrap();
            let t = openseer_store::NewTransition {
                monitor_id: m.id,
                org_id: 1,
                monitor_name: m.name.clone(),
                expected_version: 0,
                tick: now,
                change: openseer_store::Change::Open {
                    started_at: now,
                    cause: "{\"regions\":[]}".into(),
                    summary: "fixture".into(),
                },
                now,
            };
            match app.store.apply_transition(&t).await.unwrap() {
                openseer_store::Applied::Done { incident_id, .. } => incident_id,
                other => panic!("fixture incident: {other:?}"),
            }
        }
        O::Channel => {
            let input = openseer_protocol::channel::ChannelInput {
                name: format!("fixture {}", openseer_node::auth::token::random_hex(4)),
                default_for_new_monitors: false,
                settings: openseer_protocol::channel::ChannelSettings::Slack {
                    webhook_url: "http://127.0.0.1:9/hook".into(),
                },
            };
            app.store.create_channel(1, &input, now).await.unwrap().id
        }
        O::Maintenance => {
            let input = openseer_protocol::maintenance::MaintenanceInput {
                name: "fixture".into(),
                schedule: openseer_protocol::maintenance::Schedule::Once {
                    starts_at_ms: now,
                    ends_at_ms: now + 60_000,
                },
                all_monitors: true,
                monitors: vec![],
            };
            app.store
                .create_maintenance(1, &input, now)
                .await
                .unwrap()
                .id
        }
        O::Invitation => {
            let hash = openseer_node::auth::token::random_hex(16);
            app.store
                .create_invitation(1, Role::Viewer, None, &hash, 1, now, now + 86_400_000)
                .await
                .unwrap()
        }
    };
    path.replace("{id}", &id.to_string())
        .replace("{user_id}", &id.to_string())
}

/// A body an allowed caller may send without harm: valid where that is
/// harmless, invalid (422) where a valid one would change credentials.
fn form_fields(path: &str, org_id: i64) -> Vec<(&'static str, String)> {
    let s = |v: &str| v.to_string();
    let monitor = vec![
        ("name", s("matrix")),
        ("url", s("http://127.0.0.1:9/")),
        ("method", s("GET")),
        ("interval_seconds", s("3600")),
        ("timeout_ms", s("1000")),
        ("expected_status", s("200-399")),
    ];
    match path {
        "/monitors" => monitor,
        "/monitors/test" => vec![("name", s("")), ("url", s("not a url"))],
        p if p.starts_with("/monitors/") && p.matches('/').count() == 2 => monitor,
        "/reauth" => vec![("password", s(PASSWORD)), ("next", s("/"))],
        "/orgs" => vec![("name", s("Matrix Org"))],
        "/orgs/switch" => vec![("org_id", org_id.to_string())],
        "/settings/tokens" => vec![("name", s("m")), ("scope", s("read"))],
        "/settings/profile" => vec![("name", s("M"))],
        "/settings/password" => vec![
            ("current_password", s(PASSWORD)),
            ("new_password", s("one new passphrase here")),
            ("confirm_password", s("a different one entirely")),
        ],
        "/settings/2fa/enable" => vec![("code", s("000000"))],
        "/settings/invitations" => vec![("role", s("viewer")), ("days", s("1"))],
        "/settings/organization" => vec![("name", s("Acme"))],
        "/workers/enrollment-tokens" => vec![("name", s("m"))],
        "/maintenance" => vec![
            ("name", s("matrix")),
            ("kind", s("weekly")),
            ("days", s("sun")),
            ("start", s("03:00")),
            ("duration_minutes", s("60")),
            ("time_zone", s("UTC")),
            ("all_monitors", s("on")),
        ],
        p if p.ends_with("/role") => vec![("role", s("viewer"))],
        "/login" => vec![("email", s("nobody@example.com")), ("password", s("wrong"))],
        "/invite" => vec![("token", s("osti_nope"))],
        _ => Vec::new(),
    }
}

fn json_body(path: &str) -> serde_json::Value {
    if path.starts_with("/api/worker/v1/") {
        return match path {
            "/api/worker/v1/enroll" => common::enroll_body("ostc_nope", "eu"),
            "/api/worker/v1/jobs" => serde_json::json!({"max_jobs": 1, "wait_ms": 0}),
            "/api/worker/v1/results" => serde_json::json!({"results": []}),
            _ => serde_json::json!({"run_ids": []}),
        };
    }
    if path.starts_with("/api/v1/channels") {
        return serde_json::json!({"name": format!("matrix {}", openseer_node::auth::token::random_hex(4)),
            "settings": {"kind": "slack", "webhook_url": "http://127.0.0.1:9/hook"}});
    }
    if path.ends_with("/notes") {
        return serde_json::json!({"text": "matrix"});
    }
    if path.starts_with("/api/v1/maintenance") {
        return serde_json::json!({"name": "matrix", "all_monitors": true,
            "schedule": {"kind": "weekly", "days": ["sun"], "start": "03:00", "duration_minutes": 60, "time_zone": "UTC"}});
    }
    if path.ends_with("/channels") {
        return serde_json::json!({"channels": []});
    }
    serde_json::json!({"name": "matrix", "url": "http://127.0.0.1:9/", "interval_seconds": 3600})
}

struct Answer {
    status: u16,
    location: String,
    headers: reqwest::header::HeaderMap,
}

async fn call(app: &TestApp, caller: &Caller, need: Need, method: &str, path: &str) -> Answer {
    let is_api = path.starts_with("/api/") || path.starts_with("/cluster/v1/");
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    // Sessions for pages; bearer tokens for the APIs (and, to be refused,
    // for pages as well).
    let (client, bearer) = match (&caller.session, is_api) {
        (Some(b), false) => (b.http.clone(), None),
        _ => (plain, caller.token.clone()),
    };
    // Forms anyone may post (sign-in, setup, invitations) carry the CSRF
    // token of a session: one without a session starts one.
    let mut csrf = caller.csrf.clone();
    let client = if need == Public && caller.session.is_none() && method == "POST" {
        let b = Browser::new(app);
        csrf = csrf_of(&b.get("/login").await.1);
        b.http
    } else {
        client
    };
    let mut req = client.request(method.parse().unwrap(), app.url(path));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if method == "POST" || method == "PUT" || method == "PATCH" {
        if is_api {
            req = req.json(&json_body(path));
        } else {
            let csrf = if csrf.is_empty() {
                "0".repeat(64)
            } else {
                csrf
            };
            let org = if caller.kind == Kind::OtherOrganization {
                2
            } else {
                1
            };
            let mut form = vec![("_csrf", csrf)];
            form.extend(form_fields(path.split('?').next().unwrap(), org));
            req = req.form(&form);
        }
    }
    let r = req.send().await.unwrap();
    Answer {
        status: r.status().as_u16(),
        location: r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default(),
        headers: r.headers().clone(),
    }
}

fn denied(a: &Answer, is_api: bool) -> bool {
    match a.status {
        401 | 403 | 404 => true,
        303 => !is_api && a.location.starts_with("/login"),
        _ => false,
    }
}

fn security_headers(a: &Answer, what: &str) {
    let csp = a
        .headers
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"))
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline"),
        "{what}: {csp}"
    );
    assert_eq!(a.headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(a.headers["referrer-policy"], "same-origin", "{what}");
    assert_eq!(a.headers["x-frame-options"], "DENY", "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_as_the_matrix_says() {
    let clock = std::sync::Arc::new(common::TestClock::default());
    let app = TestApp::spawn_full(
        |s| s.metrics_token = Some(METRICS_TOKEN.into()),
        clock.clone(),
    )
    .await;
    let matrix = matrix();
    let served: BTreeSet<(String, String)> =
        openseer_node::http::route_table().into_iter().collect();
    let listed: BTreeSet<(String, String)> = matrix
        .keys()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = served.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes the node serves that the matrix does not cover: {missing:?}"
    );
    let gone: Vec<_> = listed.difference(&served).collect();
    assert!(
        gone.is_empty(),
        "matrix rows for routes that do not exist: {gone:?}"
    );

    let mut callers = callers(&app).await;
    let mut failures = Vec::new();
    let mut calls = 0;
    let mut order: Vec<_> = matrix.iter().collect();
    order.sort_by_key(|((m, p), _)| (*m == "POST" && SIGN_INS.contains(p), RESETS.contains(p)));
    for (&(method, path), &(need, object)) in order {
        let is_api = path.starts_with("/api/") || path.starts_with("/cluster/v1/");
        for caller in callers.iter_mut() {
            if RESETS.contains(&path) {
                caller.sign_in(&app).await;
            }
            let caller = &*caller;
            let concrete = concrete(&app, path, object, caller).await;
            let a = call(&app, caller, need, method, &concrete).await;
            calls += 1;
            let what = format!("{method} {concrete} as {:?}", caller.kind);
            security_headers(&a, &what);
            assert!(a.status < 500, "{what}: {}", a.status);
            let expected = allowed(caller.kind, need, object);
            let ok = match (expected, need) {
                // Public routes may find nothing (setup done, no pending
                // sign-in, no such asset) or refuse what the form says
                // (wrong password: 401), but a form with its CSRF token
                // gets past the door.
                (true, Public) => a.status != 403,
                // Signing out answers like a refusal: what shows it worked
                // is that the session is over.
                (true, _) if path == "/logout" => {
                    a.status == 303 && caller.session.as_ref().unwrap().get("/").await.0 == 303
                }
                // Not in a cluster: the operator's request is allowed and
                // finds no cluster.
                (true, Operator) if object == O::Node => a.status == 404,
                (true, _) => !denied(&a, is_api),
                (false, _) => denied(&a, is_api),
            };
            if !ok {
                failures.push(format!(
                    "{what}: expected {}, got {} {}",
                    if expected { "allowed" } else { "denied" },
                    a.status,
                    a.location
                ));
            }
        }
    }
    // Eleven minutes on, the owner's sign-in no longer covers the
    // sensitive actions: each asks for the password again.
    clock.advance(11 * 60_000);
    let owner = callers
        .iter()
        .find(|c| c.kind == Kind::Member(Role::Owner))
        .expect("the owner");
    for (&(method, path), &(need, object)) in &matrix {
        let PageReauth(_) = need else {
            continue;
        };
        let concrete = concrete(&app, path, object, owner).await;
        let a = call(&app, owner, need, method, &concrete).await;
        calls += 1;
        if !(a.status == 303 && a.location.starts_with("/reauth")) {
            failures.push(format!(
                "{method} {concrete} by an owner signed in 11 minutes ago: expected a re-authentication, got {} {}",
                a.status, a.location
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The credentials nobody above had do work.
    let r = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_that_takes_a_body_refuses_one_over_its_limit() {
    let app = TestApp::spawn().await;
    let owner = app.setup_admin("owner@example.com").await;
    let csrf = owner.csrf().await;
    let token = owner.api_token("admin").await;
    let worker = {
        let enroll = app.enrollment_token(&owner).await;
        let w: openseer_protocol::wire::EnrollResponse = common::enroll(&app.base, &enroll, "eu")
            .await
            .json()
            .await
            .unwrap();
        w.api_token
    };
    // Larger than the largest limit (raft snapshots, 16 MiB).
    let huge = vec![b'a'; 16 * 1024 * 1024 + 1];
    let mut checked = 0;
    for (method, path) in openseer_node::http::route_table() {
        if method != "POST" && method != "PUT" && method != "PATCH" {
            continue;
        }
        let path = path.replace("{id}", "1").replace("{user_id}", "1");
        let mut req = owner
            .http
            .request(method.parse().unwrap(), app.url(&path))
            .body(huge.clone());
        req = if path.starts_with("/api/worker/") {
            req.bearer_auth(&worker)
                .header("content-type", "application/json")
        } else if path.starts_with("/api/") || path.starts_with("/cluster/v1/") {
            req.bearer_auth(&token)
                .header("content-type", "application/json")
        } else {
            req.header("content-type", "application/x-www-form-urlencoded")
                .header("x-csrf-token", &csrf)
        };
        let r = req.send().await;
        let status = match r {
            Ok(r) => r.status().as_u16(),
            // The node may close the connection on a body it refused.
            Err(e) => {
                assert!(!e.is_timeout(), "{method} {path}: {e}");
                413
            }
        };
        if path.starts_with("/cluster/v1/") {
            // Refused before the body is read: this node is in no cluster.
            assert_eq!(status, 404, "{method} {path}");
        } else {
            assert_eq!(status, 413, "{method} {path} took a body over its limit");
        }
        checked += 1;
    }
    assert!(checked > 40, "checked {checked} routes");
    let (_, page) = owner.get("/").await;
    assert!(!page.is_empty(), "the node is fine after all that");
}
