//! Unit tests of accounts, sessions and throttling.

use super::throttle::{FREE_ATTEMPTS, FREE_PER_SOURCE, MAX_ENTRIES, Throttle};
use super::*;
use crate::store::testing::temp_store;

const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const THERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

async fn auth() -> (Auth, tempfile::TempDir) {
    let (store, dir) = temp_store().await;
    (Auth::new(store, Events::new(), 3_600_000, false), dir)
}

fn pw(s: &str) -> Password {
    Password::parse(s).expect("valid password")
}

#[tokio::test]
async fn bootstrap_creates_one_admin_with_the_given_or_a_generated_password() {
    let (auth, _dir) = auth().await;
    assert_eq!(
        auth.bootstrap_admin(Some("correct horse battery"))
            .await
            .expect("bootstrap"),
        None
    );
    assert!(
        auth.bootstrap_admin(None)
            .await
            .expect("second bootstrap")
            .is_none(),
        "runs only once"
    );
    let s = auth
        .login("admin", "correct horse battery", HERE)
        .await
        .expect("login works");
    assert_eq!(s.actor.role, Role::Administrator);

    let (fresh, _dir2) = self::auth().await;
    let generated = fresh
        .bootstrap_admin(None)
        .await
        .expect("bootstrap")
        .expect("generated");
    assert!(fresh.login("admin", &generated, HERE).await.is_ok());
}

#[tokio::test]
async fn wrong_password_gives_no_session_and_is_throttled() {
    let (auth, _dir) = auth().await;
    auth.bootstrap_admin(Some("correct horse battery"))
        .await
        .expect("bootstrap");
    for _ in 0..FREE_ATTEMPTS {
        assert!(matches!(
            auth.login("admin", "wrong password", HERE).await,
            Err(ControlError::BadCredentials)
        ));
    }
    // The fourth failure locks this address out for a while, even for the right password...
    assert!(matches!(
        auth.login("admin", "wrong password", HERE).await,
        Err(ControlError::BadCredentials)
    ));
    assert!(matches!(
        auth.login("admin", "correct horse battery", HERE).await,
        Err(ControlError::Throttled { retry_after_secs }) if retry_after_secs >= 1
    ));
    // ...but not the Administrator: from another address the right password works.
    assert!(
        auth.login("admin", "correct horse battery", THERE)
            .await
            .is_ok()
    );
    assert!(matches!(
        auth.login("nobody", "whatever pw", THERE).await,
        Err(ControlError::BadCredentials)
    ));
}

#[tokio::test]
async fn names_that_cannot_be_usernames_are_neither_counted_nor_hashed() {
    let (auth, _dir) = auth().await;
    for i in 0..50 {
        let name = format!("Not A Name {i}");
        assert!(matches!(
            auth.login(&name, "whatever pw", HERE).await,
            Err(ControlError::BadCredentials)
        ));
    }
    let t = auth.lock_throttle();
    assert_eq!((t.by_name.len(), t.by_source.len()), (0, 0));
}

#[tokio::test]
async fn disabled_users_cannot_sign_in_and_resets_end_sessions() {
    let (auth, _dir) = auth().await;
    auth.bootstrap_admin(Some("correct horse battery"))
        .await
        .expect("bootstrap");
    let admin = auth
        .login("admin", "correct horse battery", HERE)
        .await
        .expect("login")
        .actor;
    let ed = auth
        .create_user(
            &admin,
            Username::parse("eddie").expect("name"),
            pw("editor password"),
            Role::Editor,
        )
        .await
        .expect("created");
    let session = auth
        .login("eddie", "editor password", HERE)
        .await
        .expect("login");
    auth.user_action(&admin, &ed.id, UserAction::Disable)
        .await
        .expect("disables");
    assert!(auth.session(Some(&session.token)).await.is_err());
    assert!(matches!(
        auth.login("eddie", "editor password", THERE).await,
        Err(ControlError::BadCredentials)
    ));
    assert!(matches!(
        auth.user_action(&admin, &admin.user_id, UserAction::Disable)
            .await,
        Err(ControlError::Conflict(_))
    ));
    auth.user_action(&admin, &ed.id, UserAction::Enable)
        .await
        .expect("enables");
    let session = auth
        .login("eddie", "editor password", THERE)
        .await
        .expect("login");
    assert!(matches!(
        auth.user_action(&session.actor, &admin.user_id, UserAction::Delete)
            .await,
        Err(ControlError::Forbidden)
    ));
    auth.reset_password(&admin, &ed.id, pw("a new password"))
        .await
        .expect("resets");
    assert!(
        auth.session(Some(&session.token)).await.is_err(),
        "a reset ends sessions"
    );
    assert!(auth.login("eddie", "a new password", THERE).await.is_ok());
    auth.user_action(&admin, &ed.id, UserAction::Delete)
        .await
        .expect("deletes");
    assert!(
        auth.list_users(&admin)
            .await
            .expect("list")
            .iter()
            .all(|u| u.username != "eddie")
    );
}

#[test]
fn throttle_doubles_caps_and_stays_per_address() {
    let mut t = Throttle::default();
    let here = ("u".to_string(), HERE);
    let there = ("u".to_string(), THERE);
    for _ in 0..4 {
        t.fail(&here, 0);
    }
    assert!(matches!(
        t.check(&here, 1_000),
        Err(ControlError::Throttled {
            retry_after_secs: 1
        })
    ));
    assert!(
        t.check(&there, 1_000).is_ok(),
        "another address is not locked"
    );
    assert!(t.check(&here, 2_000).is_ok());
    t.fail(&here, 2_000);
    assert!(matches!(
        t.check(&here, 2_000),
        Err(ControlError::Throttled {
            retry_after_secs: 4
        })
    ));
    for _ in 0..30 {
        t.fail(&here, 3_000);
    }
    assert!(matches!(
        t.check(&here, 3_000),
        Err(ControlError::Throttled {
            retry_after_secs: 300
        })
    ));
    t.succeed(&here);
    // The name is forgiven; the address that guessed 35 times is not.
    assert!(t.check(&here, 3_000).is_err());
    assert!(t.check(&there, 3_000).is_ok());
}

#[test]
fn one_address_trying_many_names_is_slowed_too() {
    let mut t = Throttle::default();
    for i in 0..FREE_PER_SOURCE {
        let key = (format!("user{i}"), HERE);
        t.fail(&key, 0);
        assert!(t.check(&key, 0).is_ok());
    }
    t.fail(&("another".into(), HERE), 0);
    assert!(t.check(&("fresh".into(), HERE), 0).is_err());
    assert!(t.check(&("fresh".into(), THERE), 0).is_ok());
}

#[test]
fn throttle_state_is_bounded() {
    let mut t = Throttle::default();
    for i in 0..(MAX_ENTRIES as u32 + 500) {
        let source = IpAddr::V4(std::net::Ipv4Addr::from(i));
        t.fail(&(format!("user{i}"), source), i64::from(i));
    }
    assert_eq!(t.by_name.len(), MAX_ENTRIES);
    assert_eq!(t.by_source.len(), MAX_ENTRIES);
}

#[tokio::test]
async fn sessions_resolve_and_end_on_logout() {
    let (auth, _dir) = auth().await;
    auth.bootstrap_admin(Some("correct horse battery"))
        .await
        .expect("bootstrap");
    let s = auth
        .login("admin", "correct horse battery", HERE)
        .await
        .expect("login");
    assert_eq!(
        auth.session(Some(&s.token)).await.expect("valid").username,
        "admin"
    );
    assert!(matches!(
        auth.session(Some("forged")).await,
        Err(ControlError::Unauthenticated)
    ));
    assert!(matches!(
        auth.session(None).await,
        Err(ControlError::Unauthenticated)
    ));
    auth.logout(&s.token).await.expect("logout");
    assert!(matches!(
        auth.session(Some(&s.token)).await,
        Err(ControlError::Unauthenticated)
    ));
}

#[tokio::test]
async fn only_administrators_manage_users() {
    let (auth, _dir) = auth().await;
    auth.bootstrap_admin(Some("correct horse battery"))
        .await
        .expect("bootstrap");
    let admin = auth
        .login("admin", "correct horse battery", HERE)
        .await
        .expect("login")
        .actor;
    let viewer = auth
        .create_user(
            &admin,
            Username::parse("vera").expect("name"),
            pw("viewer password"),
            Role::Viewer,
        )
        .await
        .expect("created");
    let vera = auth
        .login("vera", "viewer password", HERE)
        .await
        .expect("login")
        .actor;
    assert!(matches!(
        auth.create_user(
            &vera,
            Username::parse("eve").expect("name"),
            pw("another password"),
            Role::Administrator
        )
        .await,
        Err(ControlError::Forbidden)
    ));
    assert!(matches!(
        auth.set_role(&vera, &viewer.id, Role::Administrator).await,
        Err(ControlError::Forbidden)
    ));
    assert!(matches!(
        auth.create_user(
            &admin,
            Username::parse("vera").expect("name"),
            pw("viewer password"),
            Role::Viewer
        )
        .await,
        Err(ControlError::Conflict(_))
    ));
    assert!(matches!(
        auth.set_role(&admin, &admin.user_id, Role::Viewer).await,
        Err(ControlError::Conflict(_))
    ));
    auth.set_role(&admin, &viewer.id, Role::Editor)
        .await
        .expect("promotes");
    assert_eq!(
        auth.session(Some(
            &auth
                .login("vera", "viewer password", HERE)
                .await
                .expect("login")
                .token
        ))
        .await
        .expect("s")
        .role,
        Role::Editor
    );
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let (auth, _dir) = auth().await;
    auth.bootstrap_admin(Some("correct horse battery"))
        .await
        .expect("bootstrap");
    let here = auth
        .login("admin", "correct horse battery", HERE)
        .await
        .expect("login");
    let elsewhere = auth
        .login("admin", "correct horse battery", HERE)
        .await
        .expect("login");
    let wrong = auth
        .change_password(
            &here.actor,
            &here.token,
            "nope nope nope",
            pw("new password 1"),
            HERE,
        )
        .await;
    assert!(matches!(wrong, Err(ControlError::Validation(v)) if v.field == "current"));
    auth.change_password(
        &here.actor,
        &here.token,
        "correct horse battery",
        pw("new password 1"),
        HERE,
    )
    .await
    .expect("changed");
    assert!(
        auth.session(Some(&here.token)).await.is_ok(),
        "this session stays"
    );
    assert!(
        auth.session(Some(&elsewhere.token)).await.is_err(),
        "other sessions end"
    );
    assert!(matches!(
        auth.login("admin", "correct horse battery", HERE).await,
        Err(ControlError::BadCredentials)
    ));
    assert!(auth.login("admin", "new password 1", HERE).await.is_ok());
}

#[test]
fn cookies() {
    assert_eq!(
        session_token_from_cookies("a=b; flotilla_session=tok; c=d"),
        Some("tok")
    );
    assert_eq!(session_token_from_cookies("a=b"), None);
    let c = session_cookie("tok", 60, false);
    assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
    assert!(session_cookie("tok", 60, true).ends_with("; Secure"));
    assert!(session_cookie("", 0, false).contains("Max-Age=0"));
}
