//! The workflow engine: every long operation of the panel (building, changing and deleting
//! clusters, installing and removing apps; config sync and firmware rollouts next) is a workflow
//! run here.
//!
//! A capability plans a workflow as a list of typed steps ([`Planned`]: the step, its title,
//! the node it acts on and its [`Rerun`] rule) and stores it — usually in the same transaction as
//! the change that needs it — then asks the engine to [`Engine::spawn`] it. The engine:
//! * drives each workflow from exactly one panel process at a time, through a lease in the
//!   database (holder, expiry) that it renews while it works; another process takes a workflow
//!   over when the lease expires, and a restarted single-process panel resumes at once;
//! * records every step's start, end, attempts, result and error before and after it runs;
//! * retries a step whose failure is transient ([`Outcome::Transient`]) a few times, pauses on a
//!   gate that did not pass ([`Outcome::Gate`]) with its reason, and stops on a failure;
//! * resumes at the first unfinished step after a restart: an interrupted step runs again when
//!   it is [`Rerun::Safe`] (it checks whether its effect already holds), otherwise it pauses for
//!   an operator;
//! * lets operators pause, resume, abort and retry ([`Engine::act`]), and tells the capability
//!   when a workflow's status changes ([`Runner::status_changed`]) so it can keep its own state
//!   (e.g. a cluster's phase) in step.
//!
//! Capabilities run their steps through a [`Runner`] registered per [`Capability`].
mod engine;

pub use engine::{Engine, Timing};

use domain::workflow::{WorkflowKind, WorkflowStatus};
use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::ControlError;
pub use crate::store::Rerun;
use crate::store::{NewStep, NewWorkflow, StepRow, WorkflowRow};

/// Which part of the panel runs a workflow's steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    Clusters,
    Workloads,
    Firmware,
}

impl Capability {
    pub fn of(kind: WorkflowKind) -> Capability {
        match kind {
            WorkflowKind::Create
            | WorkflowKind::Delete
            | WorkflowKind::AddNode
            | WorkflowKind::RemoveNode
            | WorkflowKind::UpdateVips
            | WorkflowKind::SetupVolumes
            | WorkflowKind::RemoveVolumes
            | WorkflowKind::PromoteVolume
            | WorkflowKind::DemoteVolume
            | WorkflowKind::HandOverVolume => Capability::Clusters,
            WorkflowKind::Install
            | WorkflowKind::Uninstall
            | WorkflowKind::ApplyCredentials
            | WorkflowKind::ApplySecrets
            | WorkflowKind::Update
            | WorkflowKind::Scale => Capability::Workloads,
            WorkflowKind::FirmwareUpgrade | WorkflowKind::FirmwareRollout => Capability::Firmware,
        }
    }
}

/// One planned step of a capability: its typed step and how the timeline shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned<S> {
    pub step: S,
    pub title: String,
    pub node_id: Option<String>,
    pub rerun: Rerun,
}

impl<S> Planned<S> {
    /// A step that checks whether its effect already holds, so it may run again.
    pub fn safe(step: S, title: impl Into<String>, node_id: Option<&str>) -> Self {
        Self {
            step,
            title: title.into(),
            node_id: node_id.map(str::to_owned),
            rerun: Rerun::Safe,
        }
    }
}

/// A new workflow of `kind` on `cluster_id` from its planned steps, ready to be stored.
pub fn plan<S: Serialize>(
    cluster_id: &str,
    kind: WorkflowKind,
    steps: &[Planned<S>],
) -> Result<NewWorkflow, ControlError> {
    Ok(NewWorkflow {
        id: uuid::Uuid::new_v4().to_string(),
        cluster_id: cluster_id.to_owned(),
        kind,
        steps: steps
            .iter()
            .map(|p| {
                Ok(NewStep {
                    step: serde_json::to_string(&p.step)
                        .map_err(|e| ControlError::Corrupt(e.to_string()))?,
                    title: p.title.clone(),
                    node_id: p.node_id.clone(),
                    rerun: p.rerun,
                })
            })
            .collect::<Result<_, ControlError>>()?,
    })
}

/// How one attempt of a step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Might work if tried again (a node did not answer, dropped its connection…).
    Transient(String),
    /// A condition the workflow waits for does not hold: pause with this reason.
    Gate(String),
    /// It did not work and trying again as-is will not help.
    Failed(String),
}

impl Outcome {
    /// Why it did not work (`None` for [`Outcome::Done`]).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Done => None,
            Outcome::Transient(r) | Outcome::Gate(r) | Outcome::Failed(r) => Some(r),
        }
    }
}

/// Runs the steps of one capability's workflows.
pub trait Runner: Send + Sync + 'static {
    /// Runs one step (as stored) of `workflow`. A step must not rely on running only once: it
    /// runs again after a transient failure, a retry or an interrupted run (when it is safe).
    fn run<'a>(&'a self, workflow: &'a WorkflowRow, step: &'a StepRow) -> BoxFuture<'a, Outcome>;

    /// `workflow` changed its status to `status` (it failed, paused, is running again, was
    /// aborted or is done).
    fn status_changed<'a>(
        &'a self,
        workflow: &'a WorkflowRow,
        status: WorkflowStatus,
    ) -> BoxFuture<'a, Result<(), ControlError>>;
}
