//! Notifications: what a message says (`message`), each channel kind's
//! request (`payload`, pure), and the sender that makes the requests and
//! says what became of them. The outbox actor (`actors::outbox`) decides
//! when to send and what to do after.

pub mod message;
pub mod payload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openseer_protocol::address::is_private;
use openseer_protocol::channel::ChannelSettings;

use message::Message;

/// A delivery attempt's fate.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Delivered,
    /// Worth trying again (connect, timeout, 5xx, 408, 429), after the
    /// provider's `Retry-After` when it gave one.
    Transient {
        error: String,
        retry_after_ms: Option<i64>,
    },
    /// The provider refused it (other 4xx) or the target is not allowed:
    /// stop and flag the channel.
    Permanent(String),
}

/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this much of an answer is read (to classify it).
const MAX_ANSWER: usize = 16 * 1024;

/// Resolves names and refuses private addresses, so a name pointing at
/// one (DNS rebinding included) is refused at connect time.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves only to private addresses (block_private_notification_targets)").into());
            }
            let it: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    block_private: bool,
}

impl Sender {
    pub fn new(block_private: bool) -> Sender {
        let mut b = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("OpenSeer/", env!("CARGO_PKG_VERSION")));
        if block_private {
            b = b.dns_resolver(Arc::new(PublicOnly));
        }
        Sender {
            client: b.build().expect("the HTTP client builds"),
            block_private,
        }
    }

    /// Sends `m` on a channel; every request of it must succeed.
    pub async fn send(&self, settings: &ChannelSettings, m: &Message) -> Delivery {
        for r in payload::requests(settings, m) {
            let d = self.one(r).await;
            if d != Delivery::Delivered {
                return d;
            }
        }
        Delivery::Delivered
    }

    async fn one(&self, r: payload::Request) -> Delivery {
        let url = match reqwest::Url::parse(&r.url) {
            Ok(u) => u,
            Err(e) => return Delivery::Permanent(format!("invalid URL: {e}")),
        };
        if self.block_private {
            let literal = url
                .host_str()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
                .and_then(|h| h.parse::<std::net::IpAddr>().ok());
            if literal.is_some_and(is_private) {
                return Delivery::Permanent(
                    "the address is private (block_private_notification_targets)".into(),
                );
            }
        }
        let mut req = self.client.post(url).body(r.body);
        for (k, v) in &r.headers {
            req = req.header(*k, v);
        }
        let answer = match req.send().await {
            Ok(a) => a,
            Err(e) => {
                let why = if e.is_timeout() {
                    "timed out".to_string()
                } else if e.is_connect() {
                    format!("could not connect: {}", root_cause(&e))
                } else {
                    root_cause(&e)
                };
                if why.contains("private addresses") {
                    return Delivery::Permanent(why);
                }
                return Delivery::Transient {
                    error: why,
                    retry_after_ms: None,
                };
            }
        };
        let status = answer.status().as_u16();
        let retry_after_ms = answer
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|s| s.clamp(0, 3600) * 1000);
        // Read a bounded part of the answer, so the connection can be
        // reused and a hostile endpoint cannot make us hold much.
        let mut answer = answer;
        let mut read = 0usize;
        while let Ok(Some(chunk)) = answer.chunk().await {
            read += chunk.len();
            if read > MAX_ANSWER {
                break;
            }
        }
        match status {
            200..=299 => Delivery::Delivered,
            408 | 429 | 500..=599 => Delivery::Transient {
                error: format!("HTTP {status}"),
                retry_after_ms,
            },
            _ => Delivery::Permanent(format!("HTTP {status}")),
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
