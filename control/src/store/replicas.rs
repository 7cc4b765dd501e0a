//! Rows through which panel replicas on one PostgreSQL share what each one alone knows: which
//! replica holds an agent's session, what connected agents observe, and commands for an agent
//! held elsewhere (the `replicas` room). A write that others must hear of sends its notification
//! in the same transaction: PostgreSQL delivers a `NOTIFY` on commit, when the rows are visible.
use super::Store;
use crate::ControlError;

/// A connected node as the replica holding its session described it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PresenceRow {
    pub node_id: String,
    pub replica: String,
    pub silent: i64,
    pub last_seen_at: i64,
}

/// What a node held by another replica observes (JSON, as the agent reported it).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ObservedRow {
    pub node_id: String,
    pub replica: String,
    pub swarm: Option<String>,
    pub vips: Option<String>,
    pub vips_at: i64,
}

/// A command for a node whose session the reading replica holds.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CommandRow {
    pub node_id: String,
    pub origin: String,
    pub body: String,
    pub timeout_ms: i64,
}

/// One change a replica shares about the sessions it holds.
#[derive(Clone, Debug, PartialEq)]
pub enum SharedWrite {
    Present {
        node_id: String,
        conn: i64,
        at: i64,
    },
    Gone {
        node_id: String,
        conn: i64,
    },
    Silent {
        node_id: String,
        conn: i64,
        silent: bool,
        at: i64,
    },
    Swarm {
        node_id: String,
        json: String,
    },
    Vips {
        node_id: String,
        json: String,
        at: i64,
    },
}

/// Sends `notices` (channel, payload) from `tx` and commits it: PostgreSQL delivers them on
/// commit, once the rows they announce are visible.
async fn notify_and_commit(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    notices: &[(&str, &str)],
) -> Result<(), ControlError> {
    for (channel, payload) in notices {
        // `SELECT pg_notify(..)` answers a `void`, which the `Any` driver cannot decode.
        sqlx::query("SELECT 1 FROM (SELECT pg_notify($1, $2)) AS sent")
            .bind(*channel)
            .bind(*payload)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

impl Store {
    /// Says that replica `id` is alive (registering it the first time).
    pub async fn beat_replica(&self, id: &str, now: i64) -> Result<(), ControlError> {
        sqlx::query(
            "INSERT INTO panel_replicas (id, started_at, beat_at) VALUES ($1, $2, $2)
             ON CONFLICT (id) DO UPDATE SET beat_at = $2",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The sessions other live replicas (a beat after `alive_since`) hold.
    pub async fn remote_presence(
        &self,
        me: &str,
        alive_since: i64,
    ) -> Result<Vec<PresenceRow>, ControlError> {
        Ok(sqlx::query_as::<_, PresenceRow>(
            "SELECT p.node_id, p.replica, p.silent, p.last_seen_at FROM node_presence p
             JOIN panel_replicas r ON r.id = p.replica
             WHERE r.beat_at > $1 AND p.replica <> $2",
        )
        .bind(alive_since)
        .bind(me)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The sessions of nodes `ids` that other live replicas hold.
    pub async fn remote_presence_of(
        &self,
        me: &str,
        alive_since: i64,
        ids: &[String],
    ) -> Result<Vec<PresenceRow>, ControlError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT p.node_id, p.replica, p.silent, p.last_seen_at FROM node_presence p
             JOIN panel_replicas r ON r.id = p.replica
             WHERE r.beat_at > $1 AND p.replica <> $2 AND p.node_id IN ({})",
            super::placeholders(3, ids.len())
        );
        // Audited: the only text added to the statement is its own `$n` placeholders.
        let mut query = sqlx::query_as::<_, PresenceRow>(sqlx::AssertSqlSafe(sql))
            .bind(alive_since)
            .bind(me);
        for id in ids {
            query = query.bind(id);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// What the nodes other replicas hold observe; only `node`'s report when given.
    pub async fn remote_observed(
        &self,
        me: &str,
        node: Option<&str>,
    ) -> Result<Vec<ObservedRow>, ControlError> {
        let rows =
            match node {
                Some(node) => {
                    sqlx::query_as::<_, ObservedRow>(
                        "SELECT node_id, replica, swarm, vips, vips_at FROM node_observed
                     WHERE replica <> $1 AND node_id = $2",
                    )
                    .bind(me)
                    .bind(node)
                    .fetch_all(&self.pool)
                    .await?
                }
                None => sqlx::query_as::<_, ObservedRow>(
                    "SELECT node_id, replica, swarm, vips, vips_at FROM node_observed WHERE replica <> $1",
                )
                .bind(me)
                .fetch_all(&self.pool)
                .await?,
            };
        Ok(rows)
    }

    /// Applies what replica `me` shares, and sends `notices` (channel, payload) on commit.
    pub async fn write_shared(
        &self,
        me: &str,
        writes: &[SharedWrite],
        notices: &[(String, String)],
    ) -> Result<(), ControlError> {
        let mut tx = self.begin_write().await?;
        for w in writes {
            match w {
                SharedWrite::Present { node_id, conn, at } => {
                    sqlx::query(
                        "INSERT INTO node_presence (node_id, replica, conn, silent, last_seen_at)
                         VALUES ($1, $2, $3, 0, $4)
                         ON CONFLICT (node_id) DO UPDATE
                         SET replica = $2, conn = $3, silent = 0, last_seen_at = $4",
                    )
                    .bind(node_id)
                    .bind(me)
                    .bind(conn)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                SharedWrite::Gone { node_id, conn } => {
                    sqlx::query(
                        "DELETE FROM node_presence WHERE node_id = $1 AND replica = $2 AND conn = $3",
                    )
                    .bind(node_id)
                    .bind(me)
                    .bind(conn)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "DELETE FROM node_observed WHERE node_id = $1 AND replica = $2
                         AND NOT EXISTS (SELECT 1 FROM node_presence p
                                         WHERE p.node_id = $1 AND p.replica = $2)",
                    )
                    .bind(node_id)
                    .bind(me)
                    .execute(&mut *tx)
                    .await?;
                }
                SharedWrite::Silent {
                    node_id,
                    conn,
                    silent,
                    at,
                } => {
                    sqlx::query(
                        "UPDATE node_presence SET silent = $1, last_seen_at = $2
                         WHERE node_id = $3 AND replica = $4 AND conn = $5",
                    )
                    .bind(i64::from(*silent))
                    .bind(at)
                    .bind(node_id)
                    .bind(me)
                    .bind(conn)
                    .execute(&mut *tx)
                    .await?;
                }
                SharedWrite::Swarm { node_id, json } => {
                    sqlx::query(
                        "INSERT INTO node_observed (node_id, replica, swarm) VALUES ($1, $2, $3)
                         ON CONFLICT (node_id) DO UPDATE SET replica = $2, swarm = $3",
                    )
                    .bind(node_id)
                    .bind(me)
                    .bind(json)
                    .execute(&mut *tx)
                    .await?;
                }
                SharedWrite::Vips { node_id, json, at } => {
                    sqlx::query(
                        "INSERT INTO node_observed (node_id, replica, vips, vips_at)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (node_id) DO UPDATE SET replica = $2, vips = $3, vips_at = $4",
                    )
                    .bind(node_id)
                    .bind(me)
                    .bind(json)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        let notices: Vec<(&str, &str)> = notices
            .iter()
            .map(|(c, p)| (c.as_str(), p.as_str()))
            .collect();
        notify_and_commit(tx, &notices).await
    }

    /// Replica `id` stops (graceful shutdown): its sessions, observations and itself go.
    pub async fn leave_replica(&self, id: &str, notice: (&str, &str)) -> Result<(), ControlError> {
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM node_presence WHERE replica = $1",
            "DELETE FROM node_observed WHERE replica = $1",
            "DELETE FROM panel_replicas WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        notify_and_commit(tx, &[notice]).await
    }

    /// Forgets replicas silent since before `before` (killed, not stopped) with their rows, and
    /// commands and answers older than that; answers how many replicas went.
    pub async fn reap_replicas(&self, before: i64) -> Result<u64, ControlError> {
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM node_presence WHERE replica IN
                 (SELECT id FROM panel_replicas WHERE beat_at < $1)",
            "DELETE FROM node_observed WHERE replica IN
                 (SELECT id FROM panel_replicas WHERE beat_at < $1)",
            "DELETE FROM agent_commands WHERE created_at < $1",
            "DELETE FROM agent_results WHERE created_at < $1",
        ] {
            sqlx::query(sql).bind(before).execute(&mut *tx).await?;
        }
        let gone = sqlx::query("DELETE FROM panel_replicas WHERE beat_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone)
    }

    /// Queues a command for the replica holding `node_id` and wakes it.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_command(
        &self,
        id: &str,
        node_id: &str,
        (replica, channel): (&str, &str),
        origin: &str,
        body: &str,
        timeout_ms: i64,
        now: i64,
    ) -> Result<(), ControlError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO agent_commands (id, node_id, replica, origin, body, timeout_ms, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(node_id)
        .bind(replica)
        .bind(origin)
        .bind(body)
        .bind(timeout_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        notify_and_commit(tx, &[(channel, &format!("c:{id}"))]).await
    }

    /// Takes command `id` if it is addressed to `replica` (once: the row goes).
    pub async fn take_command(
        &self,
        id: &str,
        replica: &str,
    ) -> Result<Option<CommandRow>, ControlError> {
        Ok(sqlx::query_as::<_, CommandRow>(
            "DELETE FROM agent_commands WHERE id = $1 AND replica = $2
             RETURNING node_id, origin, body, timeout_ms",
        )
        .bind(id)
        .bind(replica)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Ids of the commands addressed to `replica` (those whose wake-up it may have missed).
    pub async fn commands_for(&self, replica: &str) -> Result<Vec<String>, ControlError> {
        Ok(
            sqlx::query_scalar::<_, String>("SELECT id FROM agent_commands WHERE replica = $1")
                .bind(replica)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Stores the answer to command `id` for replica `origin` and wakes it.
    pub async fn put_result(
        &self,
        id: &str,
        (origin, channel): (&str, &str),
        body: &str,
        now: i64,
    ) -> Result<(), ControlError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO agent_results (id, origin, body, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(origin)
        .bind(body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        notify_and_commit(tx, &[(channel, &format!("r:{id}"))]).await
    }

    /// Takes the answer to command `id` sent by `origin`.
    pub async fn take_result(
        &self,
        id: &str,
        origin: &str,
    ) -> Result<Option<String>, ControlError> {
        Ok(sqlx::query_scalar::<_, String>(
            "DELETE FROM agent_results WHERE id = $1 AND origin = $2 RETURNING body",
        )
        .bind(id)
        .bind(origin)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Ids of the answers waiting for `origin`.
    pub async fn results_for(&self, origin: &str) -> Result<Vec<String>, ControlError> {
        Ok(
            sqlx::query_scalar::<_, String>("SELECT id FROM agent_results WHERE origin = $1")
                .bind(origin)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// A command given up on (timed out): neither it nor a late answer stays.
    pub async fn drop_command(&self, id: &str) -> Result<(), ControlError> {
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM agent_commands WHERE id = $1",
            "DELETE FROM agent_results WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
