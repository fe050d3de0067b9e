//! Incidents and notifications end to end: a real node and worker, a local
//! target, and a local fake of the providers that records every request
//! (the payload shapes are checked here, the webhook signature verified).

use crate::common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{wait_for, Browser, Target, TestApp};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The statuses a path answers with, in order (the last one stays).
type Script = (String, VecDeque<u16>);

/// A local HTTP server standing in for Slack, Discord, PagerDuty, a
/// webhook receiver...: it records each request and answers with the
/// next scripted status for its path (200 once the script is used up).
#[derive(Clone)]
pub struct Fake {
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<Vec<Script>>>,
}

impl Fake {
    pub async fn start() -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = Fake {
            base,
            seen: Arc::default(),
            script: Arc::default(),
        };
        let f = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let f = f.clone();
                tokio::spawn(async move {
                    loop {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        let head_end = loop {
                            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break p + 4;
                            }
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                        let mut lines = head.split("\r\n");
                        let path = lines
                            .next()
                            .and_then(|l| l.split(' ').nth(1))
                            .unwrap_or("")
                            .to_string();
                        let headers: Vec<(String, String)> = lines
                            .filter_map(|l| l.split_once(':'))
                            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
                            .collect();
                        let len: usize = headers
                            .iter()
                            .find(|(k, _)| k == "content-length")
                            .and_then(|(_, v)| v.parse().ok())
                            .unwrap_or(0);
                        while buf.len() < head_end + len {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body = buf[head_end..head_end + len].to_vec();
                        let status = f.next_status(&path);
                        if status == 0 {
                            // Hang: never answer.
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        f.seen.lock().unwrap().push(Seen {
                            path,
                            headers,
                            body,
                        });
                        let answer = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{{\"ok\":true}}"
                        );
                        if sock.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        fake
    }

    /// Answers on `path` with these statuses first (0: never answer).
    pub fn script(&self, path: &str, statuses: &[u16]) {
        self.script
            .lock()
            .unwrap()
            .push((path.to_string(), statuses.iter().copied().collect()));
    }

    fn next_status(&self, path: &str) -> u16 {
        let mut s = self.script.lock().unwrap();
        match s.iter_mut().find(|(p, _)| p == path) {
            Some((_, q)) if q.len() > 1 => q.pop_front().unwrap(),
            // The last status stays.
            Some((_, q)) => q.front().copied().unwrap_or(200),
            None => 200,
        }
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

/// An API client with a bearer token.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    pub async fn of(b: &Browser, scope: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: b.base.clone(),
            token: b.api_token(scope).await,
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}/api/v1{path}", self.base),
            )
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Verifies a Standard Webhooks signature as a receiver would.
fn signature_ok(s: &Seen) -> bool {
    let id = s.header("webhook-id").unwrap_or("");
    let ts = s.header("webhook-timestamp").unwrap_or("");
    let expected = openseer_node::notify::payload::sign(SECRET, id, ts, &s.body);
    s.header("webhook-signature") == Some(&format!("v1,{expected}"))
}

async fn channel(api: &Api, name: &str, settings: Value) -> i64 {
    let (status, body) = api
        .call(
            "POST",
            "/channels",
            Some(json!({"name": name, "settings": settings})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

async fn open_incidents(api: &Api, monitor: i64) -> Vec<Value> {
    let (status, body) = api
        .call("GET", &format!("/incidents?monitor={monitor}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["incidents"].as_array().unwrap().clone()
}

/// A node whose outbox retries fast, an admin, a worker in `eu`, a target.
async fn alerting_app() -> (TestApp, Browser, common::RunningWorker, Target) {
    let app = TestApp::spawn_with(|s| {
        s.notify_tuning.tick = Duration::from_millis(100);
        s.notify_tuning.retry_base_ms = 200;
    })
    .await;
    let admin = app.setup_admin("admin@example.com").await;
    let worker = app
        .start_worker(&app.enrollment_token(&admin).await, "eu")
        .await;
    (app, admin, worker, Target::start().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_and_recovery_are_told_once_per_channel() {
    let (app, admin, _worker, target) = alerting_app().await;
    let api = Api::of(&admin, "admin").await;
    let fake = Fake::start().await;
    let hook = channel(
        &api,
        "ops webhook",
        json!({"kind": "webhook", "url": format!("{}/hook", fake.base), "secret": SECRET}),
    )
    .await;
    let slack = channel(
        &api,
        "slack",
        json!({"kind": "slack", "webhook_url": format!("{}/slack", fake.base)}),
    )
    .await;
    let pd = channel(
        &api,
        "pager",
        json!({"kind": "pagerduty", "events_url": fake.base, "routing_key": "R0UT1NG"}),
    )
    .await;
    // The secret reads <hidden>.
    let (_, shown) = api.call("GET", &format!("/channels/{hook}"), None).await;
    assert_eq!(shown["settings"]["secret"], "<hidden>");

    let id = admin
        .create_monitor(&[("name", "api"), ("url", &target.url), ("regions", "eu")])
        .await;
    let (status, body) = api
        .call(
            "PUT",
            &format!("/monitors/{id}/channels"),
            Some(json!({"channels": [hook, slack, pd]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    wait_for(Duration::from_secs(5), "a first result", || async {
        (!admin.results(id).await.is_empty()).then_some(())
    })
    .await;
    assert!(open_incidents(&api, id).await.is_empty());

    target.set_status(500);
    let incident = wait_for(Duration::from_secs(10), "an open incident", || async {
        open_incidents(&api, id)
            .await
            .into_iter()
            .find(|i| i["state"] == "open")
    })
    .await;
    assert_eq!(incident["summary"], "status 500 in eu");
    assert_eq!(incident["monitor_name"], "api");
    let incident_id = incident["id"].as_i64().unwrap();
    // Started at the first failing tick, confirmed one tick later (down after 2).
    assert_eq!(
        incident["confirmed_at_ms"].as_i64().unwrap() - incident["started_at_ms"].as_i64().unwrap(),
        1000
    );
    wait_for(
        Duration::from_secs(10),
        "the down notifications",
        || async {
            (fake.seen("/hook").len() == 1
                && fake.seen("/slack").len() == 1
                && fake.seen("/v2/enqueue").len() == 1)
                .then_some(())
        },
    )
    .await;
    let down = &fake.seen("/hook")[0];
    assert!(signature_ok(down), "the signature verifies: {down:?}");
    assert_eq!(down.json()["type"], "incident.opened");
    assert_eq!(down.json()["data"]["incident_id"], incident_id);
    assert!(fake.seen("/slack")[0].json()["text"]
        .as_str()
        .unwrap()
        .starts_with("api is down: status 500 in eu since "));
    let trigger = fake.seen("/v2/enqueue")[0].json();
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(
        trigger["dedup_key"],
        format!("openseer-incident-{incident_id}")
    );

    // The dashboard's mark and pages know it.
    let (_, overview) = admin.get("/").await;
    assert!(
        overview.contains(&format!("href=\"/incidents/{incident_id}\"")),
        "overview mark"
    );
    wait_for(
        Duration::from_secs(5),
        "the incident page with deliveries",
        || async {
            let (status, page) = admin.get(&format!("/incidents/{incident_id}")).await;
            assert_eq!(status, 200);
            (page.contains("status 500 in eu") && page.matches(">delivered<").count() == 3)
                .then_some(())
        },
    )
    .await;

    target.set_status(200);
    wait_for(
        Duration::from_secs(10),
        "the recovery notifications",
        || async {
            (fake.seen("/hook").len() == 2
                && fake.seen("/slack").len() == 2
                && fake.seen("/v2/enqueue").len() == 2)
                .then_some(())
        },
    )
    .await;
    let up = &fake.seen("/hook")[1];
    assert!(signature_ok(up));
    assert_eq!(up.json()["type"], "incident.resolved");
    assert_ne!(up.header("webhook-id"), down.header("webhook-id"));
    assert_eq!(
        fake.seen("/v2/enqueue")[1].json()["event_action"],
        "resolve"
    );
    let (_, detail) = api
        .call("GET", &format!("/incidents/{incident_id}"), None)
        .await;
    assert_eq!(detail["incident"]["state"], "resolved");
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["opened", "resolved"]);
    assert!(detail["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["state"] == "delivered"));

    // Nothing more is sent: the target stays up for a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.seen("/hook").len(), 2);
    assert_eq!(fake.seen("/slack").len(), 2);
    let incidents = open_incidents(&api, id).await;
    assert_eq!(incidents.len(), 1, "one incident: {incidents:?}");
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_channels_retry_refusing_ones_are_flagged_and_restarts_lose_nothing() {
    let (mut app, admin, worker, target) = alerting_app().await;
    let api = Api::of(&admin, "admin").await;
    let fake = Fake::start().await;
    // 500 twice, then 200: delivered once, after retries.
    fake.script("/flaky", &[500, 500, 200]);
    // 404: permanent; flagged, not retried.
    fake.script("/gone", &[404]);
    // Never answers: times out, without holding the others up.
    fake.script("/hang", &[0]);
    let flaky = channel(
        &api,
        "flaky",
        json!({"kind": "discord", "webhook_url": format!("{}/flaky", fake.base)}),
    )
    .await;
    let gone = channel(
        &api,
        "gone",
        json!({"kind": "teams", "webhook_url": format!("{}/gone", fake.base)}),
    )
    .await;
    let hang = channel(
        &api,
        "hang",
        json!({"kind": "slack", "webhook_url": format!("{}/hang", fake.base)}),
    )
    .await;
    let id = admin
        .create_monitor(&[("name", "web"), ("url", &target.url), ("regions", "eu")])
        .await;
    api.call(
        "PUT",
        &format!("/monitors/{id}/channels"),
        Some(json!({"channels": [flaky, gone, hang]})),
    )
    .await;
    target.set_status(503);
    wait_for(
        Duration::from_secs(10),
        "flaky delivered after retries",
        || async { (fake.seen("/flaky").len() == 3).then_some(()) },
    )
    .await;
    assert!(fake
        .seen("/flaky")
        .iter()
        .all(|s| s.json()["embeds"][0]["title"] == "web is down"));
    wait_for(Duration::from_secs(5), "gone flagged", || async {
        let (_, c) = api.call("GET", &format!("/channels/{gone}"), None).await;
        c["flagged"].as_str().map(str::to_string)
    })
    .await;
    assert_eq!(fake.seen("/gone").len(), 1, "a refusal is not retried");
    let teams = fake.seen("/gone")[0].json();
    assert_eq!(teams["attachments"][0]["content"]["type"], "AdaptiveCard");

    // The node stops during the outage and starts again: the open incident
    // carries on (no second one), and its recovery is told once.
    let incidents = open_incidents(&api, id).await;
    assert_eq!(incidents.len(), 1);
    worker.shutdown().await.unwrap();
    app.stop().await;
    app.start_again().await;
    let worker = app
        .start_worker(&app.enrollment_token(&admin).await, "eu")
        .await;
    target.set_status(200);
    wait_for(
        Duration::from_secs(15),
        "the recovery after a restart",
        || async { (fake.seen("/flaky").len() == 4).then_some(()) },
    )
    .await;
    assert!(fake.seen("/flaky")[3].json()["embeds"][0]["title"]
        .as_str()
        .unwrap()
        .starts_with("web recovered after "));
    let incidents = open_incidents(&api, id).await;
    assert_eq!(
        incidents.len(),
        1,
        "the restart opened no second incident: {incidents:?}"
    );
    assert_eq!(incidents[0]["state"], "resolved");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.seen("/flaky").len(), 4, "nothing sent twice");
    worker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_validated_tested_and_kept_to_their_organization() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let api = Api::of(&admin, "admin").await;
    let fake = Fake::start().await;
    // Bad settings name the field.
    for (settings, field) in [
        (
            json!({"kind": "webhook", "url": "ftp://x", "secret": SECRET}),
            "settings.url",
        ),
        (
            json!({"kind": "webhook", "url": "https://e.com", "secret": "plain"}),
            "settings.secret",
        ),
        (
            json!({"kind": "telegram", "bot_token": "a b", "chat_id": "1"}),
            "settings.bot_token",
        ),
        (json!({"kind": "ntfy", "topic": ""}), "settings.topic"),
    ] {
        let (status, body) = api
            .call(
                "POST",
                "/channels",
                Some(json!({"name": "x", "settings": settings})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["fields"][0]["field"], field, "{body}");
    }
    let (status, _) = api
        .call(
            "POST",
            "/channels",
            Some(json!({"name": "x", "settings": {"kind": "carrier-pigeon"}})),
        )
        .await;
    assert_eq!(status, 400);
    // A test notification reports its outcome.
    let ntfy = channel(
        &api,
        "ntfy",
        json!({"kind": "ntfy", "server_url": fake.base, "topic": "ops", "token": "tk_secret"}),
    )
    .await;
    let (status, outcome) = api
        .call("POST", &format!("/channels/{ntfy}/test"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(outcome["delivered"], true, "{outcome}");
    let sent = &fake.seen("/")[0];
    assert_eq!(sent.json()["topic"], "ops");
    assert_eq!(sent.header("authorization"), Some("Bearer tk_secret"));
    let tg = channel(
        &api,
        "tg",
        json!({"kind": "telegram", "api_url": fake.base, "bot_token": "1:x", "chat_id": "42"}),
    )
    .await;
    let (_, outcome) = api
        .call("POST", &format!("/channels/{tg}/test"), None)
        .await;
    assert_eq!(outcome["delivered"], true, "{outcome}");
    assert_eq!(fake.seen("/bot1:x/sendMessage")[0].json()["chat_id"], "42");
    // A refusal is reported as it is.
    fake.script("/bot2:y/sendMessage", &[401]);
    let refused = channel(
        &api,
        "tg refused",
        json!({"kind": "telegram", "api_url": fake.base, "bot_token": "2:y", "chat_id": "42"}),
    )
    .await;
    let (_, outcome) = api
        .call("POST", &format!("/channels/{refused}/test"), None)
        .await;
    assert_eq!(outcome["delivered"], false);
    assert_eq!(outcome["error"], "HTTP 401");
    // A channel sent back with <hidden> keeps its token.
    let (status, _) = api
        .call(
            "PUT",
            &format!("/channels/{ntfy}"),
            Some(json!({"name": "ntfy 2", "settings": {"kind": "ntfy", "server_url": fake.base, "topic": "ops", "token": "<hidden>"}})),
        )
        .await;
    assert_eq!(status, 200);
    api.call("POST", &format!("/channels/{ntfy}/test"), None)
        .await;
    assert_eq!(
        fake.seen("/")[1].header("authorization"),
        Some("Bearer tk_secret")
    );
    // The token is sealed at rest.
    let mut files = 0;
    for e in std::fs::read_dir(app.dir.path().join("data")).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("openseer.db") {
            files += 1;
            let bytes = std::fs::read(e.path()).unwrap();
            assert!(
                !bytes.windows(9).any(|w| w == b"tk_secret"),
                "the token is sealed at rest ({:?})",
                e.file_name()
            );
        }
    }
    assert!(files > 0);

    // Roles: a viewer reads incidents but manages no channel.
    let viewer = app
        .member("viewer@example.com", openseer_protocol::Role::Viewer)
        .await;
    let vapi = Api::of(&viewer, "read").await;
    assert_eq!(vapi.call("GET", "/incidents", None).await.0, 200);
    assert_eq!(vapi.call("GET", "/channels", None).await.0, 403);
    // Another organization sees nothing of this one's.
    let other = app.other_org_admin("other@example.com").await;
    let oapi = Api::of(&other, "admin").await;
    assert_eq!(
        oapi.call("GET", &format!("/channels/{ntfy}"), None).await.0,
        404
    );
    assert_eq!(
        oapi.call("POST", &format!("/channels/{ntfy}/test"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        oapi.call("DELETE", &format!("/channels/{ntfy}"), None)
            .await
            .0,
        404
    );
    let (_, list) = oapi.call("GET", "/channels", None).await;
    assert_eq!(list["channels"].as_array().unwrap().len(), 0);
    // Nor can it attach this organization's channel to its own monitor.
    let theirs = other
        .create_monitor(&[("name", "theirs"), ("url", "http://127.0.0.1:9/")])
        .await;
    let (status, body) = oapi
        .call(
            "PUT",
            &format!("/monitors/{theirs}/channels"),
            Some(json!({"channels": [ntfy]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(oapi.call("GET", "/incidents/1", None).await.0, 404);
    assert_eq!(oapi.call("POST", "/incidents/1/ack", None).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_incident_opens_inside_a_maintenance_window_and_a_failure_outlasting_it_opens_one() {
    let (_app, admin, _worker, target) = alerting_app().await;
    let api = Api::of(&admin, "write").await;
    let id = admin
        .create_monitor(&[("name", "api"), ("url", &target.url), ("regions", "eu")])
        .await;
    wait_for(Duration::from_secs(5), "a first result", || async {
        (!admin.results(id).await.is_empty()).then_some(())
    })
    .await;
    // Bad input is a field error and creates nothing.
    let (status, body) = api
        .call(
            "POST",
            "/maintenance",
            Some(json!({"name": "patching", "all_monitors": true,
                "schedule": {"kind": "weekly", "days": ["sun"], "start": "02:30", "duration_minutes": 60, "time_zone": "Mars/Olympus"}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"][0]["field"], "schedule.time_zone");
    let (status, body) = api
        .call(
            "POST",
            "/maintenance",
            Some(json!({"name": "x", "monitors": [id + 1000],
                "schedule": {"kind": "once", "starts_at_ms": 1, "ends_at_ms": 2}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"][0]["field"], "monitors");
    let (status, body) = api
        .call("POST", "/maintenance", Some(json!({"name": 1})))
        .await;
    assert_eq!(status, 400, "{body}");

    // A window open now for six seconds, covering the monitor.
    let now = openseer_core::clock::system_now_ms();
    let end = now + 6_000;
    let (status, window) = api
        .call(
            "POST",
            "/maintenance",
            Some(json!({"name": "deploy", "monitors": [id],
                "schedule": {"kind": "once", "starts_at_ms": now - 1_000, "ends_at_ms": end}})),
        )
        .await;
    assert_eq!(status, 201, "{window}");
    assert_eq!(window["active"]["ends_at_ms"], end);
    let (_, page) = admin.get(&format!("/monitors/{id}")).await;
    assert!(page.contains("In maintenance"), "the monitor page says so");

    target.set_status(500);
    // Checks keep running and are stored; no incident opens.
    wait_for(
        Duration::from_secs(10),
        "three failing checks inside the window",
        || async {
            let inside = admin
                .results(id)
                .await
                .iter()
                .filter(|r| {
                    r["outcome"] == "down" && r["scheduled_at_ms"].as_i64().unwrap() < end - 1_000
                })
                .count();
            (inside >= 3).then_some(())
        },
    )
    .await;
    assert!(
        open_incidents(&api, id).await.is_empty(),
        "no incident inside the window"
    );
    // The failure outlasts the window: the incident opens once it ends,
    // started at the run's first failing tick, inside the window.
    let incident = wait_for(
        Duration::from_secs(20),
        "an incident after the window",
        || async {
            open_incidents(&api, id)
                .await
                .into_iter()
                .find(|i| i["state"] == "open")
        },
    )
    .await;
    assert!(
        incident["confirmed_at_ms"].as_i64().unwrap() >= end,
        "{incident}"
    );
    assert!(
        incident["started_at_ms"].as_i64().unwrap() < end,
        "{incident}"
    );
    // The window is over: listed, no longer active; deleting it works once.
    let (_, list) = api.call("GET", "/maintenance", None).await;
    assert_eq!(list["maintenance"][0]["active"], Value::Null, "{list}");
    let wid = window["id"].as_i64().unwrap();
    let (status, _) = api
        .call("DELETE", &format!("/maintenance/{wid}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = api.call("GET", &format!("/maintenance/{wid}"), None).await;
    assert_eq!(status, 404);
}
