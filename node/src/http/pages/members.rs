//! Organizations and their members: roles, one-time invitation links,
//! switching and creating organizations, organization settings and the
//! audit log.
//!
//! Who may do what: every member sees the member list; admins and owners
//! invite, change roles and remove members, but only owners touch owners
//! (grant, change or remove the owner role); the store refuses any change
//! that would leave an organization without an owner. Removing a member
//! ends their sessions in the organization and revokes their API tokens
//! for it.

use actix_web::{web, HttpRequest, HttpResponse};
use openseer_protocol::token::TokenKind;
use openseer_protocol::{FieldError, Role};
use openseer_web as views;
use serde::Deserialize;

use super::{
    anonymous_frame, base_url, check_email, check_text, frame, hash_password, html,
    html_or_invalid, html_status, redirect,
};
use crate::auth::session_store::ORG_ID_KEY;
use crate::auth::{csrf, password, token};
use crate::http::errors::PageError;
use crate::http::identity::{has_csrf, peer_ip, start_session, CsrfForm, SignedIn};
use crate::http::AppState;
use openseer_core::rollup::plan::DAY;
use openseer_store::{AuditScope, Invitee, NewAudit, NewUser, StoreError};

/// How long an invitation link is good for unless the form says otherwise.
const DEFAULT_INVITATION_DAYS: i64 = 7;
const MAX_INVITATION_DAYS: i64 = 30;

fn member_event(s: &SignedIn, action: &'static str, user_id: i64, detail: String) -> NewAudit {
    s.audit(action).on("user", user_id).detail(detail)
}

/// Owners manage owners and admins; admins manage editors and viewers.
/// Refuses `s` changing or removing a member with the `current` role, or
/// granting `new`, where only an owner may. Anyone may give up their own
/// role (lower it, or leave).
fn check_owner_rule(
    s: &SignedIn,
    target: Option<i64>,
    current: Option<Role>,
    new: Option<Role>,
) -> Result<(), PageError> {
    if s.role() >= Role::Owner {
        return Ok(());
    }
    let giving_up_own = target == Some(s.user.id) && new.is_none_or(|n| Some(n) <= current);
    if giving_up_own {
        return Ok(());
    }
    let privileged = |r: Option<Role>| r.is_some_and(|r| r >= Role::Admin);
    if privileged(current) || privileged(new) {
        return Err(PageError::forbidden(
            "Only an owner can grant the admin or owner role, or change or remove an admin or owner.",
        ));
    }
    Ok(())
}

async fn members_view(
    s: &SignedIn,
    state: &AppState,
    invitation_link: Option<&str>,
    errors: &[FieldError],
) -> Result<HttpResponse, PageError> {
    let members = state.store.members(s.org_id()).await?;
    let invitations = if s.role() >= Role::Admin {
        state
            .store
            .open_invitations(s.org_id(), state.now())
            .await?
    } else {
        Vec::new()
    };
    let vm: Vec<views::MemberVm> = members
        .iter()
        .map(|m| views::MemberVm {
            user_id: m.user_id,
            email: &m.email,
            name: &m.name,
            role: m.role,
            two_factor: m.totp_enabled,
            since: m.since,
            is_me: m.user_id == s.user.id,
        })
        .collect();
    let inv: Vec<views::InvitationVm> = invitations
        .iter()
        .map(|i| views::InvitationVm {
            id: i.id,
            role: i.role,
            email: i.email.as_deref(),
            created_at: i.created_at,
            expires_at: i.expires_at,
        })
        .collect();
    let csrf = s.csrf();
    Ok(html_or_invalid(
        views::members_page(
            &frame(s, "Members", &csrf, None),
            &views::MembersVm {
                org_name: &s.org.org_name,
                my_role: s.role(),
                members: &vm,
                invitations: &inv,
                invitation_link,
            },
            errors,
        ),
        errors,
    ))
}

pub async fn members(s: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    s.require(Role::Viewer)?;
    members_view(&s, &state, None, &[]).await
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    days: String,
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub struct OrgNameForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
pub struct SwitchForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    org_id: String,
}

#[derive(Deserialize)]
pub struct OrgSettingsForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    require_2fa: Option<String>,
}

has_csrf!(
    RoleForm,
    InviteForm,
    AcceptForm,
    OrgNameForm,
    SwitchForm,
    OrgSettingsForm
);

async fn member_role(state: &AppState, org_id: i64, user_id: i64) -> Result<Role, PageError> {
    state
        .store
        .membership(org_id, user_id)
        .await?
        .map(|m| m.role)
        .ok_or(PageError::NotFound)
}

pub async fn change_role(
    s: SignedIn,
    state: web::Data<AppState>,
    user_id: web::Path<i64>,
    CsrfForm(f): CsrfForm<RoleForm>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    s.require_recent_auth(state.now(), "/settings/members")?;
    let user_id = user_id.into_inner();
    let current = member_role(&state, s.org_id(), user_id).await?;
    let Some(new) = Role::parse(&f.role) else {
        let e = [FieldError::new("role", "owner, admin, editor or viewer")];
        return members_view(&s, &state, None, &e).await;
    };
    check_owner_rule(&s, Some(user_id), Some(current), Some(new))?;
    match state.store.set_member_role(s.org_id(), user_id, new).await {
        Ok(()) => {}
        Err(StoreError::Conflict(m)) => {
            let e = [FieldError::new("role", m)];
            return members_view(&s, &state, None, &e).await;
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(org_id = s.org_id(), user_id, role = %new, "member role changed");
    state
        .audit(member_event(
            &s,
            "member.role_changed",
            user_id,
            format!("{current} → {new}"),
        ))
        .await;
    Ok(redirect("/settings/members"))
}

pub async fn remove_member(
    s: SignedIn,
    state: web::Data<AppState>,
    user_id: web::Path<i64>,
    CsrfForm(_): CsrfForm<crate::http::identity::CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    s.require_recent_auth(state.now(), "/settings/members")?;
    let user_id = user_id.into_inner();
    let current = member_role(&state, s.org_id(), user_id).await?;
    check_owner_rule(&s, Some(user_id), Some(current), None)?;
    let email = state.store.user_by_id(user_id).await?.email;
    match state.store.remove_member(s.org_id(), user_id).await {
        Ok(()) => {}
        Err(StoreError::Conflict(m)) => {
            let e = [FieldError::new("role", m)];
            return members_view(&s, &state, None, &e).await;
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(
        org_id = s.org_id(),
        user_id,
        "member removed; their sessions ended"
    );
    state
        .audit(member_event(
            &s,
            "member.removed",
            user_id,
            format!("{email} ({current})"),
        ))
        .await;
    if user_id == s.user.id {
        // Left the organization: the session moves to another one, or ends.
        return Ok(redirect("/"));
    }
    Ok(redirect("/settings/members"))
}

pub async fn invite(
    req: HttpRequest,
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<InviteForm>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    s.require_recent_auth(state.now(), "/settings/members")?;
    let mut errors = Vec::new();
    let role = Role::parse(&f.role).unwrap_or_else(|| {
        errors.push(FieldError::new("role", "owner, admin, editor or viewer"));
        Role::Viewer
    });
    check_owner_rule(&s, None, None, Some(role))?;
    let email = f.email.trim();
    if !email.is_empty() {
        if let Err(e) = check_email(email) {
            errors.push(FieldError::new("email", e));
        }
    }
    let days = match f.days.trim() {
        "" => DEFAULT_INVITATION_DAYS,
        t => match t.parse::<i64>() {
            Ok(d) if (1..=MAX_INVITATION_DAYS).contains(&d) => d,
            _ => {
                errors.push(FieldError::new(
                    "days",
                    format!("1 to {MAX_INVITATION_DAYS} days"),
                ));
                DEFAULT_INVITATION_DAYS
            }
        },
    };
    if !errors.is_empty() {
        return members_view(&s, &state, None, &errors).await;
    }
    let t = token::generate(TokenKind::Invitation);
    let now = state.now();
    let id = state
        .store
        .create_invitation(
            s.org_id(),
            role,
            Some(email).filter(|e| !e.is_empty()),
            &token::hash(&t),
            s.user.id,
            now,
            now + days * DAY,
        )
        .await?;
    state
        .audit(
            s.audit("member.invited")
                .on("invitation", id)
                .detail(match email {
                    "" => format!("as {role}, link valid {days} days"),
                    e => format!("{e} as {role}, link valid {days} days"),
                }),
        )
        .await;
    let link = format!("{}/invite?token={t}", base_url(&req, &state));
    members_view(&s, &state, Some(&link), &[]).await
}

pub async fn revoke_invitation(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    CsrfForm(_): CsrfForm<crate::http::identity::CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    let inv = state
        .store
        .revoke_invitation(s.org_id(), *id, state.now())
        .await?;
    state
        .audit(
            s.audit("invitation.revoked")
                .on("invitation", inv.id)
                .detail(format!("as {}", inv.role)),
        )
        .await;
    Ok(redirect("/settings/members"))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

const INVALID_INVITATION: &str = "This invitation link is not valid any more: it was used, revoked or has expired. Ask for a new one.";

/// The invitation a presented token stands for, if it is still open.
async fn open_invitation(
    state: &AppState,
    presented: &str,
) -> Result<Option<openseer_store::Invitation>, PageError> {
    let Some(hash) = token::lookup_hash(TokenKind::Invitation, presented) else {
        return Ok(None);
    };
    let inv = state.store.invitation_by_token(&hash).await?;
    Ok(inv.filter(|i| i.open_at(state.now())))
}

/// `/invite?token=...`: join as the signed-in user, or make an account.
pub async fn invitation_page(
    state: web::Data<AppState>,
    session: actix_session::Session,
    s: Option<SignedIn>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let presented = q.token.clone().unwrap_or_default();
    let csrf = csrf::token(&session);
    let Some(inv) = open_invitation(&state, &presented).await? else {
        return Ok(html_status(
            actix_web::http::StatusCode::GONE,
            views::message_page(
                &anonymous_frame("Invitation", &csrf),
                "Invitation not valid",
                INVALID_INVITATION,
            ),
        ));
    };
    let vm = views::InvitationPageVm {
        token: &presented,
        org_name: &inv.org_name,
        role: inv.role,
        email: inv.email.as_deref().unwrap_or(""),
        signed_in_as: s.as_ref().map(|s| s.user.email.as_str()),
        already_member: s
            .as_ref()
            .is_some_and(|s| s.orgs.iter().any(|m| m.org_id == inv.org_id)),
        name: "",
    };
    let page_frame = match &s {
        Some(s) => frame(s, "Invitation", &csrf, None),
        None => anonymous_frame("Invitation", &csrf),
    };
    Ok(html(views::invitation_page(&page_frame, &vm, &[])))
}

/// Accepts an invitation: as the signed-in user, or as a new account made
/// from the form (then signed in). Either way the session then works in
/// the organization joined.
pub async fn accept_invitation(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: actix_session::Session,
    s: Option<SignedIn>,
    CsrfForm(f): CsrfForm<AcceptForm>,
) -> Result<HttpResponse, PageError> {
    let csrf = csrf::token(&session);
    let gone = || {
        html_status(
            actix_web::http::StatusCode::GONE,
            views::message_page(
                &anonymous_frame("Invitation", &csrf),
                "Invitation not valid",
                INVALID_INVITATION,
            ),
        )
    };
    let Some(inv) = open_invitation(&state, &f.token).await? else {
        return Ok(gone());
    };
    let hash = token::hash(&f.token);
    let now = state.now();
    let mut errors = Vec::new();
    let probe = super::auth::attempt(&req, &f.email);
    let accepted = match &s {
        Some(s) => {
            state
                .store
                .accept_invitation(
                    &hash,
                    Invitee::Existing {
                        user_id: s.user.id,
                        email: &s.user.email,
                    },
                    now,
                )
                .await
        }
        None if super::auth::throttled(&state, &probe) => {
            // "An account with this email exists" tells who has one: an
            // invitation link must not become a way to list them.
            return Ok(html_status(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                views::message_page(
                    &anonymous_frame("Invitation", &csrf),
                    "Too many attempts",
                    super::auth::THROTTLED,
                ),
            ));
        }
        None => {
            check_text("name", &f.name, 100, &mut errors);
            if let Err(e) = check_email(f.email.trim()) {
                errors.push(FieldError::new("email", e));
            }
            if let Err(e) = password::check_new_password(&f.password, &[&f.email, &f.name]) {
                errors.push(FieldError::new("password", e));
            }
            if errors.is_empty() {
                let hash_pw = hash_password(f.password.clone()).await?;
                state
                    .store
                    .accept_invitation(
                        &hash,
                        Invitee::New(NewUser {
                            email: f.email.trim(),
                            name: f.name.trim(),
                            password_hash: &hash_pw,
                        }),
                        now,
                    )
                    .await
            } else {
                Err(StoreError::Conflict(String::new()))
            }
        }
    };
    let (user_id, org_id, role) = match accepted {
        Ok(a) => a,
        Err(StoreError::NotFound) => return Ok(gone()),
        Err(StoreError::Conflict(m)) => {
            if !m.is_empty() {
                let field = if m.contains("email") {
                    "email"
                } else {
                    "token"
                };
                let m = if m.contains("already exists") {
                    state.throttle.fail(&probe, now);
                    "an account with this email exists: sign in first, then open the link again"
                        .to_string()
                } else {
                    m
                };
                errors.push(FieldError::new(field, m));
            }
            let vm = views::InvitationPageVm {
                token: &f.token,
                org_name: &inv.org_name,
                role: inv.role,
                email: &f.email,
                signed_in_as: s.as_ref().map(|s| s.user.email.as_str()),
                already_member: false,
                name: &f.name,
            };
            let page_frame = match &s {
                Some(s) => frame(s, "Invitation", &csrf, None),
                None => anonymous_frame("Invitation", &csrf),
            };
            return Ok(html_or_invalid(
                views::invitation_page(&page_frame, &vm, &errors),
                &errors,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let email = match &s {
        Some(s) => s.user.email.clone(),
        None => f.email.trim().to_string(),
    };
    state
        .audit(
            NewAudit::by_user(org_id, user_id, &email, "member.joined", peer_ip(&req))
                .on("user", user_id)
                .detail(format!("as {role}, by invitation {}", inv.id)),
        )
        .await;
    state.store.set_last_org(user_id, org_id).await?;
    match s {
        Some(s) => {
            s.session.renew();
            s.session
                .insert(ORG_ID_KEY, org_id)
                .map_err(|_| PageError::Internal)?;
        }
        None => start_session(&session, user_id, org_id, now)?,
    }
    Ok(redirect("/"))
}

pub async fn create_organization(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<OrgNameForm>,
) -> Result<HttpResponse, PageError> {
    let mut errors = Vec::new();
    check_text("new-org", &f.name, 100, &mut errors);
    let owned = s.orgs.iter().filter(|m| m.role == Role::Owner).count();
    if let Err(e) = state.settings.quotas.check_new_organization(owned) {
        errors.push(e.to_field_error());
    }
    if !errors.is_empty() {
        return members_view(&s, &state, None, &errors).await;
    }
    let org_id = state
        .store
        .create_organization_for(s.user.id, f.name.trim(), state.now())
        .await?;
    state
        .audit(NewAudit {
            org_id: Some(org_id),
            ..s.audit("organization.created")
                .on("organization", org_id)
                .detail(f.name.trim())
        })
        .await;
    switch_to(&s, &state, org_id).await?;
    Ok(redirect("/"))
}

/// Moves the session to another organization of the user's, under a new
/// session key (its privileges change with it).
async fn switch_to(s: &SignedIn, state: &AppState, org_id: i64) -> Result<(), PageError> {
    s.session.renew();
    s.session
        .insert(ORG_ID_KEY, org_id)
        .map_err(|_| PageError::Internal)?;
    state.store.set_last_org(s.user.id, org_id).await?;
    Ok(())
}

pub async fn switch_organization(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<SwitchForm>,
) -> Result<HttpResponse, PageError> {
    let org_id: i64 = f.org_id.trim().parse().map_err(|_| PageError::NotFound)?;
    if !s.orgs.iter().any(|m| m.org_id == org_id) {
        return Err(PageError::NotFound);
    }
    switch_to(&s, &state, org_id).await?;
    Ok(redirect("/"))
}

fn organization_view(
    s: &SignedIn,
    name: &str,
    notice: Option<&str>,
    errors: &[FieldError],
) -> HttpResponse {
    let csrf = s.csrf();
    html_or_invalid(
        views::organization_page(
            &frame(s, "Organization", &csrf, None),
            &views::OrganizationVm {
                name,
                require_2fa: s.org.require_2fa,
                i_have_2fa: s.user.totp_enabled,
                notice,
            },
            errors,
        ),
        errors,
    )
}

pub async fn organization(s: SignedIn) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    Ok(organization_view(&s, &s.org.org_name, None, &[]))
}

pub async fn save_organization(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<OrgSettingsForm>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    s.require_recent_auth(state.now(), "/settings/organization")?;
    let mut errors = Vec::new();
    check_text("name", &f.name, 100, &mut errors);
    let require = f.require_2fa.is_some();
    if require && !s.user.totp_enabled {
        errors.push(FieldError::new(
            "require_2fa",
            "set up two-factor sign-in for yourself first (Profile → Two-factor sign-in)",
        ));
    }
    if !errors.is_empty() {
        return Ok(organization_view(&s, &f.name, None, &errors));
    }
    let name = f.name.trim();
    let mut changes = Vec::new();
    if name != s.org.org_name {
        state.store.rename_organization(s.org_id(), name).await?;
        changes.push(format!("name: {} → {name}", s.org.org_name));
    }
    if require != s.org.require_2fa {
        state.store.set_require_2fa(s.org_id(), require).await?;
        changes.push(format!(
            "two-factor sign-in {}",
            if require { "required" } else { "optional" }
        ));
    }
    if !changes.is_empty() {
        state
            .audit(
                s.audit("organization.updated")
                    .on("organization", s.org_id())
                    .detail(changes.join("; ")),
            )
            .await;
    }
    let mut s = s;
    s.org.org_name = name.to_string();
    s.org.require_2fa = require;
    Ok(organization_view(&s, name, Some("Saved."), &[]))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
}

const AUDIT_PAGE: i64 = 100;

pub async fn audit_log(
    s: SignedIn,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    // The instance's operators also see events of no organization (failed
    // sign-ins with unknown addresses) in the instance's organization.
    let scope = match state.instance_org_id().await? {
        Some(first) if first == s.org_id() => AuditScope::OrganizationAndInstance,
        _ => AuditScope::Organization,
    };
    let entries = state
        .store
        .audit_log(s.org_id(), scope, q.before, AUDIT_PAGE)
        .await?;
    let vm: Vec<views::AuditVm> = entries
        .iter()
        .map(|e| views::AuditVm {
            at: e.at,
            actor: &e.actor,
            action: &e.action,
            object: match (&e.object_type, &e.object_id) {
                (Some(t), Some(id)) => format!("{t} {id}"),
                (Some(t), None) => t.clone(),
                _ => String::new(),
            },
            detail: e.detail.as_deref().unwrap_or(""),
            ip: e.ip.as_deref().unwrap_or(""),
        })
        .collect();
    let older = (entries.len() as i64 == AUDIT_PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let csrf = s.csrf();
    Ok(html(views::audit_page(
        &frame(&s, "Audit log", &csrf, None),
        &vm,
        older,
        state.settings.audit_retention_ms / DAY,
    )))
}
