//! OpenSeer's dashboard views: pure functions from view models to `Markup`.
//! No database, no actors: `openseer-node` builds the view models.
//!
//! Pages put live regions under `sse-connect="/events?..."`; the node sends
//! server-sent events whose names match `sse-swap` attributes here (see
//! [`live`]), with HTML fragments rendered by this crate as their data.

mod account;
mod alerting;
pub mod assets;
pub mod charts;
pub mod live;
mod maintenance;
mod pages;
pub mod time;

pub use account::*;
pub use alerting::*;
pub use maintenance::*;
pub use pages::*;

use maud::{html, Markup, DOCTYPE};
use openseer_protocol::Role;

/// Who is signed in, for the navigation bar.
pub struct NavUser<'a> {
    pub email: &'a str,
    pub org_id: i64,
    pub org_name: &'a str,
    pub role: Role,
    /// Every organization of the user's (id, name), for the switcher.
    pub orgs: Vec<(i64, &'a str)>,
    /// May manage the cluster.
    pub operator: bool,
}

/// What every page needs besides its content.
pub struct Frame<'a> {
    pub title: &'a str,
    pub user: Option<NavUser<'a>>,
    pub csrf: &'a str,
    /// The live event stream to connect to (see [`live::stream_url`]).
    pub live: Option<String>,
}

pub fn layout(frame: &Frame, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                link rel="icon" href="data:,";
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false}"#;
                title { (frame.title) " · OpenSeer" }
                link rel="stylesheet" href=(assets::url("app.css"));
                script src=(assets::url("htmx.min.js")) defer {}
                script src=(assets::url("sse.min.js")) defer {}
                script src=(assets::url("app.js")) defer {}
            }
            body hx-ext="sse" {
                header.top {
                    a.brand href="/" { "OpenSeer" }
                    @if let Some(u) = &frame.user {
                        nav aria-label="Main" {
                            a href="/" { "Monitors" }
                            a href="/incidents" { "Incidents" }
                            a href="/maintenance" { "Maintenance" }
                            a href="/workers" { "Workers" }
                            a href="/settings/members" { "Members" }
                            @if u.role >= Role::Admin {
                                a href="/channels" { "Channels" }
                                a href="/settings/organization" { "Organization" }
                                a href="/settings/audit" { "Audit log" }
                            }
                            @if u.operator { a href="/cluster" { "Cluster" } }
                            a href="/settings/tokens" { "API tokens" }
                            a href="/settings/profile" { "Profile" }
                        }
                        div.who {
                            @if frame.live.is_some() { span #live.off role="status" aria-live="polite" { "connecting…" } }
                            span { (u.email) " · " (u.role.as_str()) }
                            @if u.orgs.len() > 1 {
                                form.inline method="post" action="/orgs/switch" {
                                    input type="hidden" name="_csrf" value=(frame.csrf);
                                    label.sr-only for="org-switch" { "Organization" }
                                    select #org-switch name="org_id" {
                                        @for (id, name) in &u.orgs { option value=(id) selected[*id == u.org_id] { (name) } }
                                    }
                                    button.secondary type="submit" { "Switch" }
                                }
                            } @else {
                                span #org-name { (u.org_name) }
                            }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="_csrf" value=(frame.csrf);
                                button.secondary type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                @if let Some(url) = &frame.live {
                    main sse-connect=(url) { (content) }
                } @else {
                    main { (content) }
                }
            }
        }
    }
}

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}

pub fn badge(outcome: &str) -> Markup {
    html! { span class={ "badge " (outcome) } { (outcome) } }
}
