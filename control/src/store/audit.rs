//! The audit log: appending, a target's newest entries, and the whole log paged and searched.
use domain::audit::AuditEntry;

use super::Store;
use super::node_list::like_pattern;
use crate::ControlError;

type AuditRow = (i64, String, String, Option<String>, Option<String>);

fn entry((at_ms, actor, action, target, detail): AuditRow) -> AuditEntry {
    AuditEntry {
        at_ms,
        actor,
        action,
        target: target.unwrap_or_default(),
        detail: detail.unwrap_or_default(),
    }
}

/// The entries a search finds: `$1` (a `LIKE` pattern) in who, what, target or detail.
macro_rules! found {
    () => {
        "(lower(actor) LIKE $1 ESCAPE '\\' OR lower(action) LIKE $1 ESCAPE '\\' \
         OR lower(COALESCE(target, '')) LIKE $1 ESCAPE '\\' \
         OR lower(COALESCE(detail, '')) LIKE $1 ESCAPE '\\')"
    };
}

/// One page of entries in `order`.
macro_rules! page_query {
    ($order:literal) => {
        concat!(
            "SELECT at, actor, action, target, detail FROM audit_log WHERE ",
            found!(),
            " ORDER BY id ",
            $order,
            " LIMIT $2 OFFSET $3"
        )
    };
}

impl Store {
    /// Appends to the audit log. Every change made through the panel is recorded here.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), ControlError> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(crate::secret::now_ms())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` entries recorded about `target` (a cluster's id, for its page).
    pub async fn audit_of(
        &self,
        target: &str,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, ControlError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT at, actor, action, target, detail FROM audit_log WHERE target = $1 \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(target)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(entry).collect())
    }

    /// Every audited action, oldest first (tests check what was recorded).
    #[cfg(any(test, feature = "testing"))]
    pub async fn audit_actions(&self) -> Result<Vec<String>, ControlError> {
        Ok(
            sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// How many entries hold `needle` (lowercase) in who, what, target or detail.
    pub async fn audit_count(&self, needle: &str) -> Result<u64, ControlError> {
        let n: i64 = sqlx::query_scalar(concat!("SELECT COUNT(*) FROM audit_log WHERE ", found!()))
            .bind(like_pattern(needle))
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// `limit` entries holding `needle` from `offset` on, newest or oldest first.
    pub async fn audit_page(
        &self,
        needle: &str,
        newest_first: bool,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, ControlError> {
        let sql = if newest_first {
            page_query!("DESC")
        } else {
            page_query!("ASC")
        };
        let rows: Vec<AuditRow> = sqlx::query_as(sql)
            .bind(like_pattern(needle))
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(entry).collect())
    }
}
