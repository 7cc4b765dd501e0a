use domain::enrolment::EnrolmentKeyView;

use super::Store;
use crate::ControlError;

#[derive(Debug, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub label: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub uses: i64,
    /// How many nodes the key may enrol; `None` is no limit.
    pub max_uses: Option<i64>,
}

impl KeyRow {
    /// Why the key cannot enrol a node now, if it cannot (the reason an agent is told).
    pub fn unusable(&self, now_ms: i64) -> Option<&'static str> {
        if self.revoked_at.is_some() {
            Some("enrolment key revoked")
        } else if self.expires_at <= now_ms {
            Some("enrolment key expired")
        } else if self.max_uses.is_some_and(|m| self.uses >= m) {
            Some("enrolment key used up")
        } else {
            None
        }
    }
}

impl From<KeyRow> for EnrolmentKeyView {
    fn from(r: KeyRow) -> Self {
        EnrolmentKeyView {
            id: r.id,
            label: r.label,
            created_by: r.created_by,
            created_at_ms: r.created_at,
            expires_at_ms: r.expires_at,
            revoked_at_ms: r.revoked_at,
            uses: r.uses,
            max_uses: r.max_uses,
        }
    }
}

impl Store {
    pub async fn insert_key(&self, row: &KeyRow, key_hash: &str) -> Result<(), ControlError> {
        sqlx::query(
            "INSERT INTO enrolment_keys \
                 (id, label, key_hash, created_by, created_at, expires_at, uses, max_uses) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        )
        .bind(&row.id)
        .bind(&row.label)
        .bind(key_hash)
        .bind(&row.created_by)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(row.max_uses)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyRow>, ControlError> {
        Ok(sqlx::query_as::<_, KeyRow>(
            "SELECT id, label, created_by, created_at, expires_at, revoked_at, uses, max_uses \
             FROM enrolment_keys ORDER BY created_at DESC",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn key_by_id(&self, id: &str) -> Result<Option<KeyRow>, ControlError> {
        Ok(sqlx::query_as::<_, KeyRow>(
            "SELECT id, label, created_by, created_at, expires_at, revoked_at, uses, max_uses \
             FROM enrolment_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A read only: enrolment looks the key up before it writes anything, so a flood of bogus
    /// keys never takes the database's write lock.
    pub async fn key_by_hash(&self, key_hash: &str) -> Result<Option<KeyRow>, ControlError> {
        Ok(sqlx::query_as::<_, KeyRow>(
            "SELECT id, label, created_by, created_at, expires_at, revoked_at, uses, max_uses \
             FROM enrolment_keys WHERE key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Revokes an active key; false when it was already revoked.
    pub async fn revoke_key(&self, id: &str, now_ms: i64) -> Result<bool, ControlError> {
        let r = sqlx::query(
            "UPDATE enrolment_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}
