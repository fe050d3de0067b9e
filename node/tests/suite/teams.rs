//! Teams: organizations with members and roles, one-time invitation links,
//! two-factor sign-in (TOTP with the node's clock moved by the test) and
//! recovery codes, re-authentication before sensitive actions, session
//! lifetimes and rotation, scoped and expiring tokens, the audit log.

use crate::common;

use std::sync::Arc;

use common::{
    base32_decode, csrf_of, extract_token, session_cookie, Browser, TestApp, TestClock, PASSWORD,
};
use openseer_core::clock::Clock;
use openseer_node::auth::totp;
use openseer_protocol::Role;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Makes an invitation link on the members page; returns its path.
async fn invite(admin: &Browser, role: &str, email: &str, days: &str) -> String {
    let (_, page) = admin.get("/settings/members").await;
    let (status, page) = admin
        .post_form(
            "/settings/invitations",
            &[
                ("_csrf", &csrf_of(&page)),
                ("role", role),
                ("email", email),
                ("days", days),
            ],
        )
        .await;
    assert_eq!(status, 200, "invite: {page}");
    format!("/invite?token={}", extract_token(&page, "osti_"))
}

fn token_of(link: &str) -> &str {
    link.trim_start_matches("/invite?token=")
}

/// Posts a form with the CSRF token of the page at `from`.
async fn post(b: &Browser, from: &str, to: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let (_, page) = b.get(from).await;
    let csrf = csrf_of(&page);
    let mut form = vec![("_csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post_form(to, &form).await
}

/// Where a redirect goes.
async fn location(b: &Browser, path: &str) -> Option<String> {
    let r = b
        .http
        .get(format!("{}{path}", b.base))
        .send()
        .await
        .unwrap();
    r.headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
}

async fn signed_in(b: &Browser) -> bool {
    b.get("/").await.0 == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_link_joins_once_with_its_role_until_it_expires() {
    let clock = Arc::new(TestClock::default());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let owner = app.setup_admin("owner@example.com").await;
    let link = invite(&owner, "viewer", "", "7").await;

    // A stranger opens it, makes an account and is a viewer of Acme.
    let newbie = Browser::new(&app);
    let (s, page) = newbie.get(&link).await;
    assert_eq!(s, 200);
    assert!(
        page.contains("Join Acme") && page.contains("viewer"),
        "{page}"
    );
    let form = |email: &'static str, password: &'static str| {
        vec![
            ("token", token_of(&link).to_string()),
            ("name", "New Person".to_string()),
            ("email", email.to_string()),
            ("password", password.to_string()),
        ]
    };
    let weak = form("new@example.com", "password1234");
    let weak: Vec<(&str, &str)> = weak.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, page) = post(&newbie, &link, "/invite", &weak).await;
    assert_eq!(s, 422, "a common password is refused");
    assert!(page.contains("too easy to guess"), "{page}");
    let good = form("new@example.com", PASSWORD);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, _) = post(&newbie, &link, "/invite", &good).await;
    assert_eq!(s, 303);
    let (s, page) = newbie.get("/").await;
    assert_eq!(s, 200, "signed in after joining");
    assert!(page.contains("new@example.com · viewer"), "{page}");
    assert_eq!(
        newbie.get("/monitors/new").await.0,
        403,
        "a viewer does not create monitors"
    );
    // The link is used up, for everyone.
    assert_eq!(Browser::new(&app).get(&link).await.0, 410);

    // A user of another organization joins with the account they have,
    // then switches between the two.
    let other = app.other_org_admin("other@example.com").await;
    let link2 = invite(&owner, "editor", "other@example.com", "1").await;
    let (s, page) = other.get(&link2).await;
    assert_eq!(s, 200);
    assert!(page.contains("Join as other@example.com"), "{page}");
    assert_eq!(
        post(&other, &link2, "/invite", &[("token", token_of(&link2))])
            .await
            .0,
        303
    );
    let (_, page) = other.get("/").await;
    assert!(page.contains("other@example.com · editor") && page.contains("org-switch"));
    let other_org = app
        .store
        .user_by_email("other@example.com")
        .await
        .unwrap()
        .unwrap();
    let memberships = app.store.memberships_of(other_org.id).await.unwrap();
    assert_eq!(memberships.len(), 2);
    let theirs = memberships.iter().find(|m| m.role == Role::Owner).unwrap();
    let (s, _) = post(
        &other,
        "/",
        "/orgs/switch",
        &[("org_id", &theirs.org_id.to_string())],
    )
    .await;
    assert_eq!(s, 303);
    assert!(other.get("/").await.1.contains("other@example.com · owner"));
    assert_eq!(
        post(&other, "/", "/orgs/switch", &[("org_id", "999")])
            .await
            .0,
        404,
        "only to one's own organizations"
    );

    // An invitation for one address takes only that address.
    let named = invite(&owner, "editor", "pat@example.com", "1").await;
    let mallory = form("mallory@example.com", PASSWORD);
    let mut mallory: Vec<(&str, &str)> = mallory.iter().map(|(k, v)| (*k, v.as_str())).collect();
    mallory[0].1 = token_of(&named);
    let (s, page) = post(&Browser::new(&app), &named, "/invite", &mallory).await;
    assert_eq!(s, 422);
    assert!(page.contains("another email address"), "{page}");
    assert!(app
        .store
        .user_by_email("mallory@example.com")
        .await
        .unwrap()
        .is_none());

    // A revoked invitation and an expired one are refused.
    let revoked = invite(&owner, "editor", "", "1").await;
    let id = app.store.open_invitations(1, clock.now_ms()).await.unwrap()[0].id;
    let (s, _) = post(
        &owner,
        "/settings/members",
        &format!("/settings/invitations/{id}/revoke"),
        &[],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(Browser::new(&app).get(&revoked).await.0, 410);
    let expiring = invite(&owner, "editor", "", "1").await;
    assert_eq!(Browser::new(&app).get(&expiring).await.0, 200);
    clock.advance(DAY + 1_000);
    assert_eq!(Browser::new(&app).get(&expiring).await.0, 410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_limit_who_manages_members_and_an_organization_keeps_an_owner() {
    let app = TestApp::spawn().await;
    let owner = app.setup_admin("owner@example.com").await;
    let admin = app.member("admin@example.com", Role::Admin).await;
    let editor = app.member("ed@example.com", Role::Editor).await;
    // Everyone sees who is in the organization; only admins change it.
    let (s, page) = editor.get("/settings/members").await;
    assert_eq!(s, 200);
    assert!(page.contains("owner@example.com") && !page.contains("Invite someone"));
    assert_eq!(
        post(
            &editor,
            "/",
            "/settings/members/3/role",
            &[("role", "viewer")]
        )
        .await
        .0,
        403
    );
    // An admin manages editors but not owners, and makes no owners.
    assert_eq!(
        post(
            &admin,
            "/",
            "/settings/members/3/role",
            &[("role", "viewer")]
        )
        .await
        .0,
        303
    );
    assert_eq!(
        app.store.membership(1, 3).await.unwrap().unwrap().role,
        Role::Viewer
    );
    assert_eq!(
        post(
            &admin,
            "/",
            "/settings/members/3/role",
            &[("role", "owner")]
        )
        .await
        .0,
        403
    );
    assert_eq!(
        post(&admin, "/", "/settings/members/1/remove", &[]).await.0,
        403
    );
    assert_eq!(
        post(&admin, "/", "/settings/invitations", &[("role", "owner")])
            .await
            .0,
        403
    );
    // The last owner can neither step down nor leave.
    let (s, page) = post(
        &owner,
        "/",
        "/settings/members/1/role",
        &[("role", "admin")],
    )
    .await;
    assert_eq!(s, 422);
    assert!(page.contains("at least one owner"), "{page}");
    assert_eq!(
        post(&owner, "/", "/settings/members/1/remove", &[]).await.0,
        422
    );
    // Another owner first, then the first one may go.
    assert_eq!(
        post(
            &owner,
            "/",
            "/settings/members/2/role",
            &[("role", "owner")]
        )
        .await
        .0,
        303
    );
    assert_eq!(
        post(
            &owner,
            "/",
            "/settings/members/1/role",
            &[("role", "viewer")]
        )
        .await
        .0,
        303
    );
    assert_eq!(
        app.store.membership(1, 1).await.unwrap().unwrap().role,
        Role::Viewer,
        "a role change takes effect at once"
    );
    assert_eq!(owner.get("/settings/audit").await.0, 403);
    // An organization needs a name.
    let (s, page) = post(&editor, "/", "/orgs", &[("name", "  ")]).await;
    assert_eq!(s, 422);
    assert!(page.contains("new-org-error"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_member_ends_their_sessions_and_tokens_there() {
    let app = TestApp::spawn().await;
    let owner = app.setup_admin("owner@example.com").await;
    let ed = app.member("ed@example.com", Role::Editor).await;
    let ed_elsewhere = Browser::new(&app);
    assert_eq!(ed_elsewhere.login("ed@example.com", PASSWORD).await, 303);
    let token = ed.api_token("write").await;
    let http = reqwest::Client::new();
    let api = || {
        http.get(app.url("/api/v1/monitors"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(api().await.unwrap().status(), 200);
    assert_eq!(app.store.session_count(2).await.unwrap(), 2);
    // An open dashboard's live stream.
    let mut live = ed.http.get(app.url("/events")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    assert!(live.chunk().await.unwrap().is_some(), "the stream opened");

    let (s, _) = post(
        &owner,
        "/settings/members",
        "/settings/members/2/remove",
        &[],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(app.store.session_count(2).await.unwrap(), 0);
    for b in [&ed, &ed_elsewhere] {
        assert_eq!(
            location(b, "/").await.as_deref(),
            Some("/login"),
            "signed out"
        );
    }
    assert_eq!(api().await.unwrap().status(), 401);
    // The live stream ends too, within seconds.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Ok(Some(_)) = live.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the removed member's live stream still runs");
    // Signing in again finds no organization to enter.
    assert_eq!(
        Browser::new(&app).login("ed@example.com", PASSWORD).await,
        403
    );
}

/// The key on the setup page, decoded.
fn totp_key(page: &str) -> Vec<u8> {
    let start = page.find("id=\"totp-key\">").expect("the key on the page") + 14;
    base32_decode(&page[start..start + page[start..].find('<').unwrap()])
}

fn recovery_codes(page: &str) -> Vec<String> {
    let list = &page[page.find("id=\"recovery-codes\"").expect("codes shown")..];
    list.split("<code>")
        .skip(1)
        .map(|c| c[..c.find('<').unwrap()].to_string())
        .take(10)
        .collect()
}

fn code(secret: &[u8], clock: &TestClock) -> String {
    totp::code_at(secret, totp::step_of(clock.now_ms()))
}

/// Signs in with the password; the second step's answer to `second`.
async fn sign_in_with(app: &TestApp, email: &str, second: &str) -> (Browser, u16) {
    let b = Browser::new(app);
    assert_eq!(b.login(email, PASSWORD).await, 303);
    assert_eq!(
        location(&b, "/").await.as_deref(),
        Some("/login"),
        "not signed in before the second factor"
    );
    let (s, _) = post(&b, "/login/2fa", "/login/2fa", &[("code", second)]).await;
    (b, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_sign_in_with_an_authenticator_and_single_use_recovery_codes() {
    let clock = Arc::new(TestClock::default());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let owner = app.setup_admin("owner@example.com").await;
    let (s, page) = post(&owner, "/settings/2fa", "/settings/2fa/setup", &[]).await;
    assert_eq!(s, 303, "{page}");
    let (_, page) = owner.get("/settings/2fa").await;
    assert!(page.contains("<svg"), "a QR code to scan");
    let secret = totp_key(&page);
    assert_eq!(secret.len(), 20);
    let (s, page) = post(
        &owner,
        "/settings/2fa",
        "/settings/2fa/enable",
        &[("code", "000000")],
    )
    .await;
    assert_eq!(s, 422, "a wrong code does not turn it on: {page}");
    let (s, page) = post(
        &owner,
        "/settings/2fa",
        "/settings/2fa/enable",
        &[("code", &code(&secret, &clock))],
    )
    .await;
    assert_eq!(s, 200);
    let codes = recovery_codes(&page);
    assert_eq!(codes.len(), 10);
    assert!(app.store.user_by_id(1).await.unwrap().totp_enabled);

    // A code is good once: the one used to turn it on is spent.
    let (_, s) = sign_in_with(&app, "owner@example.com", &code(&secret, &clock)).await;
    assert_eq!(s, 401, "a replayed code");
    let (_, s) = sign_in_with(&app, "owner@example.com", "123456").await;
    assert_eq!(s, 401);
    clock.advance(totp::STEP_MS);
    let (b, s) = sign_in_with(&app, "owner@example.com", &code(&secret, &clock)).await;
    assert_eq!(s, 303);
    assert!(signed_in(&b).await);
    // A code from two steps ago is too old.
    clock.advance(3 * totp::STEP_MS);
    let stale = totp::code_at(&secret, totp::step_of(clock.now_ms()) - 2);
    let near: Vec<String> = (-1..=1)
        .map(|d| totp::code_at(&secret, totp::step_of(clock.now_ms()) + d))
        .collect();
    if !near.contains(&stale) {
        assert_eq!(sign_in_with(&app, "owner@example.com", &stale).await.1, 401);
    }
    // A recovery code works once, typed any way.
    let typed = codes[0].replace('-', " ").to_uppercase();
    let (b, s) = sign_in_with(&app, "owner@example.com", &typed).await;
    assert_eq!(s, 303);
    assert!(signed_in(&b).await);
    assert_eq!(
        sign_in_with(&app, "owner@example.com", &codes[0]).await.1,
        401
    );
    assert_eq!(app.store.recovery_codes_left(1).await.unwrap(), 9);
    // The second step does not wait forever for its code.
    let late = Browser::new(&app);
    assert_eq!(late.login("owner@example.com", PASSWORD).await, 303);
    let (_, page) = late.get("/login/2fa").await;
    clock.advance(6 * MINUTE);
    let (s, _) = late
        .post_form(
            "/login/2fa",
            &[("_csrf", &csrf_of(&page)), ("code", &codes[1])],
        )
        .await;
    assert_eq!(s, 303);
    assert!(!signed_in(&late).await, "the password step had expired");

    // Turning it off needs the password and a code again (signing in
    // counted as that for ten minutes).
    clock.advance(5 * MINUTE);
    let (s, _) = post(&b, "/settings/2fa", "/settings/2fa/disable", &[]).await;
    assert_eq!(s, 303);
    assert!(
        app.store.user_by_id(1).await.unwrap().totp_enabled,
        "not without re-authentication"
    );
    clock.advance(totp::STEP_MS);
    let (s, _) = post(
        &b,
        "/reauth?next=/settings/2fa",
        "/reauth",
        &[
            ("password", PASSWORD),
            ("code", &code(&secret, &clock)),
            ("next", "/settings/2fa"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let (s, _) = post(&b, "/settings/2fa", "/settings/2fa/disable", &[]).await;
    assert_eq!(s, 303);
    assert!(!app.store.user_by_id(1).await.unwrap().totp_enabled);
    assert_eq!(
        Browser::new(&app)
            .login("owner@example.com", PASSWORD)
            .await,
        303
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_that_requires_two_factor_sends_members_to_set_it_up() {
    let clock = Arc::new(TestClock::default());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let owner = app.setup_admin("owner@example.com").await;
    let ed = app.member("ed@example.com", Role::Editor).await;
    let token = ed.api_token("read").await;
    // An owner without it cannot require it (nor lock themselves out).
    let (s, page) = post(
        &owner,
        "/settings/organization",
        "/settings/organization",
        &[("name", "Acme"), ("require_2fa", "on")],
    )
    .await;
    assert_eq!(s, 422, "{page}");
    post(&owner, "/settings/2fa", "/settings/2fa/setup", &[]).await;
    let secret = totp_key(&owner.get("/settings/2fa").await.1);
    post(
        &owner,
        "/settings/2fa",
        "/settings/2fa/enable",
        &[("code", &code(&secret, &clock))],
    )
    .await;
    let (s, _) = post(
        &owner,
        "/settings/organization",
        "/settings/organization",
        &[("name", "Acme"), ("require_2fa", "on")],
    )
    .await;
    assert_eq!(s, 200);
    // The member is sent to set it up; their token stops working.
    assert_eq!(location(&ed, "/").await.as_deref(), Some("/settings/2fa"));
    assert_eq!(
        location(&ed, "/workers").await.as_deref(),
        Some("/settings/2fa")
    );
    assert_eq!(ed.get("/settings/2fa").await.0, 200);
    let api = reqwest::Client::new()
        .get(app.url("/api/v1/monitors"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);
    post(&ed, "/settings/2fa", "/settings/2fa/setup", &[]).await;
    let ed_secret = totp_key(&ed.get("/settings/2fa").await.1);
    post(
        &ed,
        "/settings/2fa",
        "/settings/2fa/enable",
        &[("code", &code(&ed_secret, &clock))],
    )
    .await;
    assert!(signed_in(&ed).await, "set up: in");
    // While required, it cannot be turned off.
    let (s, page) = post(&ed, "/settings/2fa", "/settings/2fa/disable", &[]).await;
    assert_eq!(s, 403, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_rotate_on_privilege_and_end_when_idle_or_old() {
    let clock = Arc::new(TestClock::default());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    app.setup_admin("owner@example.com").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(app.url("/login")).send().await.unwrap();
    let mut cookie = session_cookie(&r).unwrap();
    let csrf = csrf_of(&r.text().await.unwrap());
    let r = http
        .post(app.url("/login"))
        .header("cookie", &cookie)
        .form(&[
            ("_csrf", csrf.as_str()),
            ("email", "owner@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let signed = session_cookie(&r).unwrap();
    assert_ne!(signed, cookie, "a new key at sign-in");
    cookie = signed;
    // Re-authentication and switching organization rotate the key too.
    let page = http
        .get(app.url("/reauth?next=/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = http
        .post(app.url("/reauth"))
        .header("cookie", &cookie)
        .form(&[
            ("_csrf", csrf_of(&page).as_str()),
            ("password", PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let rotated = session_cookie(&r).expect("a new key at re-authentication");
    assert_ne!(rotated, cookie);
    let old = http
        .get(app.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 303, "the key before rotation is dead");
    cookie = rotated;
    let get = |cookie: String| {
        let http = http.clone();
        let url = app.url("/");
        async move {
            http.get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(cookie.clone()).await, 200);
    // Idle past the limit (12 h by default): over.
    clock.advance(12 * HOUR + MINUTE);
    assert_eq!(get(cookie.clone()).await, 303, "idle session ended");

    // Active, but past the absolute lifetime (7 days): over too.
    let b = Browser::new(&app);
    assert_eq!(b.login("owner@example.com", PASSWORD).await, 303);
    for _ in 0..15 {
        clock.advance(11 * HOUR);
        assert!(signed_in(&b).await, "active within both limits");
    }
    clock.advance(4 * HOUR);
    assert!(!signed_in(&b).await, "7 days after sign-in, however active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_idle_limit_counts_from_the_last_request() {
    let clock = Arc::new(TestClock::default());
    let app = TestApp::spawn_full(|s| s.sessions.idle_ms = MINUTE, clock.clone()).await;
    let b = app.setup_admin("owner@example.com").await;
    // Requests 30 and 50 s apart: never a minute without one.
    for gap in [30_000, 50_000, 50_000] {
        clock.advance(gap);
        assert!(signed_in(&b).await, "{gap} ms after the last request");
    }
    clock.advance(MINUTE + 1_000);
    assert!(!signed_in(&b).await, "a minute without a request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_actions_need_a_recent_password() {
    let clock = Arc::new(TestClock::default());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let owner = app.setup_admin("owner@example.com").await;
    // Signing in counts; ten minutes later it does not.
    clock.advance(11 * MINUTE);
    for (from, to, fields) in [
        (
            "/settings/tokens",
            "/settings/tokens",
            vec![("name", "t"), ("scope", "read")],
        ),
        (
            "/workers",
            "/workers/enrollment-tokens",
            vec![("name", "w")],
        ),
        (
            "/settings/profile",
            "/settings/password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", "an entirely new passphrase"),
                ("confirm_password", "an entirely new passphrase"),
            ],
        ),
    ] {
        let (_, page) = owner.get(from).await;
        let mut form = vec![("_csrf", csrf_of(&page))];
        form.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
        let r = owner
            .http
            .post(app.url(to))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{to}");
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            format!("/reauth?next={from}"),
            "{to}"
        );
    }
    assert!(app.store.api_tokens_of_user(1, 1).await.unwrap().is_empty());
    let (s, _) = post(
        &owner,
        "/reauth?next=/settings/tokens",
        "/reauth",
        &[
            ("password", "not my password"),
            ("next", "/settings/tokens"),
        ],
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = post(
        &owner,
        "/reauth?next=/settings/tokens",
        "/reauth",
        &[("password", PASSWORD), ("next", "//evil.example/")],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(
        location(&owner, "/settings/tokens").await,
        None,
        "the tokens page is served"
    );
    let token = owner.api_token("read").await;
    assert!(token.starts_with("ostu_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_setup_asks_the_password_in_its_own_form() {
    let clock = Arc::new(TestClock::default());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let owner = app.setup_admin("owner@example.com").await;
    // Just signed in: one click, no password.
    let (_, page) = owner.get("/settings/2fa").await;
    assert!(!page.contains("id=\"password\""), "{page}");
    // Later the same form asks for it; the click then shows the QR code
    // at once, without a detour through "confirm it is you".
    clock.advance(11 * MINUTE);
    let (_, page) = owner.get("/settings/2fa").await;
    assert!(page.contains("id=\"password\""), "{page}");
    let (s, page) = post(
        &owner,
        "/settings/2fa",
        "/settings/2fa/setup",
        &[("password", "not my password")],
    )
    .await;
    assert_ne!(s, 303);
    assert!(page.contains("this is not your password"), "{page}");
    assert!(!page.contains("<svg"), "no key for a wrong password");
    let (s, _) = post(
        &owner,
        "/settings/2fa",
        "/settings/2fa/setup",
        &[("password", PASSWORD)],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(location(&owner, "/settings/2fa").await, None);
    let (_, page) = owner.get("/settings/2fa").await;
    assert!(page.contains("<svg"), "a QR code to scan: {page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_have_scopes_and_expiry_and_enrollment_tokens_run_out() {
    let clock = Arc::new(TestClock::default());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let owner = app.setup_admin("owner@example.com").await;
    let editor = app.member("ed@example.com", Role::Editor).await;
    let viewer = app.member("vi@example.com", Role::Viewer).await;
    let http = reqwest::Client::new();
    let create = |token: String| {
        http.post(app.url("/api/v1/monitors"))
            .bearer_auth(token)
            .json(&serde_json::json!({"name": "m", "url": "http://127.0.0.1:9/"}))
            .send()
    };
    let read = editor.api_token("read").await;
    let write = editor.api_token("write").await;
    let r = create(read.clone()).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("scope"));
    assert_eq!(create(write).await.unwrap().status(), 201);
    // A viewer's role caps what a token may say.
    let (s, page) = post(
        &viewer,
        "/settings/tokens",
        "/settings/tokens",
        &[("name", "x"), ("scope", "write")],
    )
    .await;
    assert_eq!(s, 422, "{page}");
    // The audit log needs an admin token.
    let audit = |token: String| http.get(app.url("/api/v1/audit")).bearer_auth(token).send();
    assert_eq!(
        audit(owner.api_token("write").await)
            .await
            .unwrap()
            .status(),
        403
    );
    let admin_token = owner.api_token("admin").await;
    let r = audit(admin_token.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "monitor.created"
            && e["actor"].as_str().unwrap().contains("API token")));

    // A token for one day.
    let (_, page) = post(
        &owner,
        "/settings/tokens",
        "/settings/tokens",
        &[("name", "day"), ("scope", "read"), ("expires_days", "1")],
    )
    .await;
    let daily = extract_token(&page, "ostu_");
    // An enrollment token for one worker.
    let (_, page) = post(
        &owner,
        "/workers",
        "/workers/enrollment-tokens",
        &[("name", "one"), ("max_uses", "1"), ("expires_days", "")],
    )
    .await;
    let once = extract_token(&page, "ostc_");
    let (_, page) = post(
        &owner,
        "/workers",
        "/workers/enrollment-tokens",
        &[("name", "today"), ("expires_days", "1")],
    )
    .await;
    let today = extract_token(&page, "ostc_");
    let enroll = |token| common::enroll(&app.base, token, "eu");
    assert_eq!(enroll(&once).await.status(), 200);
    assert_eq!(enroll(&once).await.status(), 401, "used up");
    let list = |token: String| {
        http.get(app.url("/api/v1/monitors"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(list(daily.clone()).await.unwrap().status(), 200);
    clock.advance(DAY + 1_000);
    assert_eq!(list(daily).await.unwrap().status(), 401, "expired");
    assert_eq!(enroll(&today).await.status(), 401, "expired");
    assert_eq!(list(admin_token).await.unwrap().status(), 200, "no expiry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_says_who_did_what_and_only_admins_read_it() {
    let app = TestApp::spawn().await;
    let owner = app.setup_admin("owner@example.com").await;
    assert_eq!(
        Browser::new(&app)
            .login("owner@example.com", "wrong one")
            .await,
        401
    );
    assert_eq!(
        Browser::new(&app)
            .login("ghost@example.com", "wrong one")
            .await,
        401
    );
    let id = owner
        .create_monitor(&[
            ("name", "api"),
            ("url", "http://127.0.0.1:9/"),
            ("interval_seconds", "60"),
        ])
        .await;
    post(&owner, "/", &format!("/monitors/{id}/pause"), &[]).await;
    post(&owner, "/", &format!("/monitors/{id}/delete"), &[]).await;
    owner.api_token("read").await;
    invite(&owner, "viewer", "", "3").await;
    let enroll = app.enrollment_token(&owner).await;
    let w = app.start_worker(&enroll, "eu").await;
    common::wait_for(
        std::time::Duration::from_secs(10),
        "the worker enrolled",
        || async { (!app.store.workers(1).await.unwrap().is_empty()).then_some(()) },
    )
    .await;
    post(&owner, "/workers", "/workers/1/revoke", &[]).await;
    let _ = w.shutdown().await;
    let viewer = app.member("vi@example.com", Role::Viewer).await;
    assert_eq!(viewer.get("/settings/audit").await.0, 403);

    let (s, page) = owner.get("/settings/audit").await;
    assert_eq!(s, 200);
    for action in [
        "user.signed_in",
        "user.sign_in_failed",
        "monitor.created",
        "monitor.paused",
        "monitor.deleted",
        "api_token.created",
        "member.invited",
        "enrollment_token.created",
        "worker.enrolled",
        "worker.revoked",
    ] {
        assert!(page.contains(action), "{action} is in the audit log");
    }
    assert!(
        page.contains("ghost@example.com"),
        "the instance's operators see failed sign-ins of unknown addresses"
    );
    assert!(!page.contains(PASSWORD) && !page.contains("wrong one"));
}
