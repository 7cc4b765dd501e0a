//! Users, roles, sessions and password hashing.
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use domain::event::UiEvent;
use domain::user::{Me, Password, UserAction, UserView, Username};
use domain::{Permission, Role};

mod throttle;

use throttle::Throttle;

use crate::ControlError;
use crate::events::Events;
use crate::secret::{self, now_ms};
use crate::store::{Store, UserRow};

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
        let user = self.user(user_id).await?;
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

    /// The user with this id, or NotFound.
    async fn user(&self, user_id: &str) -> Result<UserRow, ControlError> {
        self.store
            .user_by_id(user_id)
            .await?
            .ok_or(ControlError::NotFound("User"))
    }

    /// An Administrator sets another user's password; every session of that user ends.
    pub async fn reset_password(
        &self,
        actor: &Actor,
        user_id: &str,
        password: Password,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Administer)?;
        let user = self.user(user_id).await?;
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
        let user = self.user(user_id).await?;
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
mod tests;
