//! The store conformance suite: every store operation, run against SQLite
//! and against a fresh PostgreSQL database, with the same assertions.

use crate::common;

use common::db::TestDb;
use common::results::stored as result;
use openseer_core::rollup::plan::{Tier, DAY, HOUR, MINUTE};
use openseer_core::rollup::{Aggregate, RawSample};
use openseer_protocol::{MonitorInput, Outcome, Role, Scope};
use openseer_store::{
    AuditScope, BackendKind, Invitee, Membership, NewApiToken, NewAudit, NewEnrollmentToken,
    NewUser, Results, RollupRow, SessionRow, Store, StoreError, StoredResult,
};

/// Each test, once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let db = super::TestDb::sqlite().await;
                super::$name(&db.store).await;
            }
            #[tokio::test]
            async fn postgres() {
                let Some(db) = super::TestDb::postgres().await else { return };
                super::$name(&db.store).await;
            }
        }
    )*};
}

conformance!(
    meta_and_schema,
    setup_and_accounts,
    members_and_owners,
    invitations,
    two_factor,
    audit_log,
    sessions,
    monitor_secrets_are_sealed,
    monitors_are_scoped_by_organization,
    tokens_and_workers,
    results_keep_the_first_answer_but_replace_missed,
    results_of_deleted_monitors_are_left_out,
    results_page_back_and_catch_up,
    rollup_rows_round_trip,
    raw_samples_and_buckets,
    retention_drops_old_raw_and_rollups,
    transitions_notifications_and_claims,
    maintenance_windows_are_scoped_and_cover_chosen_monitors,
);

const NOW: i64 = 1_780_000_000_000;

fn admin<'a>(email: &'a str) -> NewUser<'a> {
    NewUser {
        email,
        name: "Ada",
        password_hash: "$argon2id$fake",
    }
}

async fn org(store: &Store, name: &str) -> (i64, i64) {
    let (u, org_id) = store
        .create_organization(name, admin(&format!("{name}@example.com")), NOW)
        .await
        .unwrap();
    (org_id, u.id)
}

fn monitor_input(name: &str) -> MonitorInput {
    serde_json::from_value(serde_json::json!({
        "name": name, "url": "https://example.com/health", "interval_seconds": 30,
        "regions": ["eu", "us"], "assertions": [{"kind": "status", "op": "eq", "value": "200"}]
    }))
    .or_else(|_| serde_json::from_value(serde_json::json!({
        "name": name, "url": "https://example.com/health", "interval_seconds": 30, "regions": ["eu", "us"]
    })))
    .unwrap()
}

async fn insert(store: &Store, rs: &[StoredResult]) {
    let refs: Vec<&StoredResult> = rs.iter().collect();
    store.insert_results(&refs).await.unwrap();
}

async fn meta_and_schema(store: &Store) {
    assert!(store.migrations_current().await.unwrap());
    store.migrate().await.expect("migrating twice is a no-op");
    store.ping().await.unwrap();
    assert_eq!(store.get_meta("k").await.unwrap(), None);
    store.set_meta("k", "v1").await.unwrap();
    store.set_meta("k", "v2").await.unwrap();
    assert_eq!(store.get_meta("k").await.unwrap().as_deref(), Some("v2"));
    store.delete_meta("k").await.unwrap();
    assert_eq!(store.get_meta("k").await.unwrap(), None);
    let backup = tempfile::tempdir().unwrap();
    let copied = store.backup_to(&backup.path().join("b.db")).await;
    match store.kind() {
        BackendKind::Sqlite => copied.unwrap(),
        BackendKind::Postgres => {
            assert!(matches!(copied, Err(StoreError::Config(m)) if m.contains("pg_dump")))
        }
    }
}

async fn setup_and_accounts(store: &Store) {
    assert_eq!(store.user_count().await.unwrap(), 0);
    assert_eq!(store.first_org_id().await.unwrap(), None);
    let (a, acme) = store
        .create_first_admin("Acme", admin("Ada@Example.com"), NOW)
        .await
        .unwrap();
    assert_eq!(a.email, "Ada@Example.com");
    assert_eq!(a.last_org_id, Some(acme));
    assert_eq!(
        store.memberships_of(a.id).await.unwrap(),
        [Membership {
            org_id: acme,
            org_name: "Acme".into(),
            role: Role::Owner,
            require_2fa: false,
        }],
        "the first user owns the first organization"
    );
    let again = store
        .create_first_admin("Evil", admin("eve@example.com"), NOW)
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "setup happens once"
    );
    // Emails are unique and found regardless of case.
    let dup = store
        .create_member(acme, admin("ada@example.COM"), Role::Editor, NOW)
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(m)) if m.contains("already exists")));
    assert_eq!(
        store
            .user_by_email("ADA@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(a.id)
    );
    assert_eq!(
        store
            .user_by_email("nobody@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        None
    );
    let bob = store
        .create_member(acme, admin("bob@example.com"), Role::Editor, NOW)
        .await
        .unwrap();
    let (other, _) = org(store, "other").await;
    let emails = |ms: Vec<openseer_store::Member>| {
        ms.iter()
            .map(|m| (m.email.clone(), m.role))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        emails(store.members(acme).await.unwrap()),
        [
            ("Ada@Example.com".to_string(), Role::Owner),
            ("bob@example.com".to_string(), Role::Editor)
        ]
    );
    assert_eq!(store.members(other).await.unwrap().len(), 1);
    assert_eq!(
        store.membership(other, bob.id).await.unwrap(),
        None,
        "not a member of another organization"
    );
    assert!(matches!(
        store.user_by_id(9_999).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.first_org_id().await.unwrap(), Some(acme));
    assert_eq!(store.user_count().await.unwrap(), 3);
    // A user can belong to several organizations, each with its own role.
    store
        .add_member(other, bob.id, Role::Viewer, NOW)
        .await
        .unwrap();
    assert!(matches!(
        store.add_member(other, bob.id, Role::Admin, NOW).await,
        Err(StoreError::Conflict(m)) if m.contains("already a member")
    ));
    let roles: Vec<(String, Role)> = store
        .memberships_of(bob.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.org_name, m.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("Acme".into(), Role::Editor),
            ("other".into(), Role::Viewer)
        ]
    );
    let (u, ms) = store.user_with_memberships(bob.id).await.unwrap().unwrap();
    assert_eq!(u.email, "bob@example.com");
    assert_eq!(ms, store.memberships_of(bob.id).await.unwrap());
    assert!(store.user_with_memberships(9_999).await.unwrap().is_none());
    let own = store
        .create_organization_for(bob.id, "Bob's", NOW)
        .await
        .unwrap();
    assert_eq!(
        store.membership(own, bob.id).await.unwrap().map(|m| m.role),
        Some(Role::Owner)
    );
    store.set_require_2fa(own, true).await.unwrap();
    store.rename_organization(own, "Bob & Co").await.unwrap();
    let m = store.membership(own, bob.id).await.unwrap().unwrap();
    assert_eq!((m.org_name.as_str(), m.require_2fa), ("Bob & Co", true));
}

/// Roles change and members go, but an organization keeps an owner; a
/// member who goes loses their sessions and tokens of that organization
/// (and keeps those of others).
async fn members_and_owners(store: &Store) {
    let (acme, owner) = org(store, "acme").await;
    let (other, _) = org(store, "other").await;
    let ed = store
        .create_member(acme, admin("ed@example.com"), Role::Editor, NOW)
        .await
        .unwrap();
    store
        .add_member(other, ed.id, Role::Viewer, NOW)
        .await
        .unwrap();
    let last = store.set_member_role(acme, owner, Role::Admin).await;
    assert!(
        matches!(last, Err(StoreError::Conflict(m)) if m.contains("at least one owner")),
        "the last owner cannot step down"
    );
    assert!(matches!(
        store.remove_member(acme, owner).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .set_member_role(acme, ed.id, Role::Owner)
        .await
        .unwrap();
    store
        .set_member_role(acme, owner, Role::Viewer)
        .await
        .unwrap();
    assert!(matches!(
        store.set_member_role(acme, 9_999, Role::Viewer).await,
        Err(StoreError::NotFound)
    ));
    // The sessions and a token of the viewer-to-be-removed, in both orgs.
    let row = |org: i64| SessionRow {
        state: "{}",
        user_id: Some(owner),
        org_id: Some(org),
        sid: None,
        expires_at: NOW + 10_000,
    };
    store.session_save("in-acme", row(acme)).await.unwrap();
    store.session_save("in-other", row(other)).await.unwrap();
    store
        .create_api_token(token(acme, owner, "acme-token", Scope::Read), NOW)
        .await
        .unwrap();
    store.remove_member(acme, owner).await.unwrap();
    assert_eq!(store.membership(acme, owner).await.unwrap(), None);
    assert_eq!(store.session_load("in-acme", NOW).await.unwrap(), None);
    assert!(
        store.session_load("in-other", NOW).await.unwrap().is_some(),
        "sessions in other organizations stay"
    );
    assert_eq!(
        store.api_token_auth("acme-token", NOW).await.unwrap(),
        None,
        "the removed member's tokens for the organization go"
    );
    assert_eq!(store.session_count(owner).await.unwrap(), 1);
    let (_, left) = store.user_with_memberships(owner).await.unwrap().unwrap();
    assert!(left.is_empty(), "a user of no organization is still a user");
}

/// Invitations: good once, until they expire or are revoked; one made for
/// an address takes only that address; joining twice is refused.
async fn invitations(store: &Store) {
    let (acme, owner) = org(store, "acme").await;
    let invite = |hash: &'static str, email: Option<&'static str>, expires: i64| {
        store.create_invitation(acme, Role::Editor, email, hash, owner, NOW, expires)
    };
    invite("inv-1", None, NOW + DAY).await.unwrap();
    let inv = store.invitation_by_token("inv-1").await.unwrap().unwrap();
    assert!(inv.open_at(NOW) && !inv.open_at(NOW + DAY));
    assert_eq!(store.open_invitations(acme, NOW).await.unwrap().len(), 1);
    let new = |email: &'static str| {
        Invitee::New(NewUser {
            email,
            name: "New",
            password_hash: "$argon2id$fake",
        })
    };
    let (joined, org_id, role) = store
        .accept_invitation("inv-1", new("new@example.com"), NOW + 1)
        .await
        .unwrap();
    assert_eq!((org_id, role), (acme, Role::Editor));
    assert_eq!(
        store
            .membership(acme, joined)
            .await
            .unwrap()
            .map(|m| m.role),
        Some(Role::Editor)
    );
    assert!(
        matches!(
            store
                .accept_invitation("inv-1", new("other@example.com"), NOW + 2)
                .await,
            Err(StoreError::NotFound)
        ),
        "an invitation is good once"
    );
    assert!(store
        .user_by_email("other@example.com")
        .await
        .unwrap()
        .is_none());

    invite("inv-expired", None, NOW + 10).await.unwrap();
    assert!(matches!(
        store
            .accept_invitation("inv-expired", new("late@example.com"), NOW + 10)
            .await,
        Err(StoreError::NotFound)
    ));
    let revoked = invite("inv-revoked", None, NOW + DAY).await.unwrap();
    store.revoke_invitation(acme, revoked, NOW).await.unwrap();
    assert!(matches!(
        store
            .accept_invitation("inv-revoked", new("r@example.com"), NOW + 1)
            .await,
        Err(StoreError::NotFound)
    ));
    let (other, _) = org(store, "other").await;
    assert!(matches!(
        store.revoke_invitation(other, revoked, NOW).await,
        Err(StoreError::NotFound)
    ));

    invite("inv-for", Some("Pat@example.com"), NOW + DAY)
        .await
        .unwrap();
    assert!(matches!(
        store
            .accept_invitation("inv-for", new("mallory@example.com"), NOW + 1)
            .await,
        Err(StoreError::Conflict(m)) if m.contains("another email")
    ));
    assert!(
        store
            .user_by_email("mallory@example.com")
            .await
            .unwrap()
            .is_none(),
        "a refused acceptance makes no account"
    );
    invite("inv-again", None, NOW + DAY).await.unwrap();
    assert!(matches!(
        store
            .accept_invitation(
                "inv-again",
                Invitee::Existing {
                    user_id: joined,
                    email: "new@example.com"
                },
                NOW + 1
            )
            .await,
        Err(StoreError::Conflict(m)) if m.contains("already a member")
    ));
    assert!(
        store
            .invitation_by_token("inv-again")
            .await
            .unwrap()
            .unwrap()
            .open_at(NOW + 2),
        "a refused acceptance leaves the invitation open"
    );
    let pat = store
        .accept_invitation(
            "inv-for",
            Invitee::New(NewUser {
                email: "pat@EXAMPLE.com",
                name: "Pat",
                password_hash: "$argon2id$fake",
            }),
            NOW + 1,
        )
        .await;
    assert!(pat.is_ok(), "the address matches in any case: {pat:?}");
}

/// Two-factor state: enrolment, then in force with recovery codes; a time
/// step is accepted once; each recovery code works once.
async fn two_factor(store: &Store) {
    let (_, u) = org(store, "tf").await;
    assert!(store.totp_state(u).await.unwrap().is_none());
    assert!(matches!(
        store.enable_totp(u, &[], NOW).await,
        Err(StoreError::Conflict(_))
    ));
    store.begin_totp(u, "sealed-1").await.unwrap();
    let st = store.totp_state(u).await.unwrap().unwrap();
    assert_eq!((st.sealed_secret.as_str(), st.enabled), ("sealed-1", false));
    assert!(!store.user_by_id(u).await.unwrap().totp_enabled);
    let codes = vec!["c1".to_string(), "c2".to_string()];
    store.enable_totp(u, &codes, NOW).await.unwrap();
    assert!(store.user_by_id(u).await.unwrap().totp_enabled);
    assert!(
        matches!(
            store.begin_totp(u, "sealed-2").await,
            Err(StoreError::Conflict(_))
        ),
        "no new secret while one is in force"
    );
    assert!(store.accept_totp_step(u, 100).await.unwrap());
    assert!(!store.accept_totp_step(u, 100).await.unwrap(), "replayed");
    assert!(!store.accept_totp_step(u, 99).await.unwrap(), "older");
    assert!(store.accept_totp_step(u, 101).await.unwrap());
    assert_eq!(store.recovery_codes_left(u).await.unwrap(), 2);
    assert!(store.use_recovery_code(u, "c1", NOW).await.unwrap());
    assert!(
        !store.use_recovery_code(u, "c1", NOW).await.unwrap(),
        "once"
    );
    assert!(!store.use_recovery_code(u, "nope", NOW).await.unwrap());
    assert_eq!(store.recovery_codes_left(u).await.unwrap(), 1);
    store
        .replace_recovery_codes(u, &["c3".to_string()])
        .await
        .unwrap();
    assert!(
        !store.use_recovery_code(u, "c2", NOW).await.unwrap(),
        "replaced"
    );
    store.disable_totp(u).await.unwrap();
    assert!(store.totp_state(u).await.unwrap().is_none());
    assert_eq!(store.recovery_codes_left(u).await.unwrap(), 0);
}

/// The audit log pages newest first, keeps organizations apart, and drops
/// what retention says.
async fn audit_log(store: &Store) {
    let (a, ua) = org(store, "a").await;
    let (b, _) = org(store, "b").await;
    for (i, org_id) in [Some(a), Some(a), Some(b), None, Some(a)]
        .into_iter()
        .enumerate()
    {
        let e = NewAudit {
            org_id,
            actor_id: Some(ua),
            actor: "ada@example.com".into(),
            action: "monitor.created",
            object_type: Some("monitor"),
            object_id: Some(i.to_string()),
            detail: None,
            ip: Some("127.0.0.1".into()),
        };
        store.record_audit(&e, NOW + i as i64).await.unwrap();
    }
    let mine = store
        .audit_log(a, AuditScope::Organization, None, 10)
        .await
        .unwrap();
    let objects: Vec<&str> = mine.iter().filter_map(|e| e.object_id.as_deref()).collect();
    assert_eq!(
        objects,
        ["4", "1", "0"],
        "newest first, this organization only"
    );
    let page = store
        .audit_log(a, AuditScope::Organization, Some(mine[0].id), 1)
        .await
        .unwrap();
    assert_eq!(page[0].object_id.as_deref(), Some("1"));
    let with_instance = store
        .audit_log(a, AuditScope::OrganizationAndInstance, None, 10)
        .await
        .unwrap();
    assert_eq!(with_instance.len(), 4);
    assert_eq!(store.purge_audit(NOW + 2).await.unwrap(), 2);
    assert_eq!(
        store
            .audit_log(a, AuditScope::Organization, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn sessions(store: &Store) {
    let (acme, user) = org(store, "s").await;
    let row = |state: &'static str, user_id: Option<i64>, expires_at: i64| SessionRow {
        state,
        user_id,
        org_id: user_id.map(|_| acme),
        sid: user_id.map(|_| "sid-1".to_string()),
        expires_at,
    };
    store
        .session_save("h1", row("{}", None, NOW + 1_000))
        .await
        .unwrap();
    assert_eq!(
        store.session_load("h1", NOW).await.unwrap().as_deref(),
        Some("{}")
    );
    assert_eq!(
        store.session_load("h1", NOW + 1_000).await.unwrap(),
        None,
        "expired"
    );
    assert!(store
        .session_update("h1", row("{\"a\":1}", Some(user), NOW + 5_000), NOW)
        .await
        .unwrap());
    assert!(!store
        .session_update("nope", row("{}", None, NOW + 5_000), NOW)
        .await
        .unwrap());
    assert_eq!(store.session_count(user).await.unwrap(), 1);
    store.session_touch("h1", NOW + 9_000).await.unwrap();
    assert_eq!(
        store
            .session_load("h1", NOW + 8_000)
            .await
            .unwrap()
            .as_deref(),
        Some("{\"a\":1}")
    );
    store
        .session_save("h2", row("{}", None, NOW))
        .await
        .unwrap();
    assert_eq!(store.sessions_purge_expired(NOW + 1).await.unwrap(), 1);
    // A live stream's own session, by its id.
    assert!(store.session_alive("sid-1", user, acme, NOW).await.unwrap());
    assert!(!store.session_alive("sid-2", user, acme, NOW).await.unwrap());
    assert!(!store
        .session_alive("sid-1", user, acme + 1, NOW)
        .await
        .unwrap());
    assert!(
        !store
            .session_alive("sid-1", user, acme, NOW + 9_000)
            .await
            .unwrap(),
        "expired"
    );
    store.session_delete("h1").await.unwrap();
    assert_eq!(store.session_load("h1", NOW).await.unwrap(), None);
    assert!(
        !store.session_alive("sid-1", user, acme, NOW).await.unwrap(),
        "signed out"
    );
}

async fn monitors_are_scoped_by_organization(store: &Store) {
    let (a, _) = org(store, "a").await;
    let (b, _) = org(store, "b").await;
    let v = monitor_input("beta").validate().unwrap();
    let m1 = store.create_monitor(a, &v, NOW).await.unwrap();
    let m2 = store
        .create_monitor(a, &monitor_input("Alpha").validate().unwrap(), NOW)
        .await
        .unwrap();
    assert_eq!(m1.regions, ["eu", "us"]);
    assert_eq!(
        m1.to_input().validate().unwrap(),
        v,
        "stored monitors round-trip"
    );
    assert!(matches!(
        store.monitor(b, m1.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.update_monitor(b, m1.id, &v, NOW).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_monitor(b, m1.id, NOW).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .monitors(a)
            .await
            .unwrap()
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["Alpha", "beta"]
    );
    assert!(store.monitors(b).await.unwrap().is_empty());
    let list = store.monitor_list(a).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|m| (m.name.as_str(), m.regions.len(), m.enabled))
            .collect::<Vec<_>>(),
        [("Alpha", 2, true), ("beta", 2, true)]
    );
    assert!(store.monitor_list(b).await.unwrap().is_empty());
    let mut edited = monitor_input("beta2");
    edited.interval_seconds = 60;
    let e = store
        .update_monitor(a, m1.id, &edited.validate().unwrap(), NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        (e.name.as_str(), e.interval_seconds, e.updated_at),
        ("beta2", 60, NOW + 1)
    );
    let paused = store
        .set_monitor_enabled(a, m2.id, false, NOW + 2)
        .await
        .unwrap();
    assert!(!paused.enabled);
    assert_eq!(
        store
            .enabled_monitors()
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        [m1.id]
    );
    assert_eq!(
        store
            .monitor_any_org(m2.id)
            .await
            .unwrap()
            .map(|m| m.org_id),
        Some(a)
    );
    let scopes = store.monitor_scopes(&[m1.id, m2.id, 12_345]).await.unwrap();
    let mut orgs: Vec<(i64, i64)> = scopes.iter().map(|s| (s.id, s.org_id)).collect();
    orgs.sort();
    assert_eq!(orgs, [(m1.id, a), (m2.id, a)]);
    let s1 = scopes.iter().find(|s| s.id == m1.id).unwrap();
    assert_eq!(
        (s1.interval_ms, s1.regions.clone()),
        (i64::from(e.interval_seconds) * 1000, e.regions.clone())
    );
    insert(
        store,
        &[
            result(m1.id, "eu", NOW, Outcome::Up, 40.0),
            result(m1.id, "eu", NOW + 30_000, Outcome::Down, 50.0),
            result(m1.id, "us", NOW, Outcome::Up, 60.0),
        ],
    )
    .await;
    let mut st = store.latest_statuses(a).await.unwrap();
    st.sort_by(|x, y| x.region.cmp(&y.region));
    assert_eq!(
        st.iter()
            .map(|s| (s.region.as_str(), s.outcome.as_str()))
            .collect::<Vec<_>>(),
        [("eu", "down"), ("us", "up")]
    );
    assert_eq!(
        st[0].since,
        NOW + 30_000,
        "down since its first down result"
    );
    assert!(store.latest_statuses(b).await.unwrap().is_empty());
    // An older result arriving late does not replace the latest; another
    // down result keeps `since`; a real result replaces a missed one.
    insert(
        store,
        &[
            result(m1.id, "eu", NOW - 30_000, Outcome::Up, 1.0),
            result(m1.id, "eu", NOW + 60_000, Outcome::Down, 1.0),
            result(m1.id, "us", NOW + 30_000, Outcome::Missed, 0.0),
        ],
    )
    .await;
    insert(
        store,
        &[result(m1.id, "us", NOW + 30_000, Outcome::Up, 5.0)],
    )
    .await;
    let mut st = store.latest_statuses(a).await.unwrap();
    st.sort_by(|x, y| x.region.cmp(&y.region));
    assert_eq!(
        st.iter()
            .map(|s| (s.outcome.as_str(), s.scheduled_at, s.since))
            .collect::<Vec<_>>(),
        [
            ("down", NOW + 60_000, NOW + 30_000),
            ("up", NOW + 30_000, NOW + 30_000)
        ]
    );
    store.delete_monitor(a, m1.id, NOW).await.unwrap();
    assert_eq!(
        store.count_results(m1.id).await.unwrap(),
        0,
        "results go with their monitor"
    );
    assert_eq!(store.monitor_any_org(m1.id).await.unwrap(), None);
}

fn token(org_id: i64, user_id: i64, hash: &'static str, scope: Scope) -> NewApiToken<'static> {
    NewApiToken {
        org_id,
        user_id,
        name: "ci",
        token_hash: hash,
        scope,
        expires_at: None,
    }
}

fn enrollment(org_id: i64, hash: &'static str) -> NewEnrollmentToken<'static> {
    NewEnrollmentToken {
        org_id,
        name: "fleet",
        token_hash: hash,
        expires_at: None,
        max_uses: None,
    }
}

async fn tokens_and_workers(store: &Store) {
    let (a, ua) = org(store, "a").await;
    let (b, _) = org(store, "b").await;
    let t = store
        .create_api_token(token(a, ua, "hash-1", Scope::Write), NOW)
        .await
        .unwrap();
    let auth = store.api_token_auth("hash-1", NOW).await.unwrap().unwrap();
    assert_eq!(
        (
            auth.user_id,
            auth.org_id,
            auth.scope,
            auth.token_name.as_str()
        ),
        (ua, a, Scope::Write, "ci")
    );
    assert!(
        store
            .create_api_token(token(a, ua, "hash-1", Scope::Read), NOW)
            .await
            .is_err(),
        "token hashes are unique"
    );
    let listed = store.api_tokens_of_user(ua, a).await.unwrap();
    assert_eq!(
        (
            listed[0].name.as_str(),
            listed[0].scope,
            listed[0].last_used_at
        ),
        ("ci", Scope::Write, Some(NOW))
    );
    assert!(store.api_tokens_of_user(ua, b).await.unwrap().is_empty());
    assert!(matches!(
        store.revoke_api_token(ua, b, t, NOW).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.revoke_api_token(ua, a, t, NOW).await.unwrap(), "ci");
    assert_eq!(
        store.api_token_auth("hash-1", NOW).await.unwrap(),
        None,
        "revoked"
    );
    store
        .create_api_token(
            NewApiToken {
                expires_at: Some(NOW + 100),
                ..token(a, ua, "hash-exp", Scope::Admin)
            },
            NOW,
        )
        .await
        .unwrap();
    assert!(store
        .api_token_auth("hash-exp", NOW + 99)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.api_token_auth("hash-exp", NOW + 100).await.unwrap(),
        None,
        "expired"
    );

    let e = store
        .create_enrollment_token(enrollment(a, "enroll-1"), NOW)
        .await
        .unwrap();
    assert_eq!(store.enrollment_tokens(a).await.unwrap().len(), 1);
    assert!(store.enrollment_tokens(b).await.unwrap().is_empty());
    let (w, worg, name) = store
        .enroll_worker("enroll-1", "w1", "eu", "0.1", "http", "wtok-1", NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((worg, name.as_str()), (a, "fleet"));
    assert_eq!(store.enrollment_tokens(a).await.unwrap()[0].uses, 1);
    let auth = store.worker_by_token("wtok-1").await.unwrap().unwrap();
    assert_eq!(
        (auth.worker_id, auth.org_id, auth.region.as_str()),
        (w, a, "eu")
    );
    store.workers_seen(&[(w, NOW + 50)]).await.unwrap();
    store.workers_seen(&[(w, NOW + 10)]).await.unwrap();
    assert_eq!(
        store.workers(a).await.unwrap()[0].last_seen_at,
        NOW + 50,
        "last seen never goes back"
    );
    assert!(
        matches!(
            store.revoke_worker(b, w, NOW).await,
            Err(StoreError::NotFound)
        ),
        "other organization"
    );
    store.revoke_worker(a, w, NOW).await.unwrap();
    assert_eq!(store.worker_by_token("wtok-1").await.unwrap(), None);
    assert!(matches!(
        store.revoke_enrollment_token(b, e, NOW).await,
        Err(StoreError::NotFound)
    ));
    store.revoke_enrollment_token(a, e, NOW).await.unwrap();
    assert_eq!(
        store
            .enroll_worker("enroll-1", "w2", "eu", "0.1", "http", "wtok-2", NOW)
            .await
            .unwrap(),
        None
    );

    // A token for two workers enrolls two, then no more; an expired one none.
    store
        .create_enrollment_token(
            NewEnrollmentToken {
                max_uses: Some(2),
                ..enrollment(a, "enroll-2")
            },
            NOW,
        )
        .await
        .unwrap();
    for (i, wt) in ["wt-a", "wt-b", "wt-c"].into_iter().enumerate() {
        let got = store
            .enroll_worker("enroll-2", "w", "eu", "0.1", "http", wt, NOW)
            .await
            .unwrap();
        assert_eq!(got.is_some(), i < 2, "use {}", i + 1);
    }
    let two = store.enrollment_tokens(a).await.unwrap();
    assert_eq!((two[0].status_at(NOW), two[0].uses), ("used up", 2));
    store
        .create_enrollment_token(
            NewEnrollmentToken {
                expires_at: Some(NOW + 5),
                ..enrollment(a, "enroll-3")
            },
            NOW,
        )
        .await
        .unwrap();
    assert!(store
        .enroll_worker("enroll-3", "w", "eu", "0.1", "http", "wt-d", NOW + 5)
        .await
        .unwrap()
        .is_none());
    let three = store.enrollment_tokens(a).await.unwrap();
    assert_eq!(
        (three[0].status_at(NOW), three[0].status_at(NOW + 5)),
        ("active", "expired")
    );
    assert_eq!(three[2].status_at(NOW), "revoked");
}

/// Header values and bodies are stored sealed: the raw column never holds
/// the secret, reading gives it back, a store with another key refuses to
/// open it, and rows from before sealing are sealed by one call.
async fn monitor_secrets_are_sealed(store: &Store) {
    let (a, _) = org(store, "sealed").await;
    let mut input = monitor_input("secret");
    input.method = "POST".into();
    input.headers = vec![openseer_protocol::Header {
        name: "Authorization".into(),
        value: "Bearer hunter2-secret".into(),
    }];
    input.body = Some("{\"password\":\"body-secret\"}".into());
    let m = store
        .create_monitor(a, &input.validate().unwrap(), NOW)
        .await
        .unwrap();
    assert_eq!(m.check.headers[0].value, "Bearer hunter2-secret");
    let raw = |store: &Store, id: i64| {
        let store = store.clone();
        async move { store.raw_monitor_secrets(id).await.unwrap() }
    };
    let (headers, body) = raw(store, m.id).await;
    assert!(headers.starts_with("sealed:v1:") && !headers.contains("hunter2"));
    let body = body.unwrap();
    assert!(body.starts_with("sealed:v1:") && !body.contains("body-secret"));
    assert_eq!(
        store.monitor(a, m.id).await.unwrap().check.body.as_deref(),
        Some("{\"password\":\"body-secret\"}")
    );
    // Another key cannot read them, and says why.
    let other = store
        .clone()
        .with_secrets_key(&openseer_store::seal::SecretsKey::generate());
    assert!(matches!(
        other.monitor(a, m.id).await,
        Err(StoreError::Config(e)) if e.contains("another secrets key")
    ));
    // A row from before sealing: read as it is, then sealed in place.
    store
        .put_raw_monitor_secrets(
            m.id,
            r#"[{"name":"X-Key","value":"legacy-secret"}]"#,
            Some("legacy-body"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.monitor(a, m.id).await.unwrap().check.headers[0].value,
        "legacy-secret"
    );
    assert_eq!(store.seal_legacy_monitors().await.unwrap(), 1);
    assert_eq!(store.seal_legacy_monitors().await.unwrap(), 0, "done once");
    let (headers, body) = raw(store, m.id).await;
    assert!(!headers.contains("legacy-secret") && !body.unwrap().contains("legacy-body"));
    let back = store.monitor(a, m.id).await.unwrap();
    assert_eq!(
        (
            back.check.headers[0].value.as_str(),
            back.check.body.as_deref()
        ),
        ("legacy-secret", Some("legacy-body"))
    );
}

async fn results_keep_the_first_answer_but_replace_missed(store: &Store) {
    let (a, _) = org(store, "a").await;
    let m = store
        .create_monitor(a, &monitor_input("m").validate().unwrap(), NOW)
        .await
        .unwrap()
        .id;
    let missed = result(m, "eu", NOW, Outcome::Missed, 0.0);
    let mut real = result(m, "eu", NOW, Outcome::Up, 42.0);
    real.result.decoded_bytes = Some(5_000);
    let other = result(m, "eu", NOW, Outcome::Down, 99.0);
    insert(store, std::slice::from_ref(&missed)).await;
    insert(store, &[real.clone(), other.clone()]).await;
    insert(store, &[missed]).await;
    let rows = store.recent_results(a, m, None, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].outcome.as_str(), rows[0].total_ms),
        ("up", Some(42.0))
    );
    assert_eq!(rows[0].timings.as_ref().map(|t| t.ttfb_ms), Some(35.0));
    assert_eq!(
        rows[0].details.decoded_bytes,
        Some(5_000),
        "the decoded size is kept"
    );
    // Within one batch the same rules hold.
    let later = NOW + 30_000;
    insert(
        store,
        &[
            result(m, "us", later, Outcome::Missed, 0.0),
            result(m, "us", later, Outcome::Degraded, 7.0),
            result(m, "us", later, Outcome::Up, 8.0),
        ],
    )
    .await;
    let rows = store.recent_results(a, m, None, 10).await.unwrap();
    assert_eq!(
        (rows[0].region.as_str(), rows[0].outcome.as_str()),
        ("us", "degraded")
    );
    assert_eq!(store.count_results(m).await.unwrap(), 2);
    let (b, _) = org(store, "b").await;
    assert!(
        store
            .recent_results(b, m, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "other organization"
    );
}

/// Older pages of "Latest checks" (`before`), and what a live page
/// catches up on between its draw and its stream (`received_at`).
async fn results_page_back_and_catch_up(store: &Store) {
    let (a, _) = org(store, "a").await;
    let (b, _) = org(store, "b").await;
    let input = monitor_input("m").validate().unwrap();
    let m = store.create_monitor(a, &input, NOW).await.unwrap().id;
    let n = store.create_monitor(a, &input, NOW).await.unwrap().id;
    let theirs = store.create_monitor(b, &input, NOW).await.unwrap().id;
    let rows: Vec<StoredResult> = (0..5)
        .flat_map(|i| {
            let at = NOW + i * 30_000;
            [
                result(m, "eu", at, Outcome::Up, 10.0 + i as f64),
                result(n, "eu", at, Outcome::Down, 20.0),
                result(theirs, "eu", at, Outcome::Up, 30.0),
            ]
        })
        .collect();
    insert(store, &rows).await;
    let at = |rows: &[openseer_store::ResultRow]| -> Vec<i64> {
        rows.iter()
            .map(|r| (r.scheduled_at - NOW) / 30_000)
            .collect()
    };
    // Newest first, then the page before the oldest one shown.
    let first = store.recent_results(a, m, None, 2).await.unwrap();
    assert_eq!(at(&first), [4, 3]);
    let older = store
        .recent_results(a, m, Some(first[1].scheduled_at), 2)
        .await
        .unwrap();
    assert_eq!(at(&older), [2, 1]);
    let last = store
        .recent_results(a, m, Some(older[1].scheduled_at), 2)
        .await
        .unwrap();
    assert_eq!(at(&last), [0]);
    assert!(store
        .recent_results(b, m, None, 10)
        .await
        .unwrap()
        .is_empty());

    // Received at or after a time (each row 100 ms after its schedule),
    // oldest first, the latest `limit` of them.
    let since = NOW + 3 * 30_000 + 100;
    let one = store
        .results_received_since(a, Some(m), since, 100)
        .await
        .unwrap();
    assert_eq!(at(&one), [3, 4]);
    assert!(one.iter().all(|r| r.monitor_id == m));
    let all = store
        .results_received_since(a, None, since, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 4, "both of a's monitors, none of b's");
    assert!(all.iter().all(|r| r.monitor_id != theirs));
    let capped = store
        .results_received_since(a, Some(m), NOW, 2)
        .await
        .unwrap();
    assert_eq!(at(&capped), [3, 4], "the latest two");
    assert!(store
        .results_received_since(b, Some(m), NOW, 100)
        .await
        .unwrap()
        .is_empty());
}

async fn results_of_deleted_monitors_are_left_out(store: &Store) {
    let (a, _) = org(store, "a").await;
    let input = monitor_input("m").validate().unwrap();
    let kept = store.create_monitor(a, &input, NOW).await.unwrap().id;
    let gone = store.create_monitor(a, &input, NOW).await.unwrap().id;
    store.delete_monitor(a, gone, NOW).await.unwrap();
    let batch = [
        result(gone, "eu", NOW, Outcome::Missed, 0.0),
        result(kept, "eu", NOW, Outcome::Up, 5.0),
        result(gone, "us", NOW, Outcome::Up, 6.0),
        result(kept, "us", NOW, Outcome::Missed, 0.0),
    ];
    let refs: Vec<&StoredResult> = batch.iter().collect();
    let written = store
        .insert_results(&refs)
        .await
        .expect("the batch is written");
    assert_eq!(written.gone.into_iter().collect::<Vec<_>>(), [gone]);
    assert_eq!(store.count_results(kept).await.unwrap(), 2);
    assert_eq!(store.count_results(gone).await.unwrap(), 0);
    // A batch of nothing but rows of deleted monitors writes nothing.
    let only = [result(gone, "eu", NOW + 30_000, Outcome::Missed, 0.0)];
    let written = store
        .insert_results(&only.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(written.gone.contains(&gone));
}

fn agg(samples: &[(Outcome, f64)]) -> Aggregate {
    let mut a = Aggregate::default();
    for (o, v) in samples {
        a.add(&RawSample {
            monitor_id: 1,
            region: "eu".into(),
            scheduled_at: 0,
            outcome: *o,
            total_ms: Some(*v),
            phases: Some([1.0, 2.0, 3.0, 4.0, 5.0]),
        });
    }
    a
}

async fn rollup_rows_round_trip(store: &Store) {
    let (a, _) = org(store, "a").await;
    let m = store
        .create_monitor(a, &monitor_input("m").validate().unwrap(), NOW)
        .await
        .unwrap()
        .id;
    let row = |region: &str, tier, start, agg| RollupRow {
        monitor_id: m,
        region: region.into(),
        tier,
        bucket_start: start,
        agg,
    };
    let a1 = agg(&[
        (Outcome::Up, 10.0),
        (Outcome::Down, 30.0),
        (Outcome::Error, 0.0),
    ]);
    let a2 = agg(&[(Outcome::Degraded, 900.0)]);
    let rows = vec![
        row("eu", Tier::Minute, 0, a1.clone()),
        row("us", Tier::Minute, 0, a2.clone()),
        row("eu", Tier::Hour, 0, a1.clone()),
    ];
    store.replace_rollups(&rows, &[]).await.unwrap();
    let mut back = store
        .rollup_rows(Tier::Minute, &[m], None, 0, MINUTE)
        .await
        .unwrap();
    back.sort_by(|x, y| x.region.cmp(&y.region));
    assert_eq!(back, rows[..2]);
    let eu = store
        .rollup_rows(Tier::Minute, &[m], Some(&["eu".to_string()]), 0, MINUTE)
        .await
        .unwrap();
    assert_eq!(eu, rows[..1]);
    // Replacing a bucket overwrites it; an empty bucket is removed.
    store
        .replace_rollups(
            &[row("eu", Tier::Minute, 0, a2.clone())],
            &[(m, "us".into(), Tier::Minute, 0)],
        )
        .await
        .unwrap();
    let back = store
        .rollup_rows(Tier::Minute, &[m], None, 0, MINUTE)
        .await
        .unwrap();
    assert_eq!(back, [row("eu", Tier::Minute, 0, a2)]);
    assert_eq!(
        store
            .rollup_rows(Tier::Hour, &[m], None, 0, HOUR)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.rollup_progress().await.unwrap(), None);
    store.set_rollup_progress(3, 500).await.unwrap();
    store.set_rollup_progress(4, 200).await.unwrap();
    store.set_rollup_progress(4, 300).await.unwrap();
    assert_eq!(store.rollup_progress().await.unwrap(), Some(300));
    assert_eq!(store.delete_minute_rollups_since(0).await.unwrap(), 1);
}

async fn raw_samples_and_buckets(store: &Store) {
    let (a, _) = org(store, "a").await;
    let m = store
        .create_monitor(a, &monitor_input("m").validate().unwrap(), NOW)
        .await
        .unwrap()
        .id;
    let t0 = Tier::Minute.start_of(NOW);
    insert(
        store,
        &[
            result(m, "eu", t0, Outcome::Up, 20.0),
            result(m, "us", t0 + 1_000, Outcome::Error, 5_000.0),
            result(m, "eu", t0 + MINUTE, Outcome::Up, 25.0),
        ],
    )
    .await;
    let s = store
        .raw_samples(&[m], None, t0, t0 + MINUTE)
        .await
        .unwrap();
    assert_eq!(s.len(), 2);
    let eu = store
        .raw_samples(&[m], Some(&["eu".to_string()]), t0, t0 + 2 * MINUTE)
        .await
        .unwrap();
    assert_eq!(
        eu.iter().map(|x| x.total_ms).collect::<Vec<_>>(),
        [Some(20.0), Some(25.0)]
    );
    assert_eq!(eu[0].phases, Some([1.0, 2.0, 3.0, 13.0, 1.0]));
    let keys = store
        .buckets_of_results(Results::ReceivedAfter(t0 + 1_050))
        .await
        .unwrap();
    let mut keys: Vec<_> = keys.into_iter().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            (m, "eu".to_string(), t0 + MINUTE),
            (m, "us".to_string(), t0)
        ]
    );
    assert_eq!(
        store
            .buckets_of_results(Results::ScheduledFrom(t0))
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn retention_drops_old_raw_and_rollups(store: &Store) {
    let (a, _) = org(store, "a").await;
    let m = store
        .create_monitor(a, &monitor_input("m").validate().unwrap(), NOW)
        .await
        .unwrap()
        .id;
    let today = Tier::Day.start_of(NOW);
    let mut rs = Vec::new();
    for day in 0..20 {
        for i in 0..3 {
            rs.push(result(
                m,
                "eu",
                today - day * DAY + i * HOUR,
                Outcome::Up,
                10.0,
            ));
        }
    }
    insert(store, &rs).await;
    let rows: Vec<RollupRow> = (0..40)
        .map(|d| RollupRow {
            monitor_id: m,
            region: "eu".into(),
            tier: Tier::Day,
            bucket_start: today - d * DAY,
            agg: agg(&[(Outcome::Up, 1.0)]),
        })
        .chain((0..40).map(|d| RollupRow {
            monitor_id: m,
            region: "eu".into(),
            tier: Tier::Minute,
            bucket_start: today - d * DAY,
            agg: agg(&[(Outcome::Up, 1.0)]),
        }))
        .collect();
    store.replace_rollups(&rows, &[]).await.unwrap();
    let horizon = today - 14 * DAY;
    let (dropped, deleted) = store.expire_raw(horizon).await.unwrap();
    match store.kind() {
        BackendKind::Postgres => {
            assert_eq!(
                (dropped, deleted),
                (5, 0),
                "five whole day partitions end by the horizon"
            );
            assert!(store
                .partitions()
                .await
                .unwrap()
                .iter()
                .all(|d| *d >= horizon));
        }
        BackendKind::Sqlite => assert_eq!((dropped, deleted), (0, 15)),
    }
    let kept = store.raw_samples(&[m], None, 0, i64::MAX).await.unwrap();
    assert_eq!(
        kept.len(),
        15 * 3,
        "the horizon's day and after are untouched"
    );
    assert!(kept.iter().all(|s| s.scheduled_at >= horizon));
    assert_eq!(
        store
            .expire_rollups(Tier::Minute, today - 30 * DAY)
            .await
            .unwrap(),
        9
    );
    assert_eq!(
        store
            .rollup_rows(Tier::Minute, &[m], None, 0, i64::MAX)
            .await
            .unwrap()
            .len(),
        31
    );
    assert_eq!(
        store
            .rollup_rows(Tier::Day, &[m], None, 0, i64::MAX)
            .await
            .unwrap()
            .len(),
        40,
        "day rollups of dropped raw data stay"
    );
    // A result for a day whose partition was dropped still lands (its
    // partition is made again) rather than failing the batch.
    insert(
        store,
        &[result(m, "eu", today - 19 * DAY, Outcome::Up, 1.0)],
    )
    .await;
    // Expiring is idempotent.
    let again = store.expire_raw(horizon).await.unwrap();
    assert_eq!(again.1 + again.0, 1);
}

/// A database from before teams (schema 4: one organization per user, roles
/// admin/member) upgrades in place: each organization's first admin owns
/// it, other admins stay admins, members become editors, and sessions and
/// API tokens survive the rebuild of `users` (SQLite rebuilds the table).
mod upgrade_from_before_teams {
    use super::*;

    const LEGACY: &[(&str, &str)] = &[
        (
            "sqlite",
            concat!(
                include_str!("../../../migrations/sqlite/0001_foundation.sql"),
                include_str!("../../../migrations/sqlite/0002_check_details.sql"),
                include_str!("../../../migrations/sqlite/0003_rollups.sql"),
                include_str!("../../../migrations/sqlite/0004_monitor_status.sql"),
            ),
        ),
        (
            "postgres",
            concat!(
                include_str!("../../../migrations/postgres/0001_foundation.sql"),
                include_str!("../../../migrations/postgres/0003_rollups.sql"),
                include_str!("../../../migrations/postgres/0004_monitor_status.sql"),
            ),
        ),
    ];

    const DATA: &str = "
        INSERT INTO organizations (id, name, created_at) VALUES (1, 'Acme', 1), (2, 'Other', 1);
        INSERT INTO users (id, org_id, email, name, password_hash, role, created_at) VALUES
            (1, 1, 'ada@example.com', 'Ada', 'h', 'admin', 1),
            (2, 1, 'bob@example.com', 'Bob', 'h', 'admin', 2),
            (3, 1, 'cy@example.com', 'Cy', 'h', 'member', 3),
            (4, 2, 'di@example.com', 'Di', 'h', 'admin', 4);
        INSERT INTO sessions (key_hash, state, user_id, expires_at) VALUES ('s3', '{}', 3, 99999999999999);
        INSERT INTO api_tokens (id, org_id, user_id, name, token_hash, created_at) VALUES (1, 1, 3, 'ci', 't3', 1);
    ";

    async fn check(store: &Store) {
        store.migrate().await.expect("upgrades");
        assert!(store.migrations_current().await.unwrap());
        let roles: Vec<(String, Role)> = store
            .members(1)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.email, m.role))
            .collect();
        assert_eq!(
            roles,
            [
                ("ada@example.com".into(), Role::Owner),
                ("bob@example.com".into(), Role::Admin),
                ("cy@example.com".into(), Role::Editor),
            ]
        );
        assert_eq!(store.members(2).await.unwrap()[0].role, Role::Owner);
        let cy = store.user_by_id(3).await.unwrap();
        assert_eq!(cy.last_org_id, Some(1));
        assert_eq!(store.session_count(3).await.unwrap(), 1, "sessions kept");
        let t = store.api_token_auth("t3", NOW).await.unwrap().unwrap();
        assert_eq!(
            (t.user_id, t.scope),
            (3, Scope::Write),
            "tokens kept, as write"
        );
        // Foreign keys still hold after the rebuild: deleting a member's
        // membership works and a token for a missing user is refused.
        store.remove_member(1, 3).await.unwrap();
        assert!(store
            .create_api_token(token(1, 999, "orphan", Scope::Read), NOW)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn sqlite() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut conn = sqlx::SqliteConnection::connect_with(
            &sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "{}CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);
             INSERT INTO schema_migrations VALUES (1,'foundation',0),(2,'check_details',0),(3,'rollups',0),(4,'monitor_status',0);{DATA}",
            LEGACY[0].1
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        let store = Store::open_sqlite(&path)
            .await
            .unwrap()
            .with_secrets_key(&common::db::secrets_key());
        check(&store).await;
    }

    #[tokio::test]
    async fn postgres() {
        use sqlx::Connection;
        let Some(url) = common::db::postgres_database().await else {
            return;
        };
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "{}CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);
             INSERT INTO schema_migrations VALUES (1,'foundation',0),(3,'rollups',0),(4,'monitor_status',0);{DATA}",
            LEGACY[1].1
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        let store = Store::open_url(&url)
            .await
            .unwrap()
            .with_secrets_key(&common::db::secrets_key());
        check(&store).await;
        store.close().await;
        common::db::drop_database(&common::db::admin_url(), url.rsplit('/').next().unwrap());
    }
}

/// Transitions change the alert state by compare-and-set and write their
/// incident and one notification per channel with it; claims hand each
/// row to one claimer, in order per (incident, channel); reminders move
/// once.
async fn transitions_notifications_and_claims(store: &Store) {
    use openseer_protocol::channel::{ChannelInput, ChannelSettings};
    use openseer_store::{Applied, Change, IncidentFilter, NewTransition};
    let (org_id, _) = org(store, "alerts").await;
    let (other_org, _) = org(store, "others").await;
    let mut input = monitor_input("api");
    input.alert.remind_every_minutes = Some(5);
    let m = store
        .create_monitor(org_id, &input.validate().unwrap(), NOW)
        .await
        .unwrap();
    let hook = |name: &str, default: bool| ChannelInput {
        name: name.into(),
        default_for_new_monitors: default,
        settings: ChannelSettings::Webhook {
            url: "https://example.com/hook".into(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        },
    };
    let a = store
        .create_channel(org_id, &hook("a", false), NOW)
        .await
        .unwrap();
    let b = store
        .create_channel(org_id, &hook("b", true), NOW)
        .await
        .unwrap();
    let theirs = store
        .create_channel(other_org, &hook("a", false), NOW)
        .await
        .unwrap();
    assert!(matches!(
        store.create_channel(org_id, &hook("a", false), NOW).await,
        Err(StoreError::Conflict(_))
    ));
    // Another organization's channel cannot be attached.
    assert!(matches!(
        store
            .set_monitor_channels(org_id, m.id, &[a.id, theirs.id])
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .set_monitor_channels(org_id, m.id, &[a.id, b.id])
        .await
        .unwrap();
    assert_eq!(
        store.monitor_channel_ids(m.id).await.unwrap(),
        vec![a.id, b.id]
    );
    // A new monitor gets the default channel.
    let m2 = store
        .create_monitor(org_id, &monitor_input("web").validate().unwrap(), NOW)
        .await
        .unwrap();
    assert_eq!(store.monitor_channel_ids(m2.id).await.unwrap(), vec![b.id]);
    // Settings are sealed and read back.
    assert_eq!(
        store.channel(org_id, a.id).await.unwrap().settings,
        hook("a", false).settings
    );
    assert!(matches!(
        store.channel(other_org, a.id).await,
        Err(StoreError::NotFound)
    ));

    let open = |version: i64, tick: i64| NewTransition {
        monitor_id: m.id,
        org_id,
        monitor_name: "api".into(),
        expected_version: version,
        tick,
        change: Change::Open {
            started_at: tick - 30_000,
            cause: "{\"regions\":[]}".into(),
            summary: "status 500 in eu".into(),
        },
        now: NOW,
    };
    let Applied::Done {
        version,
        incident_id,
        notifications,
    } = store.apply_transition(&open(0, NOW)).await.unwrap()
    else {
        panic!("the first transition applies")
    };
    assert_eq!((version, notifications), (1, 2));
    // A second evaluator with the same stale version changes nothing.
    assert_eq!(
        store.apply_transition(&open(0, NOW)).await.unwrap(),
        Applied::Stale
    );
    assert_eq!(
        store
            .incidents(org_id, IncidentFilter::All, None, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let state = store.alert_state(m.id).await.unwrap().unwrap();
    assert_eq!(
        (state.health.as_str(), state.incident_id, state.version),
        ("down", Some(incident_id), 1)
    );

    // Two claimers together: each row goes to one of them.
    let (x, y) = tokio::join!(
        store.claim_notifications("x", NOW, NOW + 60_000, 10),
        store.claim_notifications("y", NOW, NOW + 60_000, 10)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.len() + y.len(), 2, "{x:?} {y:?}");
    assert!(store
        .claim_notifications("z", NOW, NOW + 60_000, 10)
        .await
        .unwrap()
        .is_empty());
    let mut downs: Vec<_> = x.into_iter().chain(y).collect();
    downs.sort_by_key(|c| c.channel_id);
    // The recovery is queued while both downs are still out.
    let resolve = NewTransition {
        expected_version: 1,
        tick: NOW + 60_000,
        change: Change::Resolve { incident_id },
        ..open(1, NOW)
    };
    assert!(matches!(
        store.apply_transition(&resolve).await.unwrap(),
        Applied::Done { version: 2, .. }
    ));
    // Channel a's down fails for now; its recovery waits behind it; channel b's down is delivered.
    store
        .notification_retry(downs[0].id, NOW + 1_000, "HTTP 500")
        .await
        .unwrap();
    store
        .notification_delivered(downs[1].id, NOW)
        .await
        .unwrap();
    let next = store
        .claim_notifications("x", NOW + 500, NOW + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!((next[0].channel_id, next[0].kind.as_str()), (b.id, "up"));
    // Once a's down is due again it goes, and only after its delivery its recovery.
    let again = store
        .claim_notifications("x", NOW + 1_000, NOW + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (downs[0].id, 1));
    store
        .notification_delivered(again[0].id, NOW + 1_000)
        .await
        .unwrap();
    let last = store
        .claim_notifications("x", NOW + 1_000, NOW + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(
        (last.len(), last[0].channel_id, last[0].kind.as_str()),
        (1, a.id, "up")
    );
    // Given up with a flag: the channel says why.
    store
        .notification_failed(last[0].id, NOW + 2_000, "HTTP 404", Some(a.id))
        .await
        .unwrap();
    assert_eq!(
        store
            .channel(org_id, a.id)
            .await
            .unwrap()
            .flagged
            .as_deref(),
        Some("HTTP 404")
    );
    let rows = store.incident_notifications(incident_id).await.unwrap();
    let states: Vec<&str> = rows.iter().map(|r| r.state()).collect();
    assert_eq!(states, ["delivered", "delivered", "failed", "pending"]);
    assert_eq!(
        store.notification_counts().await.unwrap(),
        (1, 1),
        "b's up is still claimed"
    );
    let i = store.incident(org_id, incident_id).await.unwrap();
    assert_eq!(i.resolved_at, Some(NOW + 60_000));
    assert!(matches!(
        store.incident(other_org, incident_id).await,
        Err(StoreError::NotFound)
    ));

    // Reminders: an open, unacknowledged incident past its interval, once.
    let second = open(2, NOW + 120_000);
    let Applied::Done {
        incident_id: reopened,
        ..
    } = store.apply_transition(&second).await.unwrap()
    else {
        panic!("reopens")
    };
    assert_eq!(
        store.queue_reminders(NOW + 120_000 + 60_000).await.unwrap(),
        0,
        "not yet"
    );
    let later = NOW + 120_000 + 5 * 60_000;
    let (r1, r2) = tokio::join!(store.queue_reminders(later), store.queue_reminders(later));
    assert_eq!(
        r1.unwrap() + r2.unwrap(),
        2,
        "one reminder per channel, once"
    );
    assert!(store
        .acknowledge_incident(org_id, reopened, "ada@example.com", later)
        .await
        .unwrap());
    assert!(!store
        .acknowledge_incident(org_id, reopened, "ada@example.com", later)
        .await
        .unwrap());
    assert_eq!(
        store.queue_reminders(later + 10 * 60_000).await.unwrap(),
        0,
        "acknowledged"
    );
    let kinds: Vec<String> = store
        .incident_events(reopened)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["opened", "reminder", "acknowledged"]);
    assert_eq!(
        store.open_incidents(org_id).await.unwrap(),
        vec![(m.id, reopened)]
    );
    // Deleting the monitor resolves its open incident and keeps the history.
    assert!(matches!(
        store.delete_monitor(other_org, m.id, later).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .incident(org_id, reopened)
            .await
            .unwrap()
            .resolved_at
            .is_none(),
        "not by another organization"
    );
    store.delete_monitor(org_id, m.id, later).await.unwrap();
    let i = store.incident(org_id, reopened).await.unwrap();
    assert_eq!((i.resolved_at, i.monitor_id), (Some(later), None));
    assert!(store.open_incidents(org_id).await.unwrap().is_empty());
}

async fn maintenance_windows_are_scoped_and_cover_chosen_monitors(store: &Store) {
    use openseer_protocol::maintenance::{MaintenanceInput, Schedule, Weekday};
    let (org_id, _) = org(store, "maint").await;
    let (other_org, _) = org(store, "maint-other").await;
    let mk = |name: &str| monitor_input(name).validate().unwrap();
    let a = store.create_monitor(org_id, &mk("a"), NOW).await.unwrap();
    let b = store.create_monitor(org_id, &mk("b"), NOW).await.unwrap();
    let theirs = store
        .create_monitor(other_org, &mk("x"), NOW)
        .await
        .unwrap();
    let once = MaintenanceInput {
        name: " deploy ".into(),
        schedule: Schedule::Once {
            starts_at_ms: NOW,
            ends_at_ms: NOW + 3_600_000,
        },
        all_monitors: false,
        monitors: vec![b.id, a.id, a.id],
    };
    let w = store.create_maintenance(org_id, &once, NOW).await.unwrap();
    assert_eq!(w.name, "deploy");
    assert_eq!(w.monitors, vec![a.id, b.id], "sorted, without repeats");
    assert_eq!(w.schedule, once.schedule);
    // Another organization's monitor cannot be chosen, nor its window seen.
    let mut stolen = once.clone();
    stolen.monitors = vec![a.id, theirs.id];
    assert!(matches!(
        store.create_maintenance(org_id, &stolen, NOW).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.maintenance(other_org, w.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.update_maintenance(other_org, w.id, &once, NOW).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_maintenance(other_org, w.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(store
        .maintenance_windows(other_org)
        .await
        .unwrap()
        .is_empty());
    // Replaced: weekly for all monitors; its monitor list goes.
    let weekly = MaintenanceInput {
        name: "patching".into(),
        schedule: Schedule::Weekly {
            days: vec![Weekday::Sun, Weekday::Wed],
            start: "02:30".into(),
            duration_minutes: 90,
            time_zone: "Europe/Paris".into(),
        },
        all_monitors: true,
        monitors: vec![a.id],
    };
    let w2 = store
        .update_maintenance(org_id, w.id, &weekly, NOW + 1)
        .await
        .unwrap();
    assert!(w2.all_monitors);
    assert!(w2.monitors.is_empty());
    assert_eq!(w2.schedule, weekly.schedule);
    // A failed replacement changes nothing.
    assert!(store
        .update_maintenance(org_id, w.id, &stolen, NOW + 2)
        .await
        .is_err());
    assert_eq!(store.maintenance(org_id, w.id).await.unwrap(), w2);
    let second = store.create_maintenance(org_id, &once, NOW).await.unwrap();
    let listed = store.maintenance_windows(org_id).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["deploy", "patching"]);
    assert_eq!(listed[0].monitors, vec![a.id, b.id]);
    // Deleting a monitor takes it out of the windows.
    store.delete_monitor(org_id, a.id, NOW).await.unwrap();
    assert_eq!(
        store.maintenance(org_id, second.id).await.unwrap().monitors,
        vec![b.id]
    );
    store.delete_maintenance(org_id, second.id).await.unwrap();
    assert!(matches!(
        store.maintenance(org_id, second.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.maintenance_windows(org_id).await.unwrap().len(), 1);
}
