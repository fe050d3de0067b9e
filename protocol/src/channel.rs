//! Notification channels: where an organization is told about incidents.
//! Each kind's settings, validated once here; the secrets in them (tokens,
//! signing keys, webhook URLs, which carry their own token) read
//! [`HIDDEN`] wherever a channel is shown, and a channel sent back with
//! [`HIDDEN`] keeps what is stored.

use serde::{Deserialize, Serialize};

use crate::monitor::{origin_of, HIDDEN};
use crate::FieldError;

pub const MAX_CHANNEL_NAME: usize = 100;

/// A channel as submitted and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    pub name: String,
    /// Whether new monitors get this channel.
    #[serde(default)]
    pub default_for_new_monitors: bool,
    pub settings: ChannelSettings,
}

/// What each kind needs. Every provider's base URL can be changed
/// (self-hosted ntfy, a proxy, tests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelSettings {
    /// A signed JSON POST (Standard Webhooks: `webhook-id`,
    /// `webhook-timestamp`, `webhook-signature` v1 HMAC-SHA256).
    Webhook {
        url: String,
        /// `whsec_` followed by base64 of the key.
        secret: String,
    },
    Slack {
        webhook_url: String,
    },
    Discord {
        webhook_url: String,
    },
    /// A Microsoft Teams Workflows webhook (an adaptive card).
    Teams {
        webhook_url: String,
    },
    Ntfy {
        #[serde(default = "ntfy_default")]
        server_url: String,
        topic: String,
        #[serde(default)]
        token: Option<String>,
    },
    Telegram {
        #[serde(default = "telegram_default")]
        api_url: String,
        bot_token: String,
        chat_id: String,
    },
    /// PagerDuty Events API v2; our incident id is the dedup key.
    Pagerduty {
        #[serde(default = "pagerduty_default")]
        events_url: String,
        routing_key: String,
    },
}

fn ntfy_default() -> String {
    "https://ntfy.sh".into()
}
fn telegram_default() -> String {
    "https://api.telegram.org".into()
}
fn pagerduty_default() -> String {
    "https://events.pagerduty.com".into()
}

/// Every kind's name, in the order forms list them.
pub const KINDS: &[&str] = &[
    "webhook",
    "slack",
    "discord",
    "teams",
    "ntfy",
    "telegram",
    "pagerduty",
];

impl ChannelSettings {
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSettings::Webhook { .. } => "webhook",
            ChannelSettings::Slack { .. } => "slack",
            ChannelSettings::Discord { .. } => "discord",
            ChannelSettings::Teams { .. } => "teams",
            ChannelSettings::Ntfy { .. } => "ntfy",
            ChannelSettings::Telegram { .. } => "telegram",
            ChannelSettings::Pagerduty { .. } => "pagerduty",
        }
    }

    /// The fields that hold secrets, by name, mutable.
    fn secrets_mut(&mut self) -> Vec<&mut String> {
        match self {
            ChannelSettings::Webhook { secret, .. } => vec![secret],
            ChannelSettings::Slack { webhook_url }
            | ChannelSettings::Discord { webhook_url }
            | ChannelSettings::Teams { webhook_url } => vec![webhook_url],
            ChannelSettings::Ntfy { token, .. } => token.iter_mut().collect(),
            ChannelSettings::Telegram { bot_token, .. } => vec![bot_token],
            ChannelSettings::Pagerduty { routing_key, .. } => vec![routing_key],
        }
    }

    /// These settings as a user may see them: secrets read [`HIDDEN`].
    pub fn redacted(mut self) -> ChannelSettings {
        for s in self.secrets_mut() {
            if !s.is_empty() {
                *s = HIDDEN.to_string();
            }
        }
        self
    }

    /// Secrets sent back as [`HIDDEN`] take the stored ones, when the
    /// stored channel is of the same kind.
    pub fn keep_hidden(&mut self, stored: &ChannelSettings) {
        if self.kind() != stored.kind() {
            return;
        }
        let mut stored = stored.clone();
        for (mine, theirs) in self.secrets_mut().into_iter().zip(stored.secrets_mut()) {
            if mine == HIDDEN {
                *mine = std::mem::take(theirs);
            }
        }
    }

    /// Every problem, with the field named as `settings.<field>`.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut url = |field: &str, value: &str| {
            if let Err(e) = origin_of(value.trim()) {
                errors.push(FieldError::new(&format!("settings.{field}"), e));
            }
        };
        match self {
            ChannelSettings::Webhook { url: u, .. } => url("url", u),
            ChannelSettings::Slack { webhook_url }
            | ChannelSettings::Discord { webhook_url }
            | ChannelSettings::Teams { webhook_url } => url("webhook_url", webhook_url),
            ChannelSettings::Ntfy { server_url, .. } => url("server_url", server_url),
            ChannelSettings::Telegram { api_url, .. } => url("api_url", api_url),
            ChannelSettings::Pagerduty { events_url, .. } => url("events_url", events_url),
        }
        let mut text = |field: &str, value: &str, max: usize, allowed: fn(char) -> bool| {
            let v = value.trim();
            if v.is_empty() {
                errors.push(FieldError::new(&format!("settings.{field}"), "required"));
            } else if v.len() > max {
                errors.push(FieldError::new(
                    &format!("settings.{field}"),
                    format!("at most {max} characters"),
                ));
            } else if !v.chars().all(allowed) {
                errors.push(FieldError::new(
                    &format!("settings.{field}"),
                    "has characters that are not allowed",
                ));
            }
        };
        match self {
            ChannelSettings::Webhook { secret, .. } => {
                if !webhook_secret_is_valid(secret) {
                    errors.push(FieldError::new(
                        "settings.secret",
                        "whsec_ followed by the base64 of 24 to 64 bytes",
                    ));
                }
            }
            ChannelSettings::Ntfy { topic, token, .. } => {
                text("topic", topic, 64, |c| {
                    c.is_ascii_alphanumeric() || c == '-' || c == '_'
                });
                if let Some(t) = token {
                    text("token", t, 256, |c| c.is_ascii_graphic());
                }
            }
            ChannelSettings::Telegram {
                bot_token, chat_id, ..
            } => {
                text("bot_token", bot_token, 128, |c| {
                    c.is_ascii_alphanumeric() || c == ':' || c == '-' || c == '_'
                });
                text("chat_id", chat_id, 64, |c| {
                    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '@'
                });
            }
            ChannelSettings::Pagerduty { routing_key, .. } => {
                text("routing_key", routing_key, 64, |c| {
                    c.is_ascii_alphanumeric()
                });
            }
            ChannelSettings::Slack { .. }
            | ChannelSettings::Discord { .. }
            | ChannelSettings::Teams { .. } => {}
        }
        errors
    }
}

/// `whsec_` + standard base64 of 24 to 64 bytes (the Standard Webhooks form).
fn webhook_secret_is_valid(secret: &str) -> bool {
    let Some(b64) = secret.strip_prefix("whsec_") else {
        return false;
    };
    let ok_chars = b64
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=');
    // 24 bytes are 32 characters of base64, 64 bytes 88.
    ok_chars && (32..=88).contains(&b64.len()) && b64.len() % 4 == 0
}

impl ChannelInput {
    /// Every problem at once.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let name = self.name.trim();
        if name.is_empty() {
            errors.push(FieldError::new("name", "a name is required"));
        } else if name.chars().count() > MAX_CHANNEL_NAME {
            errors.push(FieldError::new(
                "name",
                format!("at most {MAX_CHANNEL_NAME} characters"),
            ));
        } else if name.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "name",
                "control characters are not allowed",
            ));
        }
        errors.extend(self.settings.problems());
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack(url: &str) -> ChannelSettings {
        ChannelSettings::Slack {
            webhook_url: url.into(),
        }
    }

    #[test]
    fn secrets_are_hidden_and_kept() {
        let stored = ChannelSettings::Webhook {
            url: "https://example.com/hook".into(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        };
        let shown = stored.clone().redacted();
        assert_eq!(
            shown,
            ChannelSettings::Webhook {
                url: "https://example.com/hook".into(),
                secret: HIDDEN.into()
            }
        );
        let mut back = shown;
        back.keep_hidden(&stored);
        assert_eq!(back, stored);
        // Another kind never takes the stored secret.
        let mut other = slack(HIDDEN);
        other.keep_hidden(&stored);
        assert_eq!(other, slack(HIDDEN));
    }

    #[test]
    fn bad_settings_name_the_field() {
        let fields = |s: ChannelSettings| -> Vec<String> {
            s.problems().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields(slack("ftp://x")), ["settings.webhook_url"]);
        assert_eq!(
            fields(ChannelSettings::Webhook {
                url: "https://e.com".into(),
                secret: "nope".into()
            }),
            ["settings.secret"]
        );
        assert_eq!(
            fields(ChannelSettings::Telegram {
                api_url: telegram_default(),
                bot_token: "12:ab cd".into(),
                chat_id: String::new()
            }),
            ["settings.bot_token", "settings.chat_id"]
        );
        assert!(fields(ChannelSettings::Ntfy {
            server_url: ntfy_default(),
            topic: "alerts".into(),
            token: None
        })
        .is_empty());
        let kinds: Vec<&str> = [
            slack("https://h"),
            ChannelSettings::Pagerduty {
                events_url: pagerduty_default(),
                routing_key: "k".into(),
            },
        ]
        .iter()
        .map(ChannelSettings::kind)
        .collect();
        assert_eq!(kinds, ["slack", "pagerduty"]);
        let parsed: ChannelSettings =
            serde_json::from_str(r#"{"kind":"pagerduty","routing_key":"abc"}"#).unwrap();
        assert_eq!(
            parsed,
            ChannelSettings::Pagerduty {
                events_url: pagerduty_default(),
                routing_key: "abc".into()
            }
        );
    }
}
