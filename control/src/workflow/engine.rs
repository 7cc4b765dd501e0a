//! Driving workflows: the lease, the step loop, operator actions and the activity views.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use domain::event::UiEvent;
use domain::workflow::{StepStatus, StepView, WorkflowAction, WorkflowStatus, WorkflowView};

use super::{Capability, Outcome, Rerun, Runner};
use crate::ControlError;
use crate::events::Events;
use crate::secret::now_ms;
use crate::store::{StepRow, Store, WorkflowRow};

/// The engine's clock: how long a lease lasts and how often it is renewed, how often a
/// transient failure is tried again and how long to wait in between.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub lease: Duration,
    pub renew_every: Duration,
    pub max_attempts: u32,
    pub retry_after: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
            max_attempts: 3,
            retry_after: Duration::from_secs(2),
        }
    }
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    events: Events,
    /// This process's name in leases.
    holder: String,
    timing: Timing,
    runners: RwLock<HashMap<Capability, Arc<dyn Runner>>>,
    /// Workflows this process drives now (so a second spawn does nothing).
    driving: Mutex<HashSet<String>>,
}

impl Engine {
    pub fn new(store: Store, events: Events, timing: Timing) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                store,
                events,
                holder: format!("panel-{}", uuid::Uuid::new_v4().simple()),
                timing,
                runners: RwLock::default(),
                driving: Mutex::default(),
            }),
        }
    }

    /// The capability that runs the steps of its workflows.
    pub fn register(&self, capability: Capability, runner: Arc<dyn Runner>) {
        self.inner
            .runners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(capability, runner);
    }

    fn runner(&self, w: &WorkflowRow) -> Result<Arc<dyn Runner>, ControlError> {
        let capability = Capability::of(w.kind);
        self.inner
            .runners
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&capability)
            .cloned()
            .ok_or_else(|| ControlError::Config(format!("no runner for {capability:?}")))
    }

    /// Drives a stored workflow in the background, unless this process drives it already.
    pub fn spawn(&self, id: String) {
        if !self.lock_driving().insert(id.clone()) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.drive(&id).await {
                tracing::error!(workflow = %id, error = %crate::error::chain(&e), "workflow stopped on a panel error");
            }
            engine.lock_driving().remove(&id);
        });
    }

    /// At the panel's start: resumes every running workflow. A single-process panel (SQLite)
    /// first drops every lease, all of them leftovers of its previous run; with a shared store a
    /// lease of another process is respected until it expires.
    pub async fn start(&self) -> Result<usize, ControlError> {
        if self.inner.store.single_process() {
            self.inner.store.clear_workflow_leases().await?;
        }
        self.resume().await
    }

    /// Drives every running workflow that no live process drives.
    pub async fn resume(&self) -> Result<usize, ControlError> {
        let free = self.inner.store.unleased_workflows(now_ms()).await?;
        for w in &free {
            if !self.lock_driving().contains(&w.id) {
                tracing::info!(workflow = %w.id, cluster = %w.cluster_id, kind = w.kind.as_str(), step = w.current, "resuming workflow");
                self.spawn(w.id.clone());
            }
        }
        Ok(free.len())
    }

    /// Takes over workflows whose driver died (its lease expired), every lease period.
    pub fn spawn_takeover(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(engine.inner.timing.lease);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = engine.resume().await {
                    tracing::error!(error = %crate::error::chain(&e), "cannot look for workflows to take over");
                }
            }
        })
    }

    /// Gives up the leases this process holds (graceful shutdown), so another process — or
    /// this one after a restart — takes over at once.
    pub async fn release_all(&self) {
        let ids: Vec<String> = self.lock_driving().iter().cloned().collect();
        for id in ids {
            if let Err(e) = self
                .inner
                .store
                .release_workflow(&id, &self.inner.holder)
                .await
            {
                tracing::warn!(workflow = %id, error = %crate::error::chain(&e), "could not release a workflow lease");
            }
        }
    }

    /// An operator's pause, resume, retry or abort. Pause and abort take effect between steps:
    /// a step in flight finishes first.
    pub async fn act(&self, id: &str, action: WorkflowAction) -> Result<(), ControlError> {
        let w = self
            .inner
            .store
            .workflow(id)
            .await?
            .ok_or(ControlError::NotFound("Workflow"))?;
        if !w.status.allows(action) {
            return Err(ControlError::Conflict(format!(
                "A {} workflow cannot be {}.",
                w.status.label().to_lowercase(),
                match action {
                    WorkflowAction::Pause => "paused",
                    WorkflowAction::Resume => "resumed",
                    WorkflowAction::Retry => "retried",
                    WorkflowAction::Abort => "aborted",
                }
            )));
        }
        let store = &self.inner.store;
        let (from, to, reason): (&[WorkflowStatus], _, _) = match action {
            WorkflowAction::Pause => (
                &[WorkflowStatus::Running],
                WorkflowStatus::Paused,
                Some("paused by an operator"),
            ),
            WorkflowAction::Resume => (&[WorkflowStatus::Paused], WorkflowStatus::Running, None),
            WorkflowAction::Retry => (&[WorkflowStatus::Failed], WorkflowStatus::Running, None),
            WorkflowAction::Abort => (
                &[
                    WorkflowStatus::Running,
                    WorkflowStatus::Paused,
                    WorkflowStatus::Failed,
                ],
                WorkflowStatus::Aborted,
                Some("aborted by an operator"),
            ),
        };
        if action == WorkflowAction::Retry
            && let Some(step) = store.steps(id).await?.get(w.current)
        {
            store
                .step_ended(id, step.position, StepStatus::Pending, None, now_ms())
                .await?;
        }
        if !store.transition_workflow(id, from, to, reason).await? {
            return Err(ControlError::Conflict(
                "The workflow changed meanwhile; look again.".into(),
            ));
        }
        self.status_changed(&w, to).await?;
        if to == WorkflowStatus::Running {
            self.spawn(id.to_owned());
        }
        Ok(())
    }

    async fn status_changed(
        &self,
        w: &WorkflowRow,
        status: WorkflowStatus,
    ) -> Result<(), ControlError> {
        self.runner(w)?.status_changed(w, status).await?;
        self.changed(w);
        Ok(())
    }

    fn changed(&self, w: &WorkflowRow) {
        self.inner.events.publish(UiEvent::Cluster {
            id: w.cluster_id.clone(),
        });
    }

    /// Drives one workflow while this process holds its lease.
    async fn drive(&self, id: &str) -> Result<(), ControlError> {
        let store = &self.inner.store;
        let t = self.inner.timing;
        let lease_until = || now_ms() + t.lease.as_millis() as i64;
        if !store
            .lease_workflow(id, &self.inner.holder, lease_until(), now_ms())
            .await?
        {
            return Ok(()); // not running, or another process drives it
        }
        let result = self.steps(id).await;
        store.release_workflow(id, &self.inner.holder).await?;
        result
    }

    async fn steps(&self, id: &str) -> Result<(), ControlError> {
        let store = &self.inner.store;
        loop {
            let Some(w) = store.workflow(id).await? else {
                return Ok(());
            };
            if w.status != WorkflowStatus::Running
                || w.lease_holder.as_deref() != Some(self.inner.holder.as_str())
            {
                return Ok(());
            }
            let steps = store.steps(id).await?;
            let Some(step) = steps.get(w.current) else {
                if store
                    .transition_workflow(id, &[WorkflowStatus::Running], WorkflowStatus::Done, None)
                    .await?
                {
                    tracing::info!(workflow = %id, cluster = %w.cluster_id, kind = w.kind.as_str(), "workflow done");
                    self.status_changed(&w, WorkflowStatus::Done).await?;
                }
                return Ok(());
            };
            if step.status == StepStatus::Running && step.rerun == Rerun::Ask {
                let reason = format!(
                    "\"{}\" was interrupted (the panel stopped while it ran): check its effect, then resume",
                    step.title
                );
                self.pause_for(&w, step, &reason).await?;
                return Ok(());
            }
            let Some(outcome) = self.attempt(&w, step).await? else {
                return Ok(()); // the lease was lost: another process drives it now
            };
            let now = now_ms();
            match outcome {
                Outcome::Done => {
                    store
                        .step_ended(id, step.position, StepStatus::Done, None, now)
                        .await?;
                    store
                        .advance_workflow(id, &self.inner.holder, step.position + 1)
                        .await?;
                    self.changed(&w);
                }
                Outcome::Transient(e) if step.attempts + 1 < self.inner.timing.max_attempts => {
                    tracing::warn!(workflow = %id, step = step.position, title = %step.title, error = %e, "step failed; trying again");
                    store
                        .step_ended(id, step.position, StepStatus::Pending, Some(&e), now)
                        .await?;
                    self.changed(&w);
                    tokio::time::sleep(self.inner.timing.retry_after).await;
                }
                Outcome::Transient(e) | Outcome::Failed(e) => {
                    tracing::warn!(workflow = %id, step = step.position, title = %step.title, error = %e, "step failed");
                    store
                        .step_ended(id, step.position, StepStatus::Failed, Some(&e), now)
                        .await?;
                    let error = format!("{}: {e}", step.title);
                    if store
                        .transition_workflow(
                            id,
                            &[WorkflowStatus::Running],
                            WorkflowStatus::Failed,
                            Some(&error),
                        )
                        .await?
                    {
                        self.status_changed(&w, WorkflowStatus::Failed).await?;
                    }
                    return Ok(());
                }
                Outcome::Gate(reason) => {
                    self.pause_for(&w, step, &reason).await?;
                    return Ok(());
                }
            }
        }
    }

    /// Pauses the workflow at `step` (not run, or interrupted) with `reason`.
    async fn pause_for(
        &self,
        w: &WorkflowRow,
        step: &StepRow,
        reason: &str,
    ) -> Result<(), ControlError> {
        let store = &self.inner.store;
        store
            .step_ended(
                &w.id,
                step.position,
                StepStatus::Pending,
                Some(reason),
                now_ms(),
            )
            .await?;
        if store
            .transition_workflow(
                &w.id,
                &[WorkflowStatus::Running],
                WorkflowStatus::Paused,
                Some(reason),
            )
            .await?
        {
            tracing::info!(workflow = %w.id, step = step.position, reason, "workflow paused");
            self.status_changed(w, WorkflowStatus::Paused).await?;
        }
        Ok(())
    }

    /// Runs one attempt of a step while renewing the lease; `None` when the lease was lost
    /// meanwhile (the attempt is abandoned; its step is safe to run again elsewhere).
    async fn attempt(
        &self,
        w: &WorkflowRow,
        step: &StepRow,
    ) -> Result<Option<Outcome>, ControlError> {
        let store = &self.inner.store;
        let t = self.inner.timing;
        store.step_started(&w.id, step.position, now_ms()).await?;
        self.changed(w);
        tracing::info!(workflow = %w.id, step = step.position, title = %step.title, "step started");
        let runner = self.runner(w)?;
        let run = runner.run(w, step);
        tokio::pin!(run);
        let mut renew = tokio::time::interval(t.renew_every);
        renew.tick().await;
        loop {
            tokio::select! {
                outcome = &mut run => return Ok(Some(outcome)),
                _ = renew.tick() => {
                    let until = now_ms() + t.lease.as_millis() as i64;
                    if !store.renew_workflow_lease(&w.id, &self.inner.holder, until).await? {
                        tracing::warn!(workflow = %w.id, "lost the workflow's lease; another panel process drives it");
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// A cluster's newest workflows with their step timelines, newest first.
    pub async fn views_of(
        &self,
        cluster_id: &str,
        limit: i64,
    ) -> Result<Vec<WorkflowView>, ControlError> {
        let mut names: HashMap<String, String> = HashMap::new();
        let mut out = vec![];
        for w in self.inner.store.workflows_of(cluster_id, limit).await? {
            out.push(self.view(w, &mut names).await?);
        }
        Ok(out)
    }

    /// The newest workflow of `kind` among a cluster's recent ones, with its timeline.
    pub async fn newest_view(
        &self,
        cluster_id: &str,
        kind: domain::workflow::WorkflowKind,
    ) -> Result<Option<WorkflowView>, ControlError> {
        self.newest_view_where(cluster_id, |k| k == kind).await
    }

    /// The newest workflow whose kind `wanted` accepts among a cluster's recent ones, with its
    /// timeline.
    pub async fn newest_view_where(
        &self,
        cluster_id: &str,
        wanted: impl Fn(domain::workflow::WorkflowKind) -> bool,
    ) -> Result<Option<WorkflowView>, ControlError> {
        let recent = self.inner.store.workflows_of(cluster_id, 20).await?;
        match recent.into_iter().find(|w| wanted(w.kind)) {
            Some(w) => Ok(Some(self.view(w, &mut HashMap::new()).await?)),
            None => Ok(None),
        }
    }

    /// A workflow with its steps; `names` remembers node hostnames between calls.
    async fn view(
        &self,
        w: WorkflowRow,
        names: &mut HashMap<String, String>,
    ) -> Result<WorkflowView, ControlError> {
        let store = &self.inner.store;
        let mut steps = vec![];
        for s in store.steps(&w.id).await? {
            let node = match &s.node_id {
                None => None,
                Some(id) => Some(match names.get(id) {
                    Some(name) => name.clone(),
                    None => {
                        let name = store
                            .node_by_id(id)
                            .await?
                            .map_or_else(|| id.clone(), |n| n.hostname);
                        names.insert(id.clone(), name.clone());
                        name
                    }
                }),
            };
            steps.push(StepView {
                title: s.title,
                node,
                status: s.status,
                attempts: s.attempts,
                started_at_ms: s.started_at,
                finished_at_ms: s.finished_at,
                error: s.error,
            });
        }
        Ok(WorkflowView {
            id: w.id,
            kind: w.kind,
            status: w.status,
            steps,
            error: w.error,
            created_at_ms: w.created_at,
            updated_at_ms: w.updated_at,
        })
    }

    fn lock_driving(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.inner.driving.lock().unwrap_or_else(|p| p.into_inner())
    }
}
