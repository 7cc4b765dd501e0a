use domain::node::NodeFacts;

use super::Store;
use crate::ControlError;

#[derive(Debug, sqlx::FromRow)]
pub struct NodeRow {
    pub id: String,
    pub hostname: String,
    pub enrolled_at: i64,
    pub last_seen_at: Option<i64>,
    pub facts: Option<String>,
}

impl NodeRow {
    /// The stored facts; unreadable facts (e.g. from an older agent) are logged and treated as none.
    pub fn facts(&self) -> Option<NodeFacts> {
        let raw = self.facts.as_deref()?;
        match serde_json::from_str(raw) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(node = %self.id, error = %e, "stored facts are unreadable");
                None
            }
        }
    }
}

/// What enrolment needs to write.
pub struct NodeEnrolment<'a> {
    pub key_hash: &'a str,
    pub new_node_id: &'a str,
    pub machine_id: &'a str,
    pub hostname: &'a str,
    pub token_hash: &'a str,
    pub now_ms: i64,
}

impl Store {
    /// Uses an active key and creates the node, or re-issues the token of the node with the same
    /// machine id (a re-imaged device keeps its identity). All or nothing.
    /// Returns the node id, or `None` when the key is unknown, expired or revoked.
    pub async fn enrol_node(&self, e: NodeEnrolment<'_>) -> Result<Option<String>, ControlError> {
        let mut tx = self.pool.begin().await?;
        let key_id: Option<String> = sqlx::query_scalar(
            "UPDATE enrolment_keys SET uses = uses + 1 \
             WHERE key_hash = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING id",
        )
        .bind(e.key_hash)
        .bind(e.now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(key_id) = key_id else {
            return Ok(None);
        };
        let node_id: String = sqlx::query_scalar(
            "INSERT INTO nodes (id, machine_id, hostname, token_hash, enrolled_at, enrolled_with) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (machine_id) DO UPDATE SET hostname = excluded.hostname, \
                 token_hash = excluded.token_hash, enrolled_with = excluded.enrolled_with \
             RETURNING id",
        )
        .bind(e.new_node_id)
        .bind(e.machine_id)
        .bind(e.hostname)
        .bind(e.token_hash)
        .bind(e.now_ms)
        .bind(&key_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(node_id))
    }

    pub async fn node_id_by_token(&self, token_hash: &str) -> Result<Option<String>, ControlError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM nodes WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn save_facts(
        &self,
        id: &str,
        facts: &NodeFacts,
        now_ms: i64,
    ) -> Result<(), ControlError> {
        let json =
            serde_json::to_string(facts).map_err(|e| ControlError::Corrupt(e.to_string()))?;
        sqlx::query("UPDATE nodes SET facts = $1, hostname = $2, last_seen_at = $3 WHERE id = $4")
            .bind(json)
            .bind(&facts.hostname)
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Writes many last-seen times in one transaction (the heartbeat path never writes per beat).
    pub async fn save_last_seen(&self, seen: &[(String, i64)]) -> Result<(), ControlError> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (id, at) in seen {
            sqlx::query("UPDATE nodes SET last_seen_at = $1 WHERE id = $2 AND (last_seen_at IS NULL OR last_seen_at < $1)")
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_nodes(&self) -> Result<Vec<NodeRow>, ControlError> {
        Ok(sqlx::query_as::<_, NodeRow>(
            "SELECT id, hostname, enrolled_at, last_seen_at, facts FROM nodes ORDER BY hostname, id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn node_by_id(&self, id: &str) -> Result<Option<NodeRow>, ControlError> {
        Ok(sqlx::query_as::<_, NodeRow>(
            "SELECT id, hostname, enrolled_at, last_seen_at, facts FROM nodes WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::KeyRow;
    use super::super::testing::temp_store;
    use super::NodeEnrolment;

    async fn key(store: &super::Store, hash: &str, expires_at: i64) {
        let row = KeyRow {
            id: format!("k-{hash}"),
            label: "lab".into(),
            created_by: "admin".into(),
            created_at: 0,
            expires_at,
            revoked_at: None,
            uses: 0,
        };
        store.insert_key(&row, hash).await.expect("key inserted");
    }

    fn enrolment<'a>(
        key_hash: &'a str,
        node: &'a str,
        machine: &'a str,
        token: &'a str,
        now_ms: i64,
    ) -> NodeEnrolment<'a> {
        NodeEnrolment {
            key_hash,
            new_node_id: node,
            machine_id: machine,
            hostname: "edge",
            token_hash: token,
            now_ms,
        }
    }

    #[tokio::test]
    async fn enrolment_creates_then_reissues_by_machine_id() {
        let (store, _dir) = temp_store().await;
        key(&store, "kh", 1_000).await;
        let first = store
            .enrol_node(enrolment("kh", "n1", "m1", "t1", 10))
            .await
            .expect("enrols");
        assert_eq!(first.as_deref(), Some("n1"));
        let again = store
            .enrol_node(enrolment("kh", "n2", "m1", "t2", 20))
            .await
            .expect("enrols");
        assert_eq!(
            again.as_deref(),
            Some("n1"),
            "same machine keeps its node id"
        );
        assert_eq!(
            store.node_id_by_token("t1").await.expect("query"),
            None,
            "old token no longer valid"
        );
        assert_eq!(
            store
                .node_id_by_token("t2")
                .await
                .expect("query")
                .as_deref(),
            Some("n1")
        );
        let k = store
            .key_by_hash("kh")
            .await
            .expect("query")
            .expect("key exists");
        assert_eq!(k.uses, 2);
    }

    #[tokio::test]
    async fn expired_revoked_or_unknown_keys_enrol_nothing() {
        let (store, _dir) = temp_store().await;
        key(&store, "old", 5).await;
        key(&store, "rev", 1_000).await;
        assert!(store.revoke_key("k-rev", 1).await.expect("revokes"));
        assert!(
            !store
                .revoke_key("k-rev", 2)
                .await
                .expect("second revoke is a no-op")
        );
        for k in ["old", "rev", "nope"] {
            assert_eq!(
                store
                    .enrol_node(enrolment(k, "n1", "m1", "t1", 10))
                    .await
                    .expect("runs"),
                None,
                "{k}"
            );
        }
        assert!(store.list_nodes().await.expect("list").is_empty());
    }

    #[tokio::test]
    async fn last_seen_never_moves_backwards() {
        let (store, _dir) = temp_store().await;
        key(&store, "kh", 1_000).await;
        store
            .enrol_node(enrolment("kh", "n1", "m1", "t1", 10))
            .await
            .expect("enrols");
        store
            .save_last_seen(&[("n1".into(), 500)])
            .await
            .expect("saves");
        store
            .save_last_seen(&[("n1".into(), 400)])
            .await
            .expect("saves");
        let row = store
            .node_by_id("n1")
            .await
            .expect("query")
            .expect("exists");
        assert_eq!(row.last_seen_at, Some(500));
    }
}
