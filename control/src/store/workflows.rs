//! Workflows and their steps, as the engine persists them. A workflow row says what it does, how
//! far it got and which panel process drives it (the lease); one row per step records its
//! start, end, attempts and error. States are decoded into enums here; anything else is corrupt.
use domain::workflow::{StepStatus, WorkflowKind, WorkflowStatus};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use super::clusters::corrupt;
use crate::ControlError;

/// Whether a step that was interrupted (the panel died while it ran) may simply run again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rerun {
    /// It checks whether its effect already holds before acting: run it again.
    Safe,
    /// Running it twice could do harm: pause and let an operator decide.
    Ask,
}

impl Rerun {
    fn as_str(self) -> &'static str {
        match self {
            Rerun::Safe => "safe",
            Rerun::Ask => "ask",
        }
    }
}

/// One step of a new workflow: the capability's step (JSON), what the timeline shows, the node
/// it acts on and its rerun rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewStep {
    pub step: String,
    pub title: String,
    pub node_id: Option<String>,
    pub rerun: Rerun,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewWorkflow {
    pub id: String,
    pub cluster_id: String,
    pub kind: WorkflowKind,
    pub steps: Vec<NewStep>,
}

impl NewWorkflow {
    /// A workflow without steps (tests of the store).
    #[cfg(test)]
    pub fn empty(id: &str, cluster_id: &str) -> NewWorkflow {
        NewWorkflow {
            id: id.into(),
            cluster_id: cluster_id.into(),
            kind: WorkflowKind::Create,
            steps: vec![],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowRow {
    pub id: String,
    pub cluster_id: String,
    pub kind: WorkflowKind,
    pub status: WorkflowStatus,
    /// The first step that is not done.
    pub current: usize,
    pub error: Option<String>,
    pub lease_holder: Option<String>,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRow {
    pub position: usize,
    pub step: String,
    pub title: String,
    pub node_id: Option<String>,
    pub rerun: Rerun,
    pub status: StepStatus,
    pub attempts: u32,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

fn workflow_row(row: &AnyRow) -> Result<WorkflowRow, ControlError> {
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let current: i64 = row.try_get("current")?;
    Ok(WorkflowRow {
        kind: WorkflowKind::parse(&kind)
            .ok_or_else(|| corrupt("kind", &id, format!("unknown kind {kind:?}")))?,
        status: WorkflowStatus::parse(&status)
            .ok_or_else(|| corrupt("status", &id, format!("unknown status {status:?}")))?,
        current: usize::try_from(current).map_err(|e| corrupt("current step", &id, e))?,
        cluster_id: row.try_get("cluster_id")?,
        error: row.try_get("error")?,
        lease_holder: row.try_get("lease_holder")?,
        lease_until: row.try_get("lease_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        id,
    })
}

fn step_row(row: &AnyRow) -> Result<StepRow, ControlError> {
    let id: String = row.try_get("workflow_id")?;
    let position: i64 = row.try_get("position")?;
    let status: String = row.try_get("status")?;
    let rerun: String = row.try_get("rerun")?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(StepRow {
        position: usize::try_from(position).map_err(|e| corrupt("step position", &id, e))?,
        status: StepStatus::parse(&status)
            .ok_or_else(|| corrupt("step status", &id, format!("unknown status {status:?}")))?,
        rerun: match rerun.as_str() {
            "safe" => Rerun::Safe,
            "ask" => Rerun::Ask,
            other => {
                return Err(corrupt(
                    "rerun rule",
                    &id,
                    format!("unknown rule {other:?}"),
                ));
            }
        },
        attempts: u32::try_from(attempts).map_err(|e| corrupt("attempts", &id, e))?,
        step: row.try_get("step")?,
        title: row.try_get("title")?,
        node_id: row.try_get("node_id")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        error: row.try_get("error")?,
    })
}

// Column lists as literals, so that every query stays a static string (`concat!`).
macro_rules! workflow_columns {
    () => {
        "id, cluster_id, kind, status, current, error, lease_holder, lease_until, created_at, updated_at"
    };
}
macro_rules! step_columns {
    () => {
        "workflow_id, position, step, title, node_id, rerun, status, attempts, started_at, finished_at, error"
    };
}

impl Store {
    /// Records a workflow (running, at its first step) with its steps.
    pub async fn add_workflow(&self, w: &NewWorkflow) -> Result<(), ControlError> {
        let mut tx = self.begin_write().await?;
        insert_workflow(&mut tx, w, crate::secret::now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn workflow(&self, id: &str) -> Result<Option<WorkflowRow>, ControlError> {
        sqlx::query(concat!(
            "SELECT ",
            workflow_columns!(),
            " FROM workflows WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(workflow_row)
        .transpose()
    }

    pub async fn steps(&self, workflow_id: &str) -> Result<Vec<StepRow>, ControlError> {
        sqlx::query(concat!(
            "SELECT ",
            step_columns!(),
            " FROM workflow_steps WHERE workflow_id = $1 ORDER BY position"
        ))
        .bind(workflow_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(step_row)
        .collect()
    }

    /// A cluster's workflows, newest first.
    pub async fn workflows_of(
        &self,
        cluster_id: &str,
        limit: i64,
    ) -> Result<Vec<WorkflowRow>, ControlError> {
        sqlx::query(concat!(
            "SELECT ",
            workflow_columns!(),
            " FROM workflows WHERE cluster_id = $1 ORDER BY created_at DESC LIMIT $2"
        ))
        .bind(cluster_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(workflow_row)
        .collect()
    }

    /// The newest workflow of a cluster.
    pub async fn latest_workflow(
        &self,
        cluster_id: &str,
    ) -> Result<Option<WorkflowRow>, ControlError> {
        Ok(self.workflows_of(cluster_id, 1).await?.into_iter().next())
    }

    /// Running workflows no live panel process drives (never leased, or the lease expired).
    pub async fn unleased_workflows(&self, now_ms: i64) -> Result<Vec<WorkflowRow>, ControlError> {
        sqlx::query(concat!(
            "SELECT ",
            workflow_columns!(),
            " FROM workflows WHERE status = 'running' \
              AND (lease_holder IS NULL OR lease_until < $1) ORDER BY created_at"
        ))
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(workflow_row)
        .collect()
    }

    /// Takes (or extends) the lease of a running workflow for `holder` until `until_ms`; false
    /// when another holder's lease is still valid or the workflow is not running.
    pub async fn lease_workflow(
        &self,
        id: &str,
        holder: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<bool, ControlError> {
        let r = sqlx::query(
            "UPDATE workflows SET lease_holder = $1, lease_until = $2 \
             WHERE id = $3 AND status = 'running' \
               AND (lease_holder IS NULL OR lease_holder = $1 OR lease_until < $4)",
        )
        .bind(holder)
        .bind(until_ms)
        .bind(id)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Extends the holder's lease, whatever the status (a step in flight finishes even after
    /// an operator paused the workflow); false when the holder lost it.
    pub async fn renew_workflow_lease(
        &self,
        id: &str,
        holder: &str,
        until_ms: i64,
    ) -> Result<bool, ControlError> {
        let r = sqlx::query(
            "UPDATE workflows SET lease_until = $1 WHERE id = $2 AND lease_holder = $3",
        )
        .bind(until_ms)
        .bind(id)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Forgets every lease. Only a single panel process may use the embedded SQLite store, so
    /// at its start every lease is a leftover of its previous run.
    pub async fn clear_workflow_leases(&self) -> Result<(), ControlError> {
        sqlx::query("UPDATE workflows SET lease_holder = NULL, lease_until = NULL")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Gives the lease up (the holder stops driving the workflow).
    pub async fn release_workflow(&self, id: &str, holder: &str) -> Result<(), ControlError> {
        sqlx::query(
            "UPDATE workflows SET lease_holder = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_holder = $2",
        )
        .bind(id)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Moves a workflow from one of `from` to `to` (with its error), atomically; false when it
    /// was in none of them (another change came first).
    pub async fn transition_workflow(
        &self,
        id: &str,
        from: &[WorkflowStatus],
        to: WorkflowStatus,
        error: Option<&str>,
    ) -> Result<bool, ControlError> {
        let mut changed = false;
        // One conditional statement per source state keeps the SQL static and portable.
        for f in from {
            let r = sqlx::query(
                "UPDATE workflows SET status = $1, error = $2, updated_at = $3 \
                 WHERE id = $4 AND status = $5",
            )
            .bind(to.as_str())
            .bind(error)
            .bind(crate::secret::now_ms())
            .bind(id)
            .bind(f.as_str())
            .execute(&self.pool)
            .await?;
            if r.rows_affected() == 1 {
                changed = true;
                break;
            }
        }
        Ok(changed)
    }

    /// The holder moves the workflow on to step `next`.
    pub async fn advance_workflow(
        &self,
        id: &str,
        holder: &str,
        next: usize,
    ) -> Result<bool, ControlError> {
        let r = sqlx::query(
            "UPDATE workflows SET current = $1, updated_at = $2 WHERE id = $3 AND lease_holder = $4",
        )
        .bind(next as i64)
        .bind(crate::secret::now_ms())
        .bind(id)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// A step starts (once more): running, started now, one more attempt, no error.
    pub async fn step_started(
        &self,
        id: &str,
        position: usize,
        now_ms: i64,
    ) -> Result<(), ControlError> {
        sqlx::query(
            "UPDATE workflow_steps SET status = 'running', started_at = $1, finished_at = NULL, \
                 attempts = attempts + 1, error = NULL \
             WHERE workflow_id = $2 AND position = $3",
        )
        .bind(now_ms)
        .bind(id)
        .bind(position as i64)
        .execute(&self.pool)
        .await?;
        self.touch_workflow(id, now_ms).await
    }

    /// A step ends as `status` (done, failed, or pending again to be retried), with its error.
    pub async fn step_ended(
        &self,
        id: &str,
        position: usize,
        status: StepStatus,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), ControlError> {
        let finished = (status != StepStatus::Pending).then_some(now_ms);
        sqlx::query(
            "UPDATE workflow_steps SET status = $1, finished_at = $2, error = $3 \
             WHERE workflow_id = $4 AND position = $5",
        )
        .bind(status.as_str())
        .bind(finished)
        .bind(error)
        .bind(id)
        .bind(position as i64)
        .execute(&self.pool)
        .await?;
        self.touch_workflow(id, now_ms).await
    }

    async fn touch_workflow(&self, id: &str, now_ms: i64) -> Result<(), ControlError> {
        sqlx::query("UPDATE workflows SET updated_at = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Records a workflow and its steps. Its `created_at` is later than every earlier workflow of
/// the cluster, so that "the newest workflow" is well defined even within one millisecond.
pub(super) async fn insert_workflow(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    w: &NewWorkflow,
    now: i64,
) -> Result<(), ControlError> {
    let previous: Option<i64> =
        sqlx::query_scalar("SELECT MAX(created_at) FROM workflows WHERE cluster_id = $1")
            .bind(&w.cluster_id)
            .fetch_one(&mut **tx)
            .await?;
    let created_at = now.max(previous.map_or(i64::MIN, |p| p + 1));
    sqlx::query(
        "INSERT INTO workflows (id, cluster_id, kind, status, current, error, created_at, updated_at) \
         VALUES ($1, $2, $3, 'running', 0, NULL, $4, $4)",
    )
    .bind(&w.id)
    .bind(&w.cluster_id)
    .bind(w.kind.as_str())
    .bind(created_at)
    .execute(&mut **tx)
    .await?;
    for (i, s) in w.steps.iter().enumerate() {
        sqlx::query(
            "INSERT INTO workflow_steps (workflow_id, position, step, title, node_id, rerun, status, attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0)",
        )
        .bind(&w.id)
        .bind(i as i64)
        .bind(&s.step)
        .bind(&s.title)
        .bind(&s.node_id)
        .bind(s.rerun.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn step(title: &str) -> NewStep {
        NewStep {
            step: format!("{{\"op\":\"{title}\"}}"),
            title: title.into(),
            node_id: None,
            rerun: Rerun::Safe,
        }
    }

    #[tokio::test]
    async fn the_newest_workflow_is_the_last_recorded_even_within_one_millisecond() {
        let (store, _dir) = temp_store().await;
        for id in ["w1", "w2"] {
            store
                .add_workflow(&NewWorkflow::empty(id, "c1"))
                .await
                .expect("adds");
        }
        let all = store.workflows_of("c1", 10).await.expect("reads");
        assert_eq!(
            all.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
            ["w2", "w1"]
        );
        assert!(all[0].created_at > all[1].created_at);
    }

    #[tokio::test]
    async fn one_holder_at_a_time_until_its_lease_expires() {
        let (store, _dir) = temp_store().await;
        let w = NewWorkflow {
            steps: vec![step("a"), step("b")],
            ..NewWorkflow::empty("w1", "c1")
        };
        store.add_workflow(&w).await.expect("adds");
        assert!(
            store
                .lease_workflow("w1", "p1", 1_000, 0)
                .await
                .expect("runs")
        );
        assert!(
            !store
                .lease_workflow("w1", "p2", 1_000, 500)
                .await
                .expect("runs")
        );
        assert!(
            store
                .lease_workflow("w1", "p1", 2_000, 900)
                .await
                .expect("renews")
        );
        assert!(
            !store.advance_workflow("w1", "p2", 1).await.expect("runs"),
            "only the holder"
        );
        assert!(store.advance_workflow("w1", "p1", 1).await.expect("runs"));
        assert!(
            store
                .unleased_workflows(1_500)
                .await
                .expect("reads")
                .is_empty()
        );
        assert_eq!(
            store.unleased_workflows(2_500).await.expect("reads").len(),
            1
        );
        assert!(
            store
                .lease_workflow("w1", "p2", 3_000, 2_500)
                .await
                .expect("expired: taken")
        );
        store.release_workflow("w1", "p2").await.expect("releases");
        assert_eq!(store.unleased_workflows(0).await.expect("reads").len(), 1);
        assert!(
            store
                .transition_workflow(
                    "w1",
                    &[WorkflowStatus::Running],
                    WorkflowStatus::Paused,
                    Some("why")
                )
                .await
                .expect("runs")
        );
        assert!(
            !store
                .lease_workflow("w1", "p1", 9_000, 0)
                .await
                .expect("runs"),
            "not running"
        );
        let row = store.workflow("w1").await.expect("reads").expect("exists");
        assert_eq!(
            (row.status, row.current, row.error.as_deref()),
            (WorkflowStatus::Paused, 1, Some("why"))
        );
    }

    #[tokio::test]
    async fn steps_record_their_timeline() {
        let (store, _dir) = temp_store().await;
        let w = NewWorkflow {
            steps: vec![step("a"), step("b")],
            ..NewWorkflow::empty("w1", "c1")
        };
        store.add_workflow(&w).await.expect("adds");
        store.step_started("w1", 0, 10).await.expect("starts");
        store
            .step_ended("w1", 0, StepStatus::Pending, Some("node offline"), 20)
            .await
            .expect("retry");
        store.step_started("w1", 0, 30).await.expect("starts again");
        store
            .step_ended("w1", 0, StepStatus::Done, None, 45)
            .await
            .expect("ends");
        let steps = store.steps("w1").await.expect("reads");
        assert_eq!(steps[0].status, StepStatus::Done);
        assert_eq!(
            (steps[0].attempts, steps[0].started_at, steps[0].finished_at),
            (2, Some(30), Some(45))
        );
        assert_eq!(steps[0].error, None);
        assert_eq!(steps[1].status, StepStatus::Pending);
        sqlx::query("UPDATE workflow_steps SET status = 'maybe' WHERE position = 1")
            .execute(&store.pool)
            .await
            .expect("update");
        assert!(matches!(
            store.steps("w1").await,
            Err(ControlError::Corrupt(_))
        ));
    }
}
