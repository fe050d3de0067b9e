//! Pages of accounts and organizations: the second sign-in step,
//! re-authentication, two-factor settings, members and invitations,
//! organization settings and the audit log.

use maud::{html, Markup, PreEscaped};
use openseer_protocol::{FieldError, Role};

use crate::pages::{field, invalid};
use crate::time::time_el;
use crate::{csrf_field, layout, Frame};

/// A QR code of `text` as an inline SVG (dark modules on white, with the
/// quiet zone scanners need).
pub fn qr_svg(text: &str) -> Markup {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(200, 200)
                .dark_color(qrcode::render::svg::Color("#000000"))
                .light_color(qrcode::render::svg::Color("#ffffff"))
                .quiet_zone(true)
                .build();
            // Our own SVG, from the qrcode crate's renderer: no user markup.
            let body = svg
                .split_once("?>")
                .map_or(svg.as_str(), |(_, rest)| rest)
                .trim();
            html! { div.qr role="img" aria-label="QR code for your authenticator app" { (PreEscaped(body)) } }
        }
        Err(_) => html! { p.muted { "(The key is too long for a QR code: type it in.)" } },
    }
}

pub fn second_factor_page(frame: &Frame, error: Option<&str>) -> Markup {
    layout(
        frame,
        html! {
            h1 { "Two-factor sign-in" }
            @if let Some(e) = error { div.notice.error role="alert" { (e) } }
            form.stack method="post" action="/login/2fa" {
                (csrf_field(frame.csrf))
                label for="code" {
                    "Code from your authenticator app"
                    small { "or one of your recovery codes" }
                    input #code name="code" required autocomplete="one-time-code" inputmode="text" autofocus;
                }
                button type="submit" { "Sign in" }
            }
            p { a href="/login" { "Start over" } }
        },
    )
}

pub fn reauth_page(frame: &Frame, next: &str, two_factor: bool, errors: &[FieldError]) -> Markup {
    layout(
        frame,
        html! {
            h1 { "Confirm it is you" }
            p { "This action changes how you or others get in, so it needs your password" @if two_factor { " and a code" } " again. It then stays open for 10 minutes." }
            form.stack method="post" action="/reauth" {
                (csrf_field(frame.csrf))
                input type="hidden" name="next" value=(next);
                (field(errors, "password", "Password", None, html! { input #password name="password" type="password" required autocomplete="current-password" aria-invalid=(invalid(errors, "password")); }))
                @if two_factor {
                    (field(errors, "code", "Code from your authenticator app", Some("or a recovery code"), html! { input #code name="code" required autocomplete="one-time-code" aria-invalid=(invalid(errors, "code")); }))
                }
                button type="submit" { "Confirm" }
            }
        },
    )
}

/// Where a user's two-factor sign-in stands.
pub enum TwoFactorState {
    /// Off; setting it up asks for the password in the same form unless
    /// the session confirmed it lately.
    Off {
        confirm_password: bool,
    },
    /// A key was made; it is on once a code from the app is confirmed.
    Enrolling {
        key: String,
        qr: Markup,
    },
    On {
        codes_left: i64,
    },
}

pub fn two_factor_page(
    frame: &Frame,
    state: &TwoFactorState,
    required_by: &[&str],
    new_codes: Option<&[String]>,
    errors: &[FieldError],
) -> Markup {
    layout(
        frame,
        html! {
            h1 { "Two-factor sign-in" }
            @if !required_by.is_empty() && !matches!(state, TwoFactorState::On { .. }) {
                div.notice.error role="alert" { (required_by.join(", ")) " requires two-factor sign-in. Set it up to continue." }
            }
            @if let Some(codes) = new_codes {
                div.notice role="status" {
                    p { strong { "Your recovery codes." } " Keep them somewhere safe: each signs you in once if you lose your phone. They are not shown again." }
                    ul #recovery-codes.codes { @for c in codes { li { code { (c) } } } }
                }
            }
            @match state {
                TwoFactorState::Off { confirm_password } => {
                    p { "Signing in asks only for your password. With two-factor sign-in it also asks for a code from an authenticator app on your phone (any app that supports TOTP)." }
                    form.stack method="post" action="/settings/2fa/setup" {
                        (csrf_field(frame.csrf))
                        @if *confirm_password {
                            (field(errors, "password", "Your password", Some("to confirm it is you"), html! { input #password name="password" type="password" required autocomplete="current-password" aria-invalid=(invalid(errors, "password")); }))
                        }
                        div { button type="submit" { "Set up two-factor sign-in" } }
                    }
                }
                TwoFactorState::Enrolling { key, qr } => {
                    p { "Scan this code with your authenticator app, or type the key into it, then enter the code the app shows." }
                    (qr)
                    p { "Key: " code #totp-key { (key) } }
                    form.stack method="post" action="/settings/2fa/enable" {
                        (csrf_field(frame.csrf))
                        (field(errors, "code", "Code from the app", None, html! { input #code name="code" required autocomplete="one-time-code" inputmode="numeric" aria-invalid=(invalid(errors, "code")); }))
                        button type="submit" { "Turn on" }
                    }
                }
                TwoFactorState::On { codes_left } => {
                    p { "On: signing in asks for a code from your authenticator app. " strong #codes-left { (codes_left) } " unused recovery codes left." }
                    div.row {
                        form.inline method="post" action="/settings/2fa/recovery-codes" {
                            (csrf_field(frame.csrf))
                            button.secondary type="submit" { "Make new recovery codes" }
                        }
                        @if required_by.is_empty() {
                            form.inline method="post" action="/settings/2fa/disable" data-confirm="Turn two-factor sign-in off?" {
                                (csrf_field(frame.csrf))
                                button.danger type="submit" { "Turn off" }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub struct MemberVm<'a> {
    pub user_id: i64,
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub two_factor: bool,
    pub since: i64,
    pub is_me: bool,
}

pub struct InvitationVm<'a> {
    pub id: i64,
    pub role: Role,
    pub email: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub struct MembersVm<'a> {
    pub org_name: &'a str,
    pub my_role: Role,
    pub members: &'a [MemberVm<'a>],
    pub invitations: &'a [InvitationVm<'a>],
    /// A link just made: shown once.
    pub invitation_link: Option<&'a str>,
}

/// The roles `me` may hand out: only owners make owners.
/// Owners grant any role; admins grant editor and viewer.
fn grantable(me: Role) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| *r < Role::Admin || me == Role::Owner)
        .collect()
}

/// Whether `me` may change or remove a member with role `theirs`: owners
/// manage everyone, admins editors and viewers.
fn manages(me: Role, theirs: Role) -> bool {
    me == Role::Owner || (me >= Role::Admin && theirs < Role::Admin)
}

pub fn members_page(frame: &Frame, v: &MembersVm, errors: &[FieldError]) -> Markup {
    let manage = v.my_role >= Role::Admin;
    let roles = grantable(v.my_role);
    layout(
        frame,
        html! {
            h1 { "Members of " (v.org_name) }
            @if let Some(link) = v.invitation_link {
                div.notice role="status" {
                    p { "Invitation link. Copy it and send it to the person you invite: it works once and is not shown again." }
                    code.secret #invitation-link { (link) }
                }
            }
            @if let Some(e) = errors.iter().find(|e| e.field == "role") { div.notice.error role="alert" { (e.message) } }
            table.stack-sm #members {
                thead { tr { th { "Email" } th { "Name" } th { "Role" } th.hide-sm { "Two-factor" } th.hide-sm { "Since" } @if manage { th {} } } }
                tbody {
                    @for m in v.members {
                        tr {
                            td data-label="Email" { (m.email) @if m.is_me { " " span.muted { "(you)" } } }
                            td data-label="Name" { (m.name) }
                            td data-label="Role" {
                                @if manages(v.my_role, m.role) {
                                    form.inline method="post" action={ "/settings/members/" (m.user_id) "/role" } {
                                        (csrf_field(frame.csrf))
                                        label.sr-only for={ "role-" (m.user_id) } { "Role of " (m.email) }
                                        select id={ "role-" (m.user_id) } name="role" {
                                            @for r in &roles { option value=(r.as_str()) selected[*r == m.role] { (r.as_str()) } }
                                        }
                                        button.secondary type="submit" { "Change" }
                                    }
                                } @else { (m.role.as_str()) }
                            }
                            td.hide-sm data-label="Two-factor" { @if m.two_factor { "on" } @else { "off" } }
                            td.hide-sm data-label="Since" { (time_el(m.since)) }
                            @if manage {
                                td { @if manages(v.my_role, m.role) || m.is_me {
                                    form.inline method="post" action={ "/settings/members/" (m.user_id) "/remove" } data-confirm={ "Remove " (m.email) " from " (v.org_name) "? Their sessions here end at once." } {
                                        (csrf_field(frame.csrf))
                                        button.danger type="submit" { @if m.is_me { "Leave" } @else { "Remove" } }
                                    }
                                } }
                            }
                        }
                    }
                }
            }
            @if manage {
                h2 { "Invite someone" }
                p.muted { "No mail is sent: you get a one-time link to pass on. Whoever opens it signs in (or makes an account) and joins with the role you choose." }
                form.stack method="post" action="/settings/invitations" {
                    (csrf_field(frame.csrf))
                    (field(errors, "role", "Role", None, html! {
                        select #role name="role" {
                            @for r in &roles { option value=(r.as_str()) selected[*r == Role::Editor] { (r.as_str()) } }
                        }
                    }))
                    (field(errors, "email", "Email", Some("optional: then only this address can use the link"), html! { input #email name="email" type="email" aria-invalid=(invalid(errors, "email")); }))
                    (field(errors, "days", "Valid for (days)", Some("1 to 30"), html! { input #days name="days" inputmode="numeric" value="7" aria-invalid=(invalid(errors, "days")); }))
                    button type="submit" { "Create invitation link" }
                }
                h2 { "Open invitations" }
                @if v.invitations.is_empty() { p.muted { "None." } }
                @else {
                    table.stack-sm #invitations {
                        thead { tr { th { "For" } th { "Role" } th { "Created" } th { "Expires" } th {} } }
                        tbody {
                            @for i in v.invitations {
                                tr {
                                    td data-label="For" { (i.email.unwrap_or("anyone with the link")) }
                                    td data-label="Role" { (i.role.as_str()) }
                                    td data-label="Created" { (time_el(i.created_at)) }
                                    td data-label="Expires" { (time_el(i.expires_at)) }
                                    td { form.inline method="post" action={ "/settings/invitations/" (i.id) "/revoke" } {
                                        (csrf_field(frame.csrf)) button.secondary type="submit" { "Revoke" }
                                    } }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Another organization" }
            form.row method="post" action="/orgs" {
                (csrf_field(frame.csrf))
                (field(errors, "new-org", "Name", None, html! { input #new-org name="name" required maxlength="100" aria-invalid=(invalid(errors, "new-org")); }))
                button.secondary type="submit" { "Create organization" }
            }
        },
    )
}

pub struct InvitationPageVm<'a> {
    pub token: &'a str,
    pub org_name: &'a str,
    pub role: Role,
    /// Whom it is for (may be empty), or what the form had.
    pub email: &'a str,
    pub name: &'a str,
    pub signed_in_as: Option<&'a str>,
    pub already_member: bool,
}

pub fn invitation_page(frame: &Frame, v: &InvitationPageVm, errors: &[FieldError]) -> Markup {
    let next = format!("/invite?token={}", v.token);
    layout(
        frame,
        html! {
            h1 { "Join " (v.org_name) }
            p { "You are invited to " strong { (v.org_name) } " as " strong { (v.role.as_str()) } "." }
            @if let Some(e) = errors.iter().find(|e| e.field == "token") { div.notice.error role="alert" { (e.message) } }
            @match v.signed_in_as {
                Some(email) if v.already_member => {
                    p { "You (" (email) ") are a member already. " a href="/" { "Go to the dashboard" } }
                }
                Some(email) => {
                    form.stack method="post" action="/invite" {
                        (csrf_field(frame.csrf))
                        input type="hidden" name="token" value=(v.token);
                        @if let Some(e) = errors.iter().find(|e| e.field == "email") { div.notice.error role="alert" { (e.message) } }
                        p { "Join as " (email) "." }
                        button type="submit" { "Join " (v.org_name) }
                    }
                }
                None => {
                    p { "Have an account? " a href={ "/login?next=" (crate::account::query_value(&next)) } { "Sign in" } " and open this link again. New here? Make an account:" }
                    form.stack method="post" action="/invite" {
                        (csrf_field(frame.csrf))
                        input type="hidden" name="token" value=(v.token);
                        (field(errors, "name", "Your name", None, html! { input #name name="name" required autocomplete="name" value=(v.name) aria-invalid=(invalid(errors, "name")); }))
                        (field(errors, "email", "Email", None, html! { input #email name="email" type="email" required autocomplete="username" value=(v.email) aria-invalid=(invalid(errors, "email")); }))
                        (field(errors, "password", "Password", Some("at least 12 characters, not a common or easily guessed one"), html! { input #password name="password" type="password" required minlength="12" autocomplete="new-password" aria-invalid=(invalid(errors, "password")); }))
                        button type="submit" { "Make my account and join" }
                    }
                }
            }
        },
    )
}

/// `s` percent-encoded for a query string value.
pub fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub struct OrganizationVm<'a> {
    pub name: &'a str,
    pub require_2fa: bool,
    pub i_have_2fa: bool,
    pub notice: Option<&'a str>,
}

pub fn organization_page(frame: &Frame, v: &OrganizationVm, errors: &[FieldError]) -> Markup {
    layout(
        frame,
        html! {
            h1 { "Organization" }
            @if let Some(n) = v.notice { div.notice role="status" { (n) } }
            form.stack method="post" action="/settings/organization" {
                (csrf_field(frame.csrf))
                (field(errors, "name", "Name", None, html! { input #name name="name" required maxlength="100" value=(v.name) aria-invalid=(invalid(errors, "name")); }))
                label.row for="require_2fa" {
                    input #require_2fa type="checkbox" name="require_2fa" value="on" checked[v.require_2fa] aria-invalid=(invalid(errors, "require_2fa"));
                    "Require two-factor sign-in of every member"
                }
                @if let Some(e) = errors.iter().find(|e| e.field == "require_2fa") { span.field-error role="alert" { (e.message) } }
                @if !v.i_have_2fa { p.muted { "Members without it are sent to set it up before anything else; API tokens of such members stop working until they do." } }
                button type="submit" { "Save" }
            }
            p { a href="/settings/audit" { "Audit log" } " · " a href="/settings/members" { "Members" } }
        },
    )
}

pub struct AuditVm<'a> {
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub object: String,
    pub detail: &'a str,
    pub ip: &'a str,
}

pub fn audit_page(
    frame: &Frame,
    entries: &[AuditVm],
    older: Option<i64>,
    kept_days: i64,
) -> Markup {
    layout(
        frame,
        html! {
            h1 { "Audit log" }
            p.muted { "Who did what, newest first. Kept " (kept_days) " days." }
            @if entries.is_empty() { p { "Nothing yet." } }
            @else {
                table.stack-sm #audit {
                    thead { tr { th { "When" } th { "Who" } th { "What" } th { "Object" } th { "Detail" } th.hide-sm { "From" } } }
                    tbody {
                        @for e in entries {
                            tr {
                                td data-label="When" { (time_el(e.at)) }
                                td data-label="Who" { (e.actor) }
                                td data-label="What" { code { (e.action) } }
                                td data-label="Object" { (e.object) }
                                td data-label="Detail" { (e.detail) }
                                td.hide-sm data-label="From" { (e.ip) }
                            }
                        }
                    }
                }
            }
            @if let Some(id) = older { p { a href={ "/settings/audit?before=" (id) } { "Older" } } }
        },
    )
}
