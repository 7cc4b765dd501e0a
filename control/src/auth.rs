//! Users, roles, sessions and password hashing.
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use domain::event::UiEvent;
use domain::user::{Me, Password, UserAction, UserView, Username};
use domain::{Permission, Role};

use crate::ControlError;
use crate::events::Events;
use crate::secret::{self, now_ms};
use crate::store::Store;

/// Name of the session cookie (HttpOnly, SameSite=Strict).
pub const SESSION_COOKIE: &str = "flotilla_session";

/// The address a request comes from (the TCP peer, or the client a trusted proxy names); the
/// server puts it into every request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The authenticated caller of a use case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub username: String,
    pub role: Role,
}

impl Actor {
    pub fn require(&self, permission: Permission) -> Result<(), ControlError> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            tracing::info!(user = %self.username, role = %self.role, ?permission, "refused by role");
            Err(ControlError::Forbidden)
        }
    }

    pub fn me(&self) -> Me {
        Me {
            id: self.user_id.clone(),
            username: self.username.clone(),
            role: self.role,
        }
    }
}

/// A new session: the cookie value (shown once) and who it belongs to.
pub struct Session {
    pub token: String,
    pub max_age_secs: i64,
    pub actor: Actor,
}

#[derive(Clone)]
pub struct Auth {
    store: Store,
    events: Events,
    session_ttl_ms: i64,
    secure_cookies: bool,
    throttle: Arc<Mutex<Throttle>>,
    /// Bounds concurrent password hashing (argon2id takes ~19 MiB and a core for a while), so a
    /// burst of logins queues instead of exhausting memory.
    hashing: Arc<tokio::sync::Semaphore>,
}

impl Auth {
    pub fn new(store: Store, events: Events, session_ttl_ms: i64, secure_cookies: bool) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            store,
            events,
            session_ttl_ms,
            secure_cookies,
            throttle: Arc::default(),
            hashing: Arc::new(tokio::sync::Semaphore::new(cores)),
        }
    }

    /// The `Set-Cookie` value that carries a new session to the browser.
    pub fn cookie_for(&self, session: &Session) -> String {
        session_cookie(&session.token, session.max_age_secs, self.secure_cookies)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clearing_cookie(&self) -> String {
        session_cookie("", 0, self.secure_cookies)
    }

    /// Creates the first Administrator when there are no users. Returns the generated password
    /// when none was given, so the caller can print it once.
    pub async fn bootstrap_admin(
        &self,
        password: Option<&str>,
    ) -> Result<Option<String>, ControlError> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (Password::parse(p)?, None),
            None => {
                let p = secret::password();
                (Password::parse(&p)?, Some(p))
            }
        };
        let hash = self.hash_password(&password).await?;
        self.store
            .insert_user(
                &uuid::Uuid::new_v4().to_string(),
                "admin",
                &hash,
                Role::Administrator,
                now_ms(),
            )
            .await?;
        self.store
            .audit("system", "user.bootstrap", Some("admin"), None)
            .await?;
        Ok(generated)
    }

    /// Signs in from `source`. Failures are throttled per (name, address) and per address, so a
    /// guesser slows only itself: the right password from another address still works. A name
    /// that cannot be a username is refused before it is counted or hashed.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        source: IpAddr,
    ) -> Result<Session, ControlError> {
        let Ok(name) = Username::parse(&username.to_lowercase()) else {
            return Err(ControlError::BadCredentials);
        };
        let key = (name.as_str().to_owned(), source);
        let now = now_ms();
        self.lock_throttle().check(&key, now)?;
        let row = self.store.user_by_name(name.as_str()).await?;
        let verified = self
            .verify_password(
                row.as_ref().map(|r| r.password_hash.clone()),
                password.to_owned(),
            )
            .await?;
        let row = match (row, verified) {
            (Some(row), true) if row.disabled_at.is_none() => row,
            _ => {
                self.lock_throttle().fail(&key, now);
                tracing::warn!(username = %key.0, %source, "failed login");
                return Err(ControlError::BadCredentials);
            }
        };
        self.lock_throttle().succeed(&key);
        let token = secret::token("");
        self.store
            .insert_session(
                &secret::hash(&token),
                &row.id,
                now,
                now + self.session_ttl_ms,
            )
            .await?;
        self.store
            .audit(
                &row.username,
                "session.login",
                None,
                Some(&source.to_string()),
            )
            .await?;
        Ok(Session {
            token,
            max_age_secs: self.session_ttl_ms / 1000,
            actor: Actor {
                user_id: row.id.clone(),
                username: row.username.clone(),
                role: row.role()?,
            },
        })
    }

    /// The actor behind a session cookie value.
    pub async fn session(&self, token: Option<&str>) -> Result<Actor, ControlError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(ControlError::Unauthenticated)?;
        let row = self
            .store
            .session_user(&secret::hash(token), now_ms())
            .await?
            .ok_or(ControlError::Unauthenticated)?;
        Ok(Actor {
            user_id: row.id.clone(),
            username: row.username.clone(),
            role: row.role()?,
        })
    }

    /// Changes the caller's own password after checking the current one (throttled like a
    /// login); every other session of the user ends.
    pub async fn change_password(
        &self,
        actor: &Actor,
        session_token: &str,
        current: &str,
        new: Password,
        source: IpAddr,
    ) -> Result<(), ControlError> {
        let key = (actor.username.clone(), source);
        let now = now_ms();
        self.lock_throttle().check(&key, now)?;
        let row = self
            .store
            .user_by_id(&actor.user_id)
            .await?
            .ok_or(ControlError::Unauthenticated)?;
        if !self
            .verify_password(Some(row.password_hash.clone()), current.to_owned())
            .await?
        {
            self.lock_throttle().fail(&key, now);
            return Err(ControlError::Validation(domain::ValidationError::new(
                "current",
                "The current password is wrong.",
            )));
        }
        self.lock_throttle().succeed(&key);
        let hash = self.hash_password(&new).await?;
        self.store.set_password_hash(&row.id, &hash, now).await?;
        let ended = self
            .store
            .delete_other_sessions(&row.id, &secret::hash(session_token))
            .await?;
        self.store
            .audit(
                &actor.username,
                "user.password",
                Some(&actor.username),
                None,
            )
            .await?;
        tracing::info!(user = %actor.username, other_sessions_ended = ended, "password changed");
        Ok(())
    }

    pub async fn logout(&self, token: &str) -> Result<(), ControlError> {
        self.store.delete_session(&secret::hash(token)).await
    }

    pub async fn purge_expired_sessions(&self) -> Result<u64, ControlError> {
        self.store.delete_expired_sessions(now_ms()).await
    }

    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<UserView>, ControlError> {
        actor.require(Permission::Read)?;
        self.store
            .list_users()
            .await?
            .iter()
            .map(|r| r.view())
            .collect()
    }

    pub async fn create_user(
        &self,
        actor: &Actor,
        username: Username,
        password: Password,
        role: Role,
    ) -> Result<UserView, ControlError> {
        actor.require(Permission::Administer)?;
        let hash = self.hash_password(&password).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        match self
            .store
            .insert_user(&id, username.as_str(), &hash, role, now)
            .await
        {
            Err(e) if e.is_unique_violation() => {
                return Err(ControlError::Conflict(format!(
                    "The username \"{}\" is taken.",
                    username.as_str()
                )));
            }
            other => other?,
        }
        self.store
            .audit(
                &actor.username,
                "user.create",
                Some(username.as_str()),
                Some(role.as_str()),
            )
            .await?;
        self.events.publish(UiEvent::Users);
        Ok(UserView {
            id,
            username: username.as_str().to_owned(),
            role,
            created_at_ms: now,
            disabled: false,
        })
    }

    pub async fn set_role(
        &self,
        actor: &Actor,
        user_id: &str,
        role: Role,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Administer)?;
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(ControlError::NotFound("User"))?;
        if !self.store.set_role(user_id, role, now_ms()).await? {
            return Err(ControlError::Conflict(
                "The panel needs at least one active Administrator: promote someone else first."
                    .into(),
            ));
        }
        self.store
            .audit(
                &actor.username,
                "user.role",
                Some(&user.username),
                Some(role.as_str()),
            )
            .await?;
        self.events.publish(UiEvent::Users);
        Ok(())
    }

    /// An Administrator sets another user's password; every session of that user ends.
    pub async fn reset_password(
        &self,
        actor: &Actor,
        user_id: &str,
        password: Password,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Administer)?;
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(ControlError::NotFound("User"))?;
        let hash = self.hash_password(&password).await?;
        self.store
            .set_password_hash(user_id, &hash, now_ms())
            .await?;
        let ended = self.store.delete_sessions_of(user_id).await?;
        self.store
            .audit(
                &actor.username,
                "user.password_reset",
                Some(&user.username),
                None,
            )
            .await?;
        tracing::info!(user = %user.username, by = %actor.username, sessions_ended = ended, "password reset");
        self.events.publish(UiEvent::Users);
        Ok(())
    }

    /// Disables, enables or deletes another account. Disabling and deleting end the user's
    /// sessions; neither may leave the panel without an active Administrator.
    pub async fn user_action(
        &self,
        actor: &Actor,
        user_id: &str,
        action: UserAction,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Administer)?;
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(ControlError::NotFound("User"))?;
        if user.id == actor.user_id && action != UserAction::Enable {
            return Err(ControlError::Conflict(
                "You cannot disable or delete your own account.".into(),
            ));
        }
        let (changed, audit) = match action {
            UserAction::Disable => (
                self.store.disable_user(user_id, now_ms()).await?,
                "user.disable",
            ),
            UserAction::Enable => (
                self.store.enable_user(user_id, now_ms()).await?,
                "user.enable",
            ),
            UserAction::Delete => (self.store.delete_user(user_id).await?, "user.delete"),
        };
        if !changed {
            return Err(ControlError::Conflict(match action {
                UserAction::Enable => format!("{} is not disabled.", user.username),
                UserAction::Disable if user.disabled_at.is_some() => {
                    format!("{} is disabled already.", user.username)
                }
                _ => "The panel needs at least one active Administrator: promote or enable someone else first.".into(),
            }));
        }
        self.store
            .audit(&actor.username, audit, Some(&user.username), None)
            .await?;
        self.events.publish(UiEvent::Users);
        Ok(())
    }

    fn lock_throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        // A poisoned lock only means another thread panicked mid-update of plain counters.
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn hashing_permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ControlError> {
        self.hashing
            .acquire()
            .await
            .map_err(|_| ControlError::Unavailable("The panel is shutting down.".into()))
    }

    async fn hash_password(&self, password: &Password) -> Result<String, ControlError> {
        let _permit = self.hashing_permit().await?;
        let password = password.expose().to_owned();
        tokio::task::spawn_blocking(move || {
            let salt = new_salt()?;
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| ControlError::Hashing(e.to_string()))
        })
        .await?
    }

    /// Verifies in constant work whether or not the user exists (an unknown user is checked
    /// against a dummy hash so response times do not reveal which usernames exist).
    async fn verify_password(
        &self,
        stored: Option<String>,
        password: String,
    ) -> Result<bool, ControlError> {
        let _permit = self.hashing_permit().await?;
        tokio::task::spawn_blocking(move || {
            static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let dummy = DUMMY.get_or_init(|| {
                new_salt()
                    .and_then(|salt| {
                        Argon2::default()
                            .hash_password(b"flotilla-dummy", &salt)
                            .map(|h| h.to_string())
                            .map_err(|e| ControlError::Hashing(e.to_string()))
                    })
                    .unwrap_or_default()
            });
            let exists = stored.is_some();
            let hash = stored.unwrap_or_else(|| dummy.clone());
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| ControlError::Corrupt(format!("password hash: {e}")))?;
            Ok(exists
                && Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok())
        })
        .await?
    }
}

fn new_salt() -> Result<SaltString, ControlError> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    SaltString::encode_b64(&bytes).map_err(|e| ControlError::Hashing(e.to_string()))
}

/// Failed-login throttling, kept in two bounded tables:
/// * per (username, source address): three free attempts, then a lock that doubles with every
///   further failure (2 s, 4 s, … capped at 5 min); a success clears it;
/// * per source address, whatever the name: [`FREE_PER_SOURCE`] free failures, then the same
///   doubling lock, so one address cannot try many names quickly.
///
/// A guesser therefore locks only itself out: the same name from another address is untouched.
#[derive(Default)]
struct Throttle {
    by_name: Failures<(String, IpAddr)>,
    by_source: Failures<IpAddr>,
}

struct Entry {
    count: u32,
    last_ms: i64,
    locked_until_ms: i64,
}

/// One table: at most [`MAX_ENTRIES`]; when full, the entry idle the longest makes room.
struct Failures<K> {
    entries: HashMap<K, Entry>,
}

impl<K> Default for Failures<K> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

const FREE_ATTEMPTS: u32 = 3;
const FREE_PER_SOURCE: u32 = 20;
const MAX_LOCK_MS: i64 = 300_000;
const FORGET_AFTER_MS: i64 = 3_600_000;
const MAX_ENTRIES: usize = 10_000;

impl<K: Eq + Hash + Clone> Failures<K> {
    fn locked(&self, key: &K, now: i64) -> Option<u64> {
        self.entries
            .get(key)
            .filter(|e| e.locked_until_ms > now)
            .map(|e| ((e.locked_until_ms - now) as u64).div_ceil(1000))
    }

    fn fail(&mut self, key: &K, now: i64, free: u32) {
        if !self.entries.contains_key(key) && self.entries.len() >= MAX_ENTRIES {
            self.entries
                .retain(|_, e| now - e.last_ms < FORGET_AFTER_MS);
            if self.entries.len() >= MAX_ENTRIES
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_ms)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        let e = self.entries.entry(key.clone()).or_insert(Entry {
            count: 0,
            last_ms: now,
            locked_until_ms: 0,
        });
        if now - e.last_ms >= FORGET_AFTER_MS {
            e.count = 0;
        }
        e.count += 1;
        e.last_ms = now;
        if e.count > free {
            let exp = (e.count - free).min(20);
            e.locked_until_ms = now + (1000i64 << exp).min(MAX_LOCK_MS);
        }
    }

    fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

impl Throttle {
    fn check(&self, key: &(String, IpAddr), now: i64) -> Result<(), ControlError> {
        match self
            .by_name
            .locked(key, now)
            .max(self.by_source.locked(&key.1, now))
        {
            Some(retry_after_secs) => Err(ControlError::Throttled { retry_after_secs }),
            None => Ok(()),
        }
    }

    fn fail(&mut self, key: &(String, IpAddr), now: i64) {
        self.by_name.fail(key, now, FREE_ATTEMPTS);
        self.by_source.fail(&key.1, now, FREE_PER_SOURCE);
    }

    fn succeed(&mut self, key: &(String, IpAddr)) {
        self.by_name.forget(key);
    }
}

/// Extracts the session token from a `Cookie` header value.
pub fn session_token_from_cookies(header: &str) -> Option<&str> {
    header.split(';').map(str::trim).find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == SESSION_COOKIE).then_some(value)
    })
}

/// The `Set-Cookie` value for a session; `secure` adds the Secure flag (behind TLS).
fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    )
}

#[cfg(test)]
mod tests {
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
}
