use domain::Role;
use domain::user::UserView;

use super::{Serialized, Store};
use crate::ControlError;

#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

// The column list as a literal, so that every query stays a static string (`concat!`).
macro_rules! user_columns {
    () => {
        "id, username, password_hash, role, created_at, disabled_at"
    };
}

impl UserRow {
    pub fn role(&self) -> Result<Role, ControlError> {
        Role::parse(&self.role).map_err(|_| {
            ControlError::Corrupt(format!("user {} has role {:?}", self.id, self.role))
        })
    }

    pub fn view(&self) -> Result<UserView, ControlError> {
        Ok(UserView {
            id: self.id.clone(),
            username: self.username.clone(),
            role: self.role()?,
            created_at_ms: self.created_at,
            disabled: self.disabled_at.is_some(),
        })
    }
}

impl Store {
    pub async fn count_users(&self) -> Result<i64, ControlError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn count_role(&self, role: Role) -> Result<i64, ControlError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = $1")
                .bind(role.as_str())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn insert_user(
        &self,
        id: &str,
        username: &str,
        password_hash: &str,
        role: Role,
        now_ms: i64,
    ) -> Result<(), ControlError> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(id)
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, ControlError> {
        Ok(sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>, ControlError> {
        Ok(sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>, ControlError> {
        Ok(sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY username"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Changes a role, refusing (atomically, also against concurrent changes) to leave the panel
    /// without an active Administrator.
    pub async fn set_role(&self, id: &str, role: Role, now_ms: i64) -> Result<bool, ControlError> {
        let mut tx = self.begin_serialized(Serialized::Administrators).await?;
        let result = sqlx::query(
            "UPDATE users SET role = $1, updated_at = $2 WHERE id = $3 AND ( \
                 $1 = $4 OR role <> $4 OR disabled_at IS NOT NULL OR \
                 (SELECT COUNT(*) FROM users WHERE role = $4 AND disabled_at IS NULL) > 1)",
        )
        .bind(role.as_str())
        .bind(now_ms)
        .bind(id)
        .bind(Role::Administrator.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(result.rows_affected() == 1)
    }

    /// Disables an enabled user and ends their sessions, refusing (atomically) to disable the
    /// last active Administrator. False when nothing changed.
    pub async fn disable_user(&self, id: &str, now_ms: i64) -> Result<bool, ControlError> {
        let mut tx = self.begin_serialized(Serialized::Administrators).await?;
        let result = sqlx::query(
            "UPDATE users SET disabled_at = $1, updated_at = $1 \
             WHERE id = $2 AND disabled_at IS NULL AND (role <> $3 OR \
                 (SELECT COUNT(*) FROM users WHERE role = $3 AND disabled_at IS NULL) > 1)",
        )
        .bind(now_ms)
        .bind(id)
        .bind(Role::Administrator.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected() == 1)
    }

    /// Enables a disabled user; false when they were not disabled.
    pub async fn enable_user(&self, id: &str, now_ms: i64) -> Result<bool, ControlError> {
        let r = sqlx::query(
            "UPDATE users SET disabled_at = NULL, updated_at = $1 \
             WHERE id = $2 AND disabled_at IS NOT NULL",
        )
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes a user (their sessions go with them), refusing (atomically) to delete the last
    /// active Administrator. False when nothing was deleted.
    pub async fn delete_user(&self, id: &str) -> Result<bool, ControlError> {
        let mut tx = self.begin_serialized(Serialized::Administrators).await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let result = sqlx::query(
            "DELETE FROM users WHERE id = $1 AND (role <> $2 OR disabled_at IS NOT NULL OR \
                 (SELECT COUNT(*) FROM users WHERE role = $2 AND disabled_at IS NULL) > 1)",
        )
        .bind(id)
        .bind(Role::Administrator.as_str())
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 1 {
            tx.commit().await?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Ends every session of a user (after a password reset).
    pub async fn delete_sessions_of(&self, user_id: &str) -> Result<u64, ControlError> {
        let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    pub async fn set_password_hash(
        &self,
        id: &str,
        hash: &str,
        now_ms: i64,
    ) -> Result<(), ControlError> {
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of a user except the one with `keep_hash`.
    pub async fn delete_other_sessions(
        &self,
        user_id: &str,
        keep_hash: &str,
    ) -> Result<u64, ControlError> {
        let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user_id)
            .bind(keep_hash)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    pub async fn insert_session(
        &self,
        token_hash: &str,
        user_id: &str,
        now_ms: i64,
        expires_at: i64,
    ) -> Result<(), ControlError> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user_id)
            .bind(now_ms)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The enabled user behind an unexpired session.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<UserRow>, ControlError> {
        Ok(sqlx::query_as::<_, UserRow>(
            "SELECT u.id, u.username, u.password_hash, u.role, u.created_at, u.disabled_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), ControlError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_expired_sessions(&self, now_ms: i64) -> Result<u64, ControlError> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::temp_store;
    use domain::Role;

    #[tokio::test]
    async fn usernames_are_unique() {
        let (store, _dir) = temp_store().await;
        store
            .insert_user("1", "alice", "h", Role::Editor, 1)
            .await
            .expect("first insert");
        let err = store
            .insert_user("2", "alice", "h", Role::Viewer, 1)
            .await
            .expect_err("duplicate refused");
        assert!(err.is_unique_violation());
    }

    #[tokio::test]
    async fn the_last_administrator_cannot_be_demoted() {
        let (store, _dir) = temp_store().await;
        store
            .insert_user("1", "admin", "h", Role::Administrator, 1)
            .await
            .expect("insert");
        assert!(
            !store
                .set_role("1", Role::Viewer, 2)
                .await
                .expect("update runs")
        );
        assert_eq!(
            store.count_role(Role::Administrator).await.expect("count"),
            1
        );
        store
            .insert_user("2", "root2", "h", Role::Administrator, 1)
            .await
            .expect("insert");
        assert!(
            store
                .set_role("1", Role::Viewer, 3)
                .await
                .expect("update runs")
        );
        assert!(
            !store
                .set_role("2", Role::Editor, 4)
                .await
                .expect("update runs")
        );
    }

    #[tokio::test]
    async fn the_last_active_administrator_is_never_disabled_or_deleted() {
        let (store, _dir) = temp_store().await;
        store
            .insert_user("1", "admin", "h", Role::Administrator, 1)
            .await
            .expect("insert");
        store
            .insert_user("2", "root2", "h", Role::Administrator, 1)
            .await
            .expect("insert");
        store
            .insert_session("s2", "2", 1, 1_000)
            .await
            .expect("session");
        assert!(store.disable_user("2", 5).await.expect("runs"));
        assert!(store.session_user("s2", 10).await.expect("query").is_none());
        assert!(
            !store.disable_user("1", 6).await.expect("runs"),
            "last active one"
        );
        assert!(
            !store.delete_user("1").await.expect("runs"),
            "last active one"
        );
        assert!(!store.set_role("1", Role::Editor, 7).await.expect("runs"));
        assert!(store.enable_user("2", 8).await.expect("runs"));
        assert!(store.delete_user("1").await.expect("runs"));
        assert!(store.user_by_id("1").await.expect("query").is_none());
    }

    /// Two Administrators removing each other at the same moment leave one of them (this runs on
    /// PostgreSQL too, where the statements would otherwise interleave).
    #[tokio::test]
    async fn concurrent_changes_keep_an_active_administrator() {
        let (store, _dir) = temp_store().await;
        for round in 0..10 {
            let (a, b) = (format!("a{round}"), format!("b{round}"));
            store
                .insert_user(&a, &a, "h", Role::Administrator, 1)
                .await
                .expect("insert");
            store
                .insert_user(&b, &b, "h", Role::Administrator, 1)
                .await
                .expect("insert");
            let (s1, s2) = (store.clone(), store.clone());
            let (ra, rb) = (a.clone(), b.clone());
            let first = tokio::spawn(async move {
                match round % 3 {
                    0 => s1.disable_user(&ra, 2).await,
                    1 => s1.delete_user(&ra).await,
                    _ => s1.set_role(&ra, Role::Viewer, 2).await,
                }
            });
            let second = tokio::spawn(async move {
                match round % 3 {
                    0 => s2.delete_user(&rb).await,
                    1 => s2.set_role(&rb, Role::Editor, 2).await,
                    _ => s2.disable_user(&rb, 2).await,
                }
            });
            let done = [first.await, second.await]
                .into_iter()
                .map(|r| r.expect("joins").expect("runs"))
                .filter(|changed| *changed)
                .count();
            assert_eq!(done, 1, "round {round}: exactly one of the two may go");
            let active = store
                .list_users()
                .await
                .expect("list")
                .into_iter()
                .filter(|u| u.role().ok() == Some(Role::Administrator) && u.disabled_at.is_none())
                .count();
            assert_eq!(active, 1, "round {round}");
            // Leave one Administrator per round only: remove the survivor's twin for the next round.
            for u in store.list_users().await.expect("list") {
                store.delete_sessions_of(&u.id).await.expect("clean");
            }
            let survivor = store
                .list_users()
                .await
                .expect("list")
                .into_iter()
                .find(|u| u.role().ok() == Some(Role::Administrator) && u.disabled_at.is_none())
                .expect("one is left");
            sqlx::query("UPDATE users SET role = 'viewer' WHERE id = $1")
                .bind(&survivor.id)
                .execute(&store.pool)
                .await
                .expect("retire");
        }
    }

    #[tokio::test]
    async fn sessions_expire() {
        let (store, _dir) = temp_store().await;
        store
            .insert_user("1", "alice", "h", Role::Editor, 1)
            .await
            .expect("insert");
        store
            .insert_session("th", "1", 10, 100)
            .await
            .expect("session");
        assert!(store.session_user("th", 50).await.expect("query").is_some());
        assert!(
            store
                .session_user("th", 100)
                .await
                .expect("query")
                .is_none()
        );
        assert_eq!(store.delete_expired_sessions(100).await.expect("delete"), 1);
        assert!(store.session_user("th", 50).await.expect("query").is_none());
    }
}
