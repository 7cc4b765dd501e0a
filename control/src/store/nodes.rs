use domain::node::{NodeFacts, NodeView};

use super::Store;
use crate::ControlError;

#[derive(Debug, sqlx::FromRow)]
pub struct NodeRow {
    pub id: String,
    pub machine_id: String,
    pub hostname: String,
    pub enrolled_at: i64,
    pub last_seen_at: Option<i64>,
    pub facts: Option<String>,
    pub token_revoked_at: Option<i64>,
    pub reenrol_until: Option<i64>,
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

/// Who an authenticated agent is: its node and the machine it enrolled from.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AgentIdentity {
    pub node_id: String,
    pub machine_id: String,
}

/// What enrolment needs to write.
pub struct NodeEnrolment<'a> {
    pub key_hash: &'a str,
    pub new_node_id: &'a str,
    pub machine_id: &'a str,
    pub hostname: &'a str,
    pub token_hash: &'a str,
    /// Hash of the node token the agent presented (re-enrolment of a known machine).
    pub presented_token_hash: Option<&'a str>,
    pub now_ms: i64,
}

/// How an enrolment ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Enrolled {
    /// The node id (new, or the machine's existing one).
    Node(String),
    /// The key is unknown, revoked, expired or used up.
    KeyRefused,
    /// The machine is enrolled already, and neither its current token nor an Administrator's
    /// permission came with the request.
    MachineTaken,
}

// The column list as a literal, so that every query stays a static string (`concat!`).
macro_rules! node_columns {
    () => {
        "id, machine_id, hostname, enrolled_at, last_seen_at, facts, token_revoked_at, reenrol_until"
    };
}
pub(super) use node_columns;

impl Store {
    /// Enrolls a machine, all or nothing: uses the key once (within its limit) and creates the
    /// node, or re-issues the token of the node with the same machine id — only when the request
    /// carries that node's current token or an Administrator allowed re-enrolment, which the
    /// re-enrolment consumes. Nothing is written when the key or the machine is refused.
    pub async fn enrol_node(&self, e: NodeEnrolment<'_>) -> Result<Enrolled, ControlError> {
        let mut tx = self.begin_write().await?;
        let key_id: Option<String> = sqlx::query_scalar(
            "UPDATE enrolment_keys SET uses = uses + 1 \
             WHERE key_hash = $1 AND revoked_at IS NULL AND expires_at > $2 \
               AND (max_uses IS NULL OR uses < max_uses) RETURNING id",
        )
        .bind(e.key_hash)
        .bind(e.now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(key_id) = key_id else {
            return Ok(Enrolled::KeyRefused);
        };
        let existing: Option<String> = sqlx::query_scalar(
            "UPDATE nodes SET hostname = $1, token_hash = $2, enrolled_with = $3, \
                 token_revoked_at = NULL, reenrol_until = NULL \
             WHERE machine_id = $4 \
               AND ((token_hash = $5 AND token_revoked_at IS NULL) OR reenrol_until > $6) \
             RETURNING id",
        )
        .bind(e.hostname)
        .bind(e.token_hash)
        .bind(&key_id)
        .bind(e.machine_id)
        .bind(e.presented_token_hash.unwrap_or(""))
        .bind(e.now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = existing {
            tx.commit().await?;
            return Ok(Enrolled::Node(id));
        }
        let inserted = sqlx::query(
            "INSERT INTO nodes \
                 (id, machine_id, hostname, token_hash, enrolled_at, enrolled_with, search) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.new_node_id)
        .bind(e.machine_id)
        .bind(e.hostname)
        .bind(e.token_hash)
        .bind(e.now_ms)
        .bind(&key_id)
        .bind(NodeView::search_text(e.new_node_id, e.hostname, None))
        .execute(&mut *tx)
        .await
        .map_err(ControlError::from);
        match inserted {
            // The machine id is taken (also by a concurrent enrolment of the same machine).
            Err(err) if err.is_unique_violation() => Ok(Enrolled::MachineTaken),
            Err(err) => Err(err),
            Ok(_) => {
                tx.commit().await?;
                Ok(Enrolled::Node(e.new_node_id.to_owned()))
            }
        }
    }

    /// The node enrolled from this machine (a read, before enrolment writes anything).
    pub async fn node_by_machine(&self, machine_id: &str) -> Result<Option<NodeRow>, ControlError> {
        Ok(sqlx::query_as::<_, NodeRow>(concat!(
            "SELECT ",
            node_columns!(),
            " FROM nodes WHERE machine_id = $1"
        ))
        .bind(machine_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The agent behind a token that is neither unknown nor revoked.
    pub async fn agent_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<AgentIdentity>, ControlError> {
        Ok(sqlx::query_as::<_, AgentIdentity>(
            "SELECT id AS node_id, machine_id FROM nodes \
             WHERE token_hash = $1 AND token_revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Revokes the node's token; false when it was revoked already (or the node is gone).
    pub async fn revoke_node_token(&self, id: &str, now_ms: i64) -> Result<bool, ControlError> {
        let r = sqlx::query(
            "UPDATE nodes SET token_revoked_at = $1 WHERE id = $2 AND token_revoked_at IS NULL",
        )
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Lets the node's machine enrol again (with a key) until `until_ms`.
    pub async fn allow_reenrolment(&self, id: &str, until_ms: i64) -> Result<bool, ControlError> {
        let r = sqlx::query("UPDATE nodes SET reenrol_until = $1 WHERE id = $2")
            .bind(until_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Forgets a node that belongs to no cluster; false when it is in one (or gone).
    pub async fn delete_node(&self, id: &str) -> Result<bool, ControlError> {
        let r = sqlx::query(
            "DELETE FROM nodes WHERE id = $1 \
               AND NOT EXISTS (SELECT 1 FROM cluster_members WHERE node_id = $1)",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn save_facts(
        &self,
        id: &str,
        facts: &NodeFacts,
        now_ms: i64,
    ) -> Result<(), ControlError> {
        let json =
            serde_json::to_string(facts).map_err(|e| ControlError::Corrupt(e.to_string()))?;
        let search = NodeView::search_text(id, &facts.hostname, Some(facts));
        sqlx::query(
            "UPDATE nodes SET facts = $1, hostname = $2, last_seen_at = $3, search = $4 \
             WHERE id = $5",
        )
        .bind(json)
        .bind(&facts.hostname)
        .bind(now_ms)
        .bind(search)
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
        let mut tx = self.begin_write().await?;
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
        Ok(sqlx::query_as::<_, NodeRow>(concat!(
            "SELECT ",
            node_columns!(),
            " FROM nodes ORDER BY hostname, id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn node_by_id(&self, id: &str) -> Result<Option<NodeRow>, ControlError> {
        Ok(sqlx::query_as::<_, NodeRow>(concat!(
            "SELECT ",
            node_columns!(),
            " FROM nodes WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::KeyRow;
    use super::super::testing::temp_store;
    use super::{Enrolled, NodeEnrolment};

    async fn key(store: &super::Store, hash: &str, expires_at: i64, max_uses: Option<i64>) {
        let row = KeyRow {
            id: format!("k-{hash}"),
            label: "lab".into(),
            created_by: "admin".into(),
            created_at: 0,
            expires_at,
            revoked_at: None,
            uses: 0,
            max_uses,
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
            presented_token_hash: None,
            now_ms,
        }
    }

    fn node(id: &str) -> Enrolled {
        Enrolled::Node(id.into())
    }

    async fn token_owner(store: &super::Store, token: &str) -> Option<String> {
        store
            .agent_by_token(token)
            .await
            .expect("query")
            .map(|a| a.node_id)
    }

    #[tokio::test]
    async fn a_known_machine_reenrols_only_with_its_token_or_an_administrators_permission() {
        let (store, _dir) = temp_store().await;
        key(&store, "kh", 1_000, None).await;
        assert_eq!(
            store
                .enrol_node(enrolment("kh", "n1", "m1", "t1", 10))
                .await
                .expect("runs"),
            node("n1")
        );
        // Somebody who only knows the machine id gets nothing, and the node keeps its token.
        assert_eq!(
            store
                .enrol_node(enrolment("kh", "n2", "m1", "t2", 20))
                .await
                .expect("runs"),
            Enrolled::MachineTaken
        );
        assert_eq!(token_owner(&store, "t1").await.as_deref(), Some("n1"));
        assert_eq!(token_owner(&store, "t2").await, None);
        let wrong = NodeEnrolment {
            presented_token_hash: Some("t-guess"),
            ..enrolment("kh", "n2", "m1", "t2", 20)
        };
        assert_eq!(
            store.enrol_node(wrong).await.expect("runs"),
            Enrolled::MachineTaken
        );

        // The node itself, with its current token, gets a new one; the old one stops working.
        let own = NodeEnrolment {
            presented_token_hash: Some("t1"),
            ..enrolment("kh", "n2", "m1", "t3", 30)
        };
        assert_eq!(store.enrol_node(own).await.expect("runs"), node("n1"));
        assert_eq!(token_owner(&store, "t1").await, None);
        assert_eq!(token_owner(&store, "t3").await.as_deref(), Some("n1"));

        // An Administrator's permission is used up by the re-enrolment and ends on time.
        assert!(store.allow_reenrolment("n1", 100).await.expect("allows"));
        assert_eq!(
            store
                .enrol_node(enrolment("kh", "n2", "m1", "t4", 40))
                .await
                .expect("runs"),
            node("n1")
        );
        assert_eq!(
            store
                .enrol_node(enrolment("kh", "n2", "m1", "t5", 50))
                .await
                .expect("runs"),
            Enrolled::MachineTaken,
            "the permission was used"
        );
        assert!(store.allow_reenrolment("n1", 60).await.expect("allows"));
        assert_eq!(
            store
                .enrol_node(enrolment("kh", "n2", "m1", "t5", 61))
                .await
                .expect("runs"),
            Enrolled::MachineTaken,
            "the permission expired"
        );
        let k = store
            .key_by_hash("kh")
            .await
            .expect("query")
            .expect("key exists");
        assert_eq!(k.uses, 3, "refused enrolments do not use the key");
    }

    #[tokio::test]
    async fn a_revoked_token_is_refused_until_the_node_enrols_again() {
        let (store, _dir) = temp_store().await;
        key(&store, "kh", 1_000, None).await;
        store
            .enrol_node(enrolment("kh", "n1", "m1", "t1", 10))
            .await
            .expect("enrols");
        assert!(store.revoke_node_token("n1", 20).await.expect("revokes"));
        assert!(!store.revoke_node_token("n1", 21).await.expect("no-op"));
        assert_eq!(token_owner(&store, "t1").await, None);
        let with_old = NodeEnrolment {
            presented_token_hash: Some("t1"),
            ..enrolment("kh", "n2", "m1", "t2", 30)
        };
        assert_eq!(
            store.enrol_node(with_old).await.expect("runs"),
            Enrolled::MachineTaken,
            "a revoked token proves nothing"
        );
        store.allow_reenrolment("n1", 100).await.expect("allows");
        assert_eq!(
            store
                .enrol_node(enrolment("kh", "n2", "m1", "t2", 40))
                .await
                .expect("runs"),
            node("n1")
        );
        assert_eq!(token_owner(&store, "t2").await.as_deref(), Some("n1"));
    }

    #[tokio::test]
    async fn keys_enrol_within_their_use_limit() {
        let (store, _dir) = temp_store().await;
        key(&store, "once", 1_000, Some(1)).await;
        assert_eq!(
            store
                .enrol_node(enrolment("once", "n1", "m1", "t1", 10))
                .await
                .expect("runs"),
            node("n1")
        );
        assert_eq!(
            store
                .enrol_node(enrolment("once", "n2", "m2", "t2", 10))
                .await
                .expect("runs"),
            Enrolled::KeyRefused
        );
        let k = store
            .key_by_hash("once")
            .await
            .expect("query")
            .expect("key");
        assert_eq!(k.unusable(10), Some("enrolment key used up"));
    }

    #[tokio::test]
    async fn expired_revoked_or_unknown_keys_enrol_nothing() {
        let (store, _dir) = temp_store().await;
        key(&store, "old", 5, None).await;
        key(&store, "rev", 1_000, None).await;
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
                Enrolled::KeyRefused,
                "{k}"
            );
        }
        assert!(store.list_nodes().await.expect("list").is_empty());
    }

    #[tokio::test]
    async fn a_node_outside_any_cluster_can_be_deleted() {
        let (store, _dir) = temp_store().await;
        key(&store, "kh", 1_000, None).await;
        store
            .enrol_node(enrolment("kh", "n1", "m1", "t1", 10))
            .await
            .expect("enrols");
        assert!(store.delete_node("n1").await.expect("deletes"));
        assert!(!store.delete_node("n1").await.expect("gone"));
        assert_eq!(token_owner(&store, "t1").await, None);
        assert!(store.node_by_machine("m1").await.expect("query").is_none());
    }

    #[tokio::test]
    async fn last_seen_never_moves_backwards() {
        let (store, _dir) = temp_store().await;
        key(&store, "kh", 1_000, None).await;
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
