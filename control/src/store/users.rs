use domain::Role;
use domain::user::UserView;

use super::Store;
use crate::ControlError;

#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: i64,
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
        Ok(sqlx::query_as::<_, UserRow>(
            "SELECT id, username, password_hash, role, created_at FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>, ControlError> {
        Ok(sqlx::query_as::<_, UserRow>(
            "SELECT id, username, password_hash, role, created_at FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>, ControlError> {
        Ok(sqlx::query_as::<_, UserRow>(
            "SELECT id, username, password_hash, role, created_at FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Changes a role, refusing (atomically) to leave the panel without an Administrator.
    pub async fn set_role(&self, id: &str, role: Role, now_ms: i64) -> Result<bool, ControlError> {
        let admin = Role::Administrator.as_str();
        let result = sqlx::query(
            "UPDATE users SET role = $1, updated_at = $2 WHERE id = $3 AND ( \
                 $1 = $4 OR role <> $4 OR (SELECT COUNT(*) FROM users WHERE role = $4) > 1)",
        )
        .bind(role.as_str())
        .bind(now_ms)
        .bind(id)
        .bind(admin)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
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

    /// The user behind an unexpired session.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<UserRow>, ControlError> {
        Ok(sqlx::query_as::<_, UserRow>(
            "SELECT u.id, u.username, u.password_hash, u.role, u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
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
