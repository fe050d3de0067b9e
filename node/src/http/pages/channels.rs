//! Notification channels (admins): list, add per kind, edit, delete, and
//! "send a test notification", which answers with what became of it.

use actix_web::{web, HttpResponse};
use base64::Engine;
use openseer_protocol::channel::{ChannelInput, ChannelSettings, KINDS};
use openseer_protocol::{FieldError, Role};
use openseer_web as views;
use serde::Deserialize;

use super::{frame, html_or_invalid, redirect};
use crate::http::alerting_api::send_test;
use crate::http::errors::PageError;
use crate::http::identity::{has_csrf, CsrfForm, CsrfOnly, SignedIn};
use crate::http::AppState;
use openseer_store::{Channel, StoreError};

#[derive(Deserialize, Default)]
pub struct ChannelForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    is_default: Option<String>,
}

has_csrf!(ChannelForm);

fn new_webhook_secret() -> String {
    let key: [u8; 24] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

impl ChannelForm {
    fn of(c: &Channel) -> ChannelForm {
        let shown = c.settings.clone().redacted();
        let (url, secret, target) = match shown {
            ChannelSettings::Webhook { url, secret } => (url, secret, String::new()),
            ChannelSettings::Slack { webhook_url }
            | ChannelSettings::Discord { webhook_url }
            | ChannelSettings::Teams { webhook_url } => (webhook_url, String::new(), String::new()),
            ChannelSettings::Ntfy {
                server_url,
                topic,
                token,
            } => (server_url, token.unwrap_or_default(), topic),
            ChannelSettings::Telegram {
                api_url,
                bot_token,
                chat_id,
            } => (api_url, bot_token, chat_id),
            ChannelSettings::Pagerduty {
                events_url,
                routing_key,
            } => (events_url, routing_key, String::new()),
        };
        ChannelForm {
            csrf: String::new(),
            kind: c.settings.kind().to_string(),
            name: c.name.clone(),
            url,
            secret,
            target,
            is_default: c.is_default.then(|| "on".into()),
        }
    }

    fn defaults(kind: &str) -> ChannelForm {
        let url = match kind {
            "ntfy" => "https://ntfy.sh",
            "telegram" => "https://api.telegram.org",
            "pagerduty" => "https://events.pagerduty.com",
            _ => "",
        };
        ChannelForm {
            kind: kind.to_string(),
            url: url.into(),
            ..ChannelForm::default()
        }
    }

    /// The channel this form describes, or the fields that are wrong.
    fn input(&self, stored: Option<&Channel>) -> Result<ChannelInput, Vec<FieldError>> {
        let (url, secret, target) = (
            self.url.trim().to_string(),
            self.secret.trim().to_string(),
            self.target.trim().to_string(),
        );
        let settings = match self.kind.as_str() {
            "webhook" => ChannelSettings::Webhook {
                url,
                secret: match secret.is_empty() {
                    true => new_webhook_secret(),
                    false => secret,
                },
            },
            "slack" => ChannelSettings::Slack { webhook_url: url },
            "discord" => ChannelSettings::Discord { webhook_url: url },
            "teams" => ChannelSettings::Teams { webhook_url: url },
            "ntfy" => ChannelSettings::Ntfy {
                server_url: url,
                topic: target,
                token: Some(secret).filter(|s| !s.is_empty()),
            },
            "telegram" => ChannelSettings::Telegram {
                api_url: url,
                bot_token: secret,
                chat_id: target,
            },
            "pagerduty" => ChannelSettings::Pagerduty {
                events_url: url,
                routing_key: secret,
            },
            _ => return Err(vec![FieldError::new("kind", "choose a kind")]),
        };
        let mut input = ChannelInput {
            name: self.name.trim().to_string(),
            default_for_new_monitors: self.is_default.is_some(),
            settings,
        };
        if let Some(c) = stored {
            input.settings.keep_hidden(&c.settings);
        }
        let problems = input.problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(input)
    }

    fn view<'a>(&'a self, action: &'a str) -> views::ChannelFormVm<'a> {
        views::ChannelFormVm {
            action,
            kind: &self.kind,
            name: &self.name,
            is_default: self.is_default.is_some(),
            url: &self.url,
            secret: &self.secret,
            target: &self.target,
        }
    }
}

/// Where a channel goes, without its secrets.
fn target_of(s: &ChannelSettings) -> String {
    let host = |u: &str| {
        reqwest::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default()
    };
    match s {
        ChannelSettings::Webhook { url, .. } => host(url),
        ChannelSettings::Slack { webhook_url }
        | ChannelSettings::Discord { webhook_url }
        | ChannelSettings::Teams { webhook_url } => host(webhook_url),
        ChannelSettings::Ntfy {
            server_url, topic, ..
        } => format!("{} · {topic}", host(server_url)),
        ChannelSettings::Telegram { chat_id, .. } => format!("chat {chat_id}"),
        ChannelSettings::Pagerduty { events_url, .. } => host(events_url),
    }
}

async fn page(
    s: &SignedIn,
    state: &AppState,
    form: Option<(&ChannelForm, &str, &[FieldError])>,
    tested: Option<(&str, Result<(), &str>)>,
    new_secret: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let channels = state.store.channels(s.org_id()).await?;
    let targets: Vec<String> = channels.iter().map(|c| target_of(&c.settings)).collect();
    let rows: Vec<views::ChannelRowVm> = channels
        .iter()
        .zip(targets)
        .map(|(c, target)| views::ChannelRowVm {
            id: c.id,
            name: &c.name,
            kind: c.settings.kind(),
            is_default: c.is_default,
            flagged: c.flagged.as_deref(),
            target,
        })
        .collect();
    let csrf = s.csrf();
    let f = frame(s, "Notification channels", &csrf, None);
    let errors: &[FieldError] = form.map(|(_, _, e)| e).unwrap_or(&[]);
    let vm = form.map(|(f, action, _)| f.view(action));
    let m = views::channels_page(
        &f,
        &rows,
        vm.as_ref().map(|v| (v, errors)),
        tested,
        new_secret,
    );
    Ok(html_or_invalid(m, errors))
}

pub async fn list(s: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    page(&s, &state, None, None, None).await
}

#[derive(Deserialize)]
pub struct NewQuery {
    kind: Option<String>,
}

pub async fn new_form(
    s: SignedIn,
    state: web::Data<AppState>,
    q: web::Query<NewQuery>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    let kind = q.kind.as_deref().unwrap_or("webhook");
    if !KINDS.contains(&kind) {
        return Err(PageError::NotFound);
    }
    let f = ChannelForm::defaults(kind);
    page(&s, &state, Some((&f, "/channels", &[])), None, None).await
}

pub async fn create(
    s: SignedIn,
    state: web::Data<AppState>,
    f: CsrfForm<ChannelForm>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    let f = f.0;
    let input = match f.input(None) {
        Ok(i) => i,
        Err(errors) => return page(&s, &state, Some((&f, "/channels", &errors)), None, None).await,
    };
    match state
        .store
        .create_channel(s.org_id(), &input, state.now())
        .await
    {
        Ok(c) => {
            state
                .audit(
                    s.audit("channel.created")
                        .on("channel", c.id)
                        .detail(&c.name),
                )
                .await;
            // A secret made here is shown once, so receivers can verify.
            match (&c.settings, f.secret.trim().is_empty()) {
                (ChannelSettings::Webhook { secret, .. }, true) => {
                    page(&s, &state, None, None, Some(secret)).await
                }
                _ => Ok(redirect("/channels")),
            }
        }
        Err(StoreError::Conflict(why)) => {
            let errors = [FieldError::new("name", why)];
            page(&s, &state, Some((&f, "/channels", &errors)), None, None).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn edit_form(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    let c = state.store.channel(s.org_id(), *id).await?;
    let f = ChannelForm::of(&c);
    let action = format!("/channels/{}", c.id);
    page(&s, &state, Some((&f, &action, &[])), None, None).await
}

pub async fn update(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    f: CsrfForm<ChannelForm>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    let stored = state.store.channel(s.org_id(), *id).await?;
    let mut f = f.0;
    // The kind of a channel stays what it is.
    f.kind = stored.settings.kind().to_string();
    let action = format!("/channels/{}", stored.id);
    let input = match f.input(Some(&stored)) {
        Ok(i) => i,
        Err(errors) => return page(&s, &state, Some((&f, &action, &errors)), None, None).await,
    };
    match state
        .store
        .update_channel(s.org_id(), stored.id, &input, state.now())
        .await
    {
        Ok(c) => {
            state
                .audit(
                    s.audit("channel.updated")
                        .on("channel", c.id)
                        .detail(&c.name),
                )
                .await;
            Ok(redirect("/channels"))
        }
        Err(StoreError::Conflict(why)) => {
            let errors = [FieldError::new("name", why)];
            page(&s, &state, Some((&f, &action, &errors)), None, None).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    let c = state.store.channel(s.org_id(), *id).await?;
    state.store.delete_channel(s.org_id(), c.id).await?;
    state
        .audit(
            s.audit("channel.deleted")
                .on("channel", c.id)
                .detail(&c.name),
        )
        .await;
    Ok(redirect("/channels"))
}

pub async fn test(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    let c = state.store.channel(s.org_id(), *id).await?;
    let outcome = send_test(&state, &c).await;
    let result = match &outcome.error {
        None => Ok(()),
        Some(e) => Err(e.as_str()),
    };
    page(&s, &state, None, Some((&c.name, result)), None).await
}
