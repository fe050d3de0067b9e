//! Each channel kind's request for a message: a pure function, so every
//! payload shape is tested without a network.

use aws_lc_rs::hmac;
use base64::Engine;
use serde_json::{json, Value};

use super::message::{Kind, Message};
use openseer_core::calendar::iso;
use openseer_protocol::channel::ChannelSettings;

/// An HTTP POST to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

fn post(url: String, body: &Value) -> Request {
    Request {
        url,
        headers: vec![("content-type", "application/json".into())],
        body: serde_json::to_vec(body).expect("json serialises"),
    }
}

fn base(url: &str) -> &str {
    url.trim().trim_end_matches('/')
}

/// The requests that deliver `m` on a channel with `settings` (PagerDuty's
/// test is a trigger and its resolve; everything else is one request).
pub fn requests(settings: &ChannelSettings, m: &Message) -> Vec<Request> {
    match settings {
        ChannelSettings::Webhook { url, secret } => vec![webhook(url, secret, m)],
        ChannelSettings::Slack { webhook_url } => vec![post(
            webhook_url.trim().to_string(),
            &json!({
                "text": format!("{}: {}", m.title(), m.text()),
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": m.title()}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": m.text()}}
                ]
            }),
        )],
        ChannelSettings::Discord { webhook_url } => {
            let mut embed = json!({
                "title": m.title(),
                "description": m.text(),
                "color": color(m.kind),
                "timestamp": iso(m.sent_at),
            });
            if let Some(l) = &m.link {
                embed["url"] = json!(l);
            }
            vec![post(
                webhook_url.trim().to_string(),
                &json!({"username": "OpenSeer", "embeds": [embed]}),
            )]
        }
        ChannelSettings::Teams { webhook_url } => {
            let mut card = json!({
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": m.title(), "weight": "Bolder", "size": "Medium", "wrap": true},
                    {"type": "TextBlock", "text": m.text(), "wrap": true}
                ]
            });
            if let Some(l) = &m.link {
                card["actions"] =
                    json!([{"type": "Action.OpenUrl", "title": "Open the incident", "url": l}]);
            }
            vec![post(
                webhook_url.trim().to_string(),
                &json!({
                    "type": "message",
                    "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]
                }),
            )]
        }
        ChannelSettings::Ntfy {
            server_url,
            topic,
            token,
        } => {
            let mut body = json!({
                "topic": topic.trim(),
                "title": m.title(),
                "message": m.text(),
                "priority": match m.kind { Kind::Down => 5, Kind::Reminder => 4, Kind::Up | Kind::Test => 3 },
                "tags": [match m.kind { Kind::Down | Kind::Reminder => "rotating_light", Kind::Up => "white_check_mark", Kind::Test => "wave" }],
            });
            if let Some(l) = &m.link {
                body["click"] = json!(l);
            }
            let mut r = post(format!("{}/", base(server_url)), &body);
            if let Some(t) = token.as_deref().filter(|t| !t.is_empty()) {
                r.headers
                    .push(("authorization", format!("Bearer {}", t.trim())));
            }
            vec![r]
        }
        ChannelSettings::Telegram {
            api_url,
            bot_token,
            chat_id,
        } => vec![post(
            format!("{}/bot{}/sendMessage", base(api_url), bot_token.trim()),
            &json!({
                "chat_id": chat_id.trim(),
                "text": format!("{}\n{}", m.title(), m.text()),
                "disable_web_page_preview": true
            }),
        )],
        ChannelSettings::Pagerduty {
            events_url,
            routing_key,
        } => {
            let url = format!("{}/v2/enqueue", base(events_url));
            let dedup = match m.kind {
                Kind::Test => format!("openseer-test-{}", m.id),
                _ => format!("openseer-incident-{}", m.incident_id),
            };
            let trigger = || {
                let mut event = json!({
                    "routing_key": routing_key.trim(),
                    "event_action": "trigger",
                    "dedup_key": dedup,
                    "payload": {
                        "summary": format!("{}: {}", m.title(), m.summary),
                        "source": m.monitor_name,
                        "severity": "critical",
                        "timestamp": iso(m.started_at),
                        "component": m.monitor_name,
                        "custom_details": {"regions": m.regions, "incident_id": m.incident_id}
                    }
                });
                if let Some(l) = &m.link {
                    event["links"] = json!([{"href": l, "text": "OpenSeer incident"}]);
                }
                post(url.clone(), &event)
            };
            let resolve = || {
                post(
                    url.clone(),
                    &json!({"routing_key": routing_key.trim(), "event_action": "resolve", "dedup_key": dedup}),
                )
            };
            match m.kind {
                Kind::Down | Kind::Reminder => vec![trigger()],
                Kind::Up => vec![resolve()],
                Kind::Test => vec![trigger(), resolve()],
            }
        }
    }
}

fn color(kind: Kind) -> u32 {
    match kind {
        Kind::Down | Kind::Reminder => 0xd0_3b_3b,
        Kind::Up => 0x2e_9e_5b,
        Kind::Test => 0x3b_6e_d0,
    }
}

/// A Standard Webhooks request: `webhook-id` (the same on every retry, so
/// receivers drop repeats), `webhook-timestamp` (seconds) and
/// `webhook-signature` `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
/// under the secret's key.
fn webhook(url: &str, secret: &str, m: &Message) -> Request {
    let body = json!({
        "type": m.kind.event_type(),
        "timestamp": iso(m.sent_at),
        "data": {
            "incident_id": m.incident_id,
            "monitor": {"id": m.monitor_id, "name": m.monitor_name},
            "title": m.title(),
            "summary": m.summary,
            "regions": m.regions,
            "started_at": iso(m.started_at),
            "resolved_at": m.resolved_at.map(iso),
            "duration_ms": m.duration_ms(),
            "url": m.link,
        }
    });
    let body = serde_json::to_vec(&body).expect("json serialises");
    let ts = (m.sent_at / 1000).to_string();
    let signature = sign(secret, &m.id, &ts, &body);
    Request {
        url: url.trim().to_string(),
        headers: vec![
            ("content-type", "application/json".into()),
            ("webhook-id", m.id.clone()),
            ("webhook-timestamp", ts),
            ("webhook-signature", format!("v1,{signature}")),
        ],
        body,
    }
}

/// The base64 signature of a Standard Webhooks message.
pub fn sign(secret: &str, id: &str, ts: &str, body: &[u8]) -> String {
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap_or_default();
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(ts.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    base64::engine::general_purpose::STANDARD.encode(ctx.sign().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: Kind) -> Message {
        Message {
            kind,
            id: "osn_7".into(),
            incident_id: 42,
            monitor_id: Some(3),
            monitor_name: "api".into(),
            summary: "status 500 in eu".into(),
            regions: vec!["eu".into()],
            started_at: 1_700_000_000_000,
            resolved_at: None,
            link: Some("https://status.example/incidents/42".into()),
            sent_at: 1_700_000_060_000,
        }
    }

    fn body(r: &Request) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn webhook_signature_is_standard_webhooks() {
        // The example of the Standard Webhooks specification's reference
        // libraries: this secret, id, timestamp and payload sign to this.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let r = &requests(
            &ChannelSettings::Webhook {
                url: "http://127.0.0.1:9/hook".into(),
                secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            },
            &message(Kind::Down),
        )[0];
        let get = |n: &str| r.headers.iter().find(|(k, _)| *k == n).unwrap().1.clone();
        assert_eq!(get("webhook-id"), "osn_7");
        assert_eq!(get("webhook-timestamp"), "1700000060");
        let expected = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "osn_7",
            "1700000060",
            &r.body,
        );
        assert_eq!(get("webhook-signature"), format!("v1,{expected}"));
        let b = body(r);
        assert_eq!(b["type"], "incident.opened");
        assert_eq!(b["data"]["incident_id"], 42);
        assert_eq!(b["data"]["monitor"]["name"], "api");
    }

    #[test]
    fn pagerduty_dedupes_on_the_incident_and_resolves() {
        let s = ChannelSettings::Pagerduty {
            events_url: "https://events.pagerduty.com/".into(),
            routing_key: "R0UT1NGKEY".into(),
        };
        let down = &requests(&s, &message(Kind::Down))[0];
        assert_eq!(down.url, "https://events.pagerduty.com/v2/enqueue");
        let b = body(down);
        assert_eq!(b["event_action"], "trigger");
        assert_eq!(b["dedup_key"], "openseer-incident-42");
        assert_eq!(b["payload"]["severity"], "critical");
        let up = body(&requests(&s, &message(Kind::Up))[0]);
        assert_eq!(up["event_action"], "resolve");
        assert_eq!(up["dedup_key"], "openseer-incident-42");
        let test = requests(&s, &message(Kind::Test));
        assert_eq!(test.len(), 2, "a test triggers and resolves");
    }

    #[test]
    fn chat_kinds_carry_title_text_and_link() {
        let m = message(Kind::Down);
        let slack = body(
            &requests(
                &ChannelSettings::Slack {
                    webhook_url: "https://hooks.slack.com/services/T/B/X".into(),
                },
                &m,
            )[0],
        );
        assert!(slack["text"]
            .as_str()
            .unwrap()
            .starts_with("api is down: status 500 in eu since"));
        let discord = body(
            &requests(
                &ChannelSettings::Discord {
                    webhook_url: "https://discord.com/api/webhooks/1/x".into(),
                },
                &m,
            )[0],
        );
        assert_eq!(discord["embeds"][0]["title"], "api is down");
        assert_eq!(
            discord["embeds"][0]["url"],
            "https://status.example/incidents/42"
        );
        let teams = body(
            &requests(
                &ChannelSettings::Teams {
                    webhook_url: "https://x.logic.azure.com/workflows/1".into(),
                },
                &m,
            )[0],
        );
        assert_eq!(
            teams["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(teams["attachments"][0]["content"]["type"], "AdaptiveCard");
        let ntfy = &requests(
            &ChannelSettings::Ntfy {
                server_url: "https://ntfy.example/".into(),
                topic: "ops".into(),
                token: Some("tk_1".into()),
            },
            &m,
        )[0];
        assert_eq!(ntfy.url, "https://ntfy.example/");
        assert!(ntfy
            .headers
            .contains(&("authorization", "Bearer tk_1".into())));
        assert_eq!(body(ntfy)["priority"], 5);
        let tg = &requests(
            &ChannelSettings::Telegram {
                api_url: "https://api.telegram.org".into(),
                bot_token: "123:abc".into(),
                chat_id: "-100".into(),
            },
            &m,
        )[0];
        assert_eq!(tg.url, "https://api.telegram.org/bot123:abc/sendMessage");
        assert_eq!(body(tg)["chat_id"], "-100");
    }
}
