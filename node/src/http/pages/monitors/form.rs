//! The monitor form: new, create, edit, update, and "test this request".
//! Secret header values and bodies are never put in the page: the edit
//! form shows `<hidden>` in their place, and a `<hidden>` posted back keeps
//! the stored value.

use actix_web::{web, HttpResponse};
use openseer_protocol::monitor::{parse_header_lines, IpFamily, ANY_REGION};
use openseer_protocol::secret::HIDDEN;
use openseer_protocol::{FieldError, MonitorInput, Role};
use openseer_store::Monitor;
use openseer_web as views;
use serde::Deserialize;

use super::monitor_event;
use crate::http::errors::PageError;
use crate::http::identity::{has_csrf, CsrfForm, SignedIn};
use crate::http::pages::workers::healthy_by_region;
use crate::http::pages::{frame, html, html_or_invalid, redirect};
use crate::http::AppState;

/// The monitor form as posted: every field a string, so bad numbers come
/// back as field errors with the typed text intact.
#[derive(Deserialize, Default)]
pub struct MonitorFormData {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    headers: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    interval_seconds: String,
    #[serde(default)]
    timeout_ms: String,
    #[serde(default)]
    regions: String,
    #[serde(default)]
    expected_status: String,
    #[serde(default)]
    keyword: String,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    follow_redirects: Option<String>,
    #[serde(default)]
    max_redirects: String,
    #[serde(default)]
    keep_secrets_on_redirect: Option<String>,
    #[serde(default)]
    decompress: Option<String>,
    #[serde(default)]
    verify_tls: Option<String>,
    #[serde(default)]
    ip_family: String,
    #[serde(default)]
    assertions: String,
    #[serde(default)]
    degraded_above_ms: String,
    #[serde(default)]
    cert_expiry_days: String,
    #[serde(default)]
    down_after: String,
    #[serde(default)]
    up_after: String,
    #[serde(default)]
    fail_quorum: String,
    #[serde(default)]
    degraded_fails: Option<String>,
    #[serde(default)]
    remind_every_minutes: String,
    /// The monitor being edited, so "test this request" can fill in its
    /// hidden secrets.
    #[serde(default)]
    monitor_id: String,
    /// Set by the form when it showed the channel choices, so a post
    /// without them (an older client) leaves the channels as they are.
    #[serde(default)]
    channels_shown: String,
    /// `channel.<id>=on` for each channel chosen.
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

has_csrf!(MonitorFormData);

impl MonitorFormData {
    /// The edit form of a monitor: its secrets hidden.
    fn from_monitor(m: &Monitor) -> MonitorFormData {
        let shown = m.to_input().redacted();
        MonitorFormData {
            csrf: String::new(),
            monitor_id: m.id.to_string(),
            name: m.name.clone(),
            url: m.check.url.clone(),
            method: m.check.method.clone(),
            headers: shown
                .headers
                .iter()
                .map(|h| format!("{}: {}", h.name, h.value))
                .collect::<Vec<_>>()
                .join("\n"),
            body: shown.body.unwrap_or_default(),
            interval_seconds: m.interval_seconds.to_string(),
            timeout_ms: m.check.timeout_ms.to_string(),
            regions: m.regions.join(", "),
            expected_status: m.check.expected_status.to_string(),
            keyword: m.check.keyword.clone().unwrap_or_default(),
            enabled: m.enabled.then(|| "on".into()),
            follow_redirects: m.check.options.follow_redirects.then(|| "on".into()),
            max_redirects: m.check.options.max_redirects.to_string(),
            keep_secrets_on_redirect: m
                .check
                .options
                .keep_secrets_on_redirect
                .then(|| "on".into()),
            decompress: m.check.options.decompress.then(|| "on".into()),
            verify_tls: m.check.options.verify_tls.then(|| "on".into()),
            ip_family: m.check.options.ip_family.as_str().into(),
            assertions: m
                .check
                .options
                .assertions
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            degraded_above_ms: m
                .check
                .options
                .degraded_above_ms
                .map(|v| v.to_string())
                .unwrap_or_default(),
            cert_expiry_days: m
                .check
                .options
                .cert_expiry_days
                .map(|v| v.to_string())
                .unwrap_or_default(),
            down_after: m.alert.down_after.to_string(),
            up_after: m.alert.up_after.to_string(),
            fail_quorum: m
                .alert
                .fail_quorum
                .map(|v| v.to_string())
                .unwrap_or_default(),
            degraded_fails: m.alert.degraded_fails.then(|| "on".into()),
            remind_every_minutes: m
                .alert
                .remind_every_minutes
                .map(|v| v.to_string())
                .unwrap_or_default(),
            channels_shown: String::new(),
            rest: Default::default(),
        }
    }

    fn defaults() -> MonitorFormData {
        MonitorFormData {
            method: "GET".into(),
            interval_seconds: "60".into(),
            timeout_ms: "5000".into(),
            expected_status: "200-399".into(),
            enabled: Some("on".into()),
            follow_redirects: Some("on".into()),
            max_redirects: openseer_protocol::monitor::DEFAULT_MAX_REDIRECTS.to_string(),
            verify_tls: Some("on".into()),
            decompress: Some("on".into()),
            ip_family: "auto".into(),
            down_after: "2".into(),
            up_after: "2".into(),
            ..MonitorFormData::default()
        }
    }

    fn view(&self) -> views::MonitorFormVm<'_> {
        views::MonitorFormVm {
            name: &self.name,
            url: &self.url,
            method: &self.method,
            headers: &self.headers,
            body: &self.body,
            interval_seconds: &self.interval_seconds,
            timeout_ms: &self.timeout_ms,
            regions: &self.regions,
            expected_status: &self.expected_status,
            keyword: &self.keyword,
            enabled: self.enabled.is_some(),
            follow_redirects: self.follow_redirects.is_some(),
            max_redirects: &self.max_redirects,
            keep_secrets_on_redirect: self.keep_secrets_on_redirect.is_some(),
            decompress: self.decompress.is_some(),
            verify_tls: self.verify_tls.is_some(),
            ip_family: &self.ip_family,
            assertions: &self.assertions,
            degraded_above_ms: &self.degraded_above_ms,
            cert_expiry_days: &self.cert_expiry_days,
            down_after: &self.down_after,
            up_after: &self.up_after,
            fail_quorum: &self.fail_quorum,
            degraded_fails: self.degraded_fails.is_some(),
            remind_every_minutes: &self.remind_every_minutes,
            monitor_id: &self.monitor_id,
        }
    }

    /// The channels chosen on the form, when it showed them.
    fn chosen_channels(&self) -> Option<Vec<i64>> {
        if self.channels_shown.is_empty() {
            return None;
        }
        let mut ids: Vec<i64> = self
            .rest
            .iter()
            .filter(|(_, v)| v.as_str() == "on")
            .filter_map(|(k, _)| k.strip_prefix("channel.")?.parse().ok())
            .collect();
        ids.sort_unstable();
        Some(ids)
    }

    /// Whether a header value or the body says `<hidden>` (stands for what
    /// the monitor has stored).
    fn uses_stored_secrets(&self) -> bool {
        self.body.trim() == HIDDEN
            || self
                .headers
                .lines()
                .filter_map(|l| l.split_once(':'))
                .any(|(_, v)| v.trim() == HIDDEN)
    }

    /// Parses and validates; errors are per field, like the API's. With
    /// the `stored` monitor, `<hidden>` values take what it has.
    fn validate(
        &self,
        stored: Option<&Monitor>,
    ) -> Result<openseer_protocol::monitor::ValidMonitor, Vec<FieldError>> {
        let mut errors = Vec::new();
        let number = |field: &str, text: &str, errors: &mut Vec<FieldError>| match text
            .trim()
            .parse::<u32>()
        {
            Ok(n) => n,
            Err(_) => {
                errors.push(FieldError::new(field, "enter a whole number"));
                0
            }
        };
        let interval = number("interval_seconds", &self.interval_seconds, &mut errors);
        let timeout = number("timeout_ms", &self.timeout_ms, &mut errors);
        let headers = parse_header_lines(&self.headers).unwrap_or_else(|e| {
            errors.push(FieldError::new("headers", e));
            Vec::new()
        });
        let optional = |field: &str, text: &str, errors: &mut Vec<FieldError>| -> Option<u32> {
            let t = text.trim();
            if t.is_empty() {
                return None;
            }
            t.parse::<u32>().map(Some).unwrap_or_else(|_| {
                errors.push(FieldError::new(
                    field,
                    "enter a whole number, or leave it empty",
                ));
                None
            })
        };
        let degraded_above_ms = optional("degraded_above_ms", &self.degraded_above_ms, &mut errors);
        let cert_expiry_days = optional("cert_expiry_days", &self.cert_expiry_days, &mut errors);
        let alert = openseer_protocol::AlertRules {
            // Empty takes the default (a form from before alerting).
            down_after: optional("alert.down_after", &self.down_after, &mut errors)
                .unwrap_or(openseer_protocol::AlertRules::default().down_after),
            up_after: optional("alert.up_after", &self.up_after, &mut errors)
                .unwrap_or(openseer_protocol::AlertRules::default().up_after),
            fail_quorum: optional("alert.fail_quorum", &self.fail_quorum, &mut errors),
            degraded_fails: self.degraded_fails.is_some(),
            remind_every_minutes: optional(
                "alert.remind_every_minutes",
                &self.remind_every_minutes,
                &mut errors,
            ),
        };
        let max_redirects = match self.max_redirects.trim() {
            "" => openseer_protocol::monitor::DEFAULT_MAX_REDIRECTS,
            t => t.parse::<u8>().unwrap_or_else(|_| {
                errors.push(FieldError::new("max_redirects", "enter a whole number"));
                0
            }),
        };
        let ip_family = match self.ip_family.as_str() {
            "" => IpFamily::Auto,
            f => IpFamily::parse(f).unwrap_or_else(|| {
                errors.push(FieldError::new("ip_family", "auto, v4 or v6"));
                IpFamily::Auto
            }),
        };
        let assertions = openseer_protocol::assertion::parse_lines(&self.assertions)
            .unwrap_or_else(|e| {
                errors.push(FieldError::new("assertions", e));
                Vec::new()
            });
        let mut input = MonitorInput {
            name: self.name.clone(),
            url: self.url.clone(),
            method: self.method.clone(),
            headers,
            body: Some(self.body.clone()).filter(|b| !b.is_empty()),
            interval_seconds: interval,
            timeout_ms: timeout,
            regions: self
                .regions
                .split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect(),
            expected_status: self.expected_status.clone(),
            keyword: Some(self.keyword.clone()).filter(|k| !k.is_empty()),
            enabled: self.enabled.is_some(),
            follow_redirects: self.follow_redirects.is_some(),
            max_redirects,
            keep_secrets_on_redirect: self.keep_secrets_on_redirect.is_some(),
            decompress: self.decompress.is_some(),
            verify_tls: self.verify_tls.is_some(),
            ip_family,
            assertions,
            degraded_above_ms,
            cert_expiry_days,
            alert,
        };
        if let Some(m) = stored {
            if let Err(more) = input.restore_hidden(m.check.stored()) {
                errors.extend(more);
            }
        }
        match input.validate() {
            Ok(v) if errors.is_empty() => Ok(v),
            Ok(_) => Err(errors),
            Err(more) => {
                for e in more {
                    // A field that failed to parse already has its error.
                    if !errors.iter().any(|x| x.field == e.field) {
                        errors.push(e);
                    }
                }
                Err(errors)
            }
        }
    }
}

/// Sets the monitor's channels to those chosen on the form (ids that are
/// not this organization's channels are left out), when it showed them.
async fn save_channels(
    s: &SignedIn,
    state: &AppState,
    f: &MonitorFormData,
    monitor_id: i64,
) -> Result<(), PageError> {
    let Some(chosen) = f.chosen_channels() else {
        return Ok(());
    };
    let ours: Vec<i64> = state
        .store
        .channels(s.org_id())
        .await?
        .iter()
        .map(|c| c.id)
        .filter(|id| chosen.contains(id))
        .collect();
    state
        .store
        .set_monitor_channels(s.org_id(), monitor_id, &ours)
        .await?;
    Ok(())
}

async fn form_page(
    s: &SignedIn,
    state: &AppState,
    heading: &str,
    action: &str,
    f: &MonitorFormData,
    errors: &[FieldError],
) -> Result<HttpResponse, PageError> {
    let csrf = s.csrf();
    let workers = state.store.workers(s.org_id()).await?;
    let served = healthy_by_region(&workers, state.now(), state.settings.worker_stale_ms);
    let channels = state.store.channels(s.org_id()).await?;
    let checked: Vec<i64> = match (f.chosen_channels(), f.monitor_id.parse::<i64>()) {
        (Some(ids), _) => ids,
        (None, Ok(id)) => state.store.monitor_channel_ids(id).await?,
        (None, Err(_)) => channels
            .iter()
            .filter(|c| c.is_default)
            .map(|c| c.id)
            .collect(),
    };
    let choices: Vec<(i64, &str, &str, bool)> = channels
        .iter()
        .map(|c| {
            (
                c.id,
                c.name.as_str(),
                c.settings.kind(),
                checked.contains(&c.id),
            )
        })
        .collect();
    let page = views::monitor_form_page(
        &frame(s, heading, &csrf, None),
        heading,
        action,
        &f.view(),
        &served,
        views::channel_choices(&choices),
        errors,
    );
    Ok(html_or_invalid(page, errors))
}

pub async fn new_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    form_page(
        &s,
        &state,
        "New monitor",
        "/monitors",
        &MonitorFormData::defaults(),
        &[],
    )
    .await
}

pub async fn create_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<MonitorFormData>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let valid = match f.validate(None) {
        Ok(v) => v,
        Err(errors) => return form_page(&s, &state, "New monitor", "/monitors", &f, &errors).await,
    };
    let count = state.store.monitor_count(s.org_id()).await?;
    if let Err(e) = state.settings.quotas.check_new_monitor(&valid, count) {
        let errors = [e.to_field_error()];
        return form_page(&s, &state, "New monitor", "/monitors", &f, &errors).await;
    }
    let m = state
        .store
        .create_monitor(s.org_id(), &valid, state.now())
        .await?;
    save_channels(&s, &state, &f, m.id).await?;
    state.actors.monitor_changed(&m);
    tracing::info!(monitor_id = m.id, org_id = m.org_id, "monitor created");
    state.audit(monitor_event(&s, "monitor.created", &m)).await;
    Ok(redirect(&format!("/monitors/{}", m.id)))
}

/// "Test this request": the form's request, checked once by a worker in the
/// monitor's first region; answers with a fragment for the form.
pub async fn test_request(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<MonitorFormData>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let stored = match f.monitor_id.trim().parse::<i64>() {
        Ok(id) => Some(state.store.monitor(s.org_id(), id).await?),
        Err(_) => None,
    };
    let valid = match f.validate(stored.as_ref()) {
        Ok(v) => v,
        Err(errors) => {
            return Ok(html(views::test_result(&views::TestResultVm::Invalid(
                &errors,
            ))))
        }
    };
    // Stored secrets reach only the stored origin (validation refuses
    // another); sending them anywhere, even there, is on the record.
    if let Some(m) = stored.as_ref().filter(|_| f.uses_stored_secrets()) {
        state
            .audit(
                monitor_event(&s, "monitor.tested_with_secrets", m).detail(format!(
                    "{}: a test request with the stored secrets to {}",
                    m.name, valid.check.url
                )),
            )
            .await;
    }
    let region = valid
        .regions
        .first()
        .cloned()
        .unwrap_or_else(|| ANY_REGION.to_string());
    let wait = std::time::Duration::from_millis(u64::from(valid.check.timeout_ms) + 5_000);
    let got = state
        .actors
        .probe(s.org_id(), &region, valid.check.clone(), state.now(), wait)
        .await;
    tracing::info!(org_id = s.org_id(), region = %region, answered = got.is_some(), "request tested");
    let vm = match &got {
        Some(r) => views::TestResultVm::Checked {
            region: &region,
            outcome: r.outcome.as_str(),
            status_code: r.status_code,
            total_ms: r.total_ms,
            phases: r
                .timings
                .as_ref()
                .map(|t| [t.dns_ms, t.connect_ms, t.tls_ms, t.ttfb_ms, t.transfer_ms]),
            error: r.error_message.as_deref(),
            assertions: r
                .assertions
                .iter()
                .map(|a| (a.assertion.as_str(), a.passed, a.detail.as_deref()))
                .collect(),
        },
        None => views::TestResultVm::NoWorker {
            region: &region,
            seconds: wait.as_secs(),
        },
    };
    Ok(html(views::test_result(&vm)))
}

pub async fn edit_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let m = state.store.monitor(s.org_id(), *id).await?;
    form_page(
        &s,
        &state,
        &format!("Edit {}", m.name),
        &format!("/monitors/{}", m.id),
        &MonitorFormData::from_monitor(&m),
        &[],
    )
    .await
}

pub async fn update_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    CsrfForm(f): CsrfForm<MonitorFormData>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let existing = state.store.monitor(s.org_id(), *id).await?;
    let checked = f.validate(Some(&existing)).and_then(|v| {
        state
            .settings
            .quotas
            .check_monitor(&v)
            .map(|_| v)
            .map_err(|e| vec![e.to_field_error()])
    });
    let valid = match checked {
        Ok(v) => v,
        Err(errors) => {
            return form_page(
                &s,
                &state,
                &format!("Edit {}", existing.name),
                &format!("/monitors/{}", existing.id),
                &f,
                &errors,
            )
            .await
        }
    };
    let m = state
        .store
        .update_monitor(s.org_id(), existing.id, &valid, state.now())
        .await?;
    save_channels(&s, &state, &f, m.id).await?;
    state.actors.monitor_changed(&m);
    state.audit(monitor_event(&s, "monitor.updated", &m)).await;
    Ok(redirect(&format!("/monitors/{}", m.id)))
}
