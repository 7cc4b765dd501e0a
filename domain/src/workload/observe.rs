//! Services and their tasks as a manager reports them, and the state a workload card shows,
//! derived from them in one place.
use serde::{Deserialize, Serialize};

use super::compose::{Port, ServiceMode};

/// Most services one swarm report carries, and most tasks per service (the newest).
pub const MAX_REPORTED_SERVICES: usize = 1000;
pub const MAX_REPORTED_TASKS: usize = 16;

/// A Swarm task's state (Docker's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    New,
    Allocated,
    Pending,
    Assigned,
    Accepted,
    Preparing,
    Ready,
    Starting,
    Running,
    Complete,
    Shutdown,
    Failed,
    Rejected,
    Remove,
    Orphaned,
}

impl TaskState {
    pub const ALL: [TaskState; 15] = [
        TaskState::New,
        TaskState::Allocated,
        TaskState::Pending,
        TaskState::Assigned,
        TaskState::Accepted,
        TaskState::Preparing,
        TaskState::Ready,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Complete,
        TaskState::Shutdown,
        TaskState::Failed,
        TaskState::Rejected,
        TaskState::Remove,
        TaskState::Orphaned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::New => "new",
            TaskState::Allocated => "allocated",
            TaskState::Pending => "pending",
            TaskState::Assigned => "assigned",
            TaskState::Accepted => "accepted",
            TaskState::Preparing => "preparing",
            TaskState::Ready => "ready",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Complete => "complete",
            TaskState::Shutdown => "shutdown",
            TaskState::Failed => "failed",
            TaskState::Rejected => "rejected",
            TaskState::Remove => "remove",
            TaskState::Orphaned => "orphaned",
        }
    }

    /// Docker's name of a state; anything else is not a task state.
    pub fn parse(text: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The task ended badly (it will not run again as it is).
    pub fn is_failure(self) -> bool {
        matches!(self, TaskState::Failed | TaskState::Rejected)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskObservation {
    pub id: String,
    /// The swarm node the task is assigned to; empty while it waits for one.
    pub node_id: String,
    pub slot: Option<u64>,
    pub state: TaskState,
    pub desired: TaskState,
    /// Swarm's status message ("started", "pending task scheduling"…).
    pub message: String,
    /// Swarm's error text, e.g. "no suitable node (scheduling constraints not satisfied on 3 nodes)".
    pub error: Option<String>,
    pub image: String,
    /// When the task last changed (RFC 3339, as Docker reports it).
    pub at: String,
}

/// A rolling update's (or rollback's) state, as Swarm reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    Updating,
    Paused,
    Completed,
    RollbackStarted,
    RollbackPaused,
    RollbackCompleted,
}

impl UpdateState {
    pub fn is_rollback(self) -> bool {
        matches!(
            self,
            UpdateState::RollbackStarted
                | UpdateState::RollbackPaused
                | UpdateState::RollbackCompleted
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateObservation {
    pub state: UpdateState,
    pub message: String,
    /// When Swarm started this update (or rollback), by the manager's clock.
    #[serde(default)]
    pub started_at_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceObservation {
    pub id: String,
    pub name: String,
    /// The stack (installed app) the service belongs to, from its stack label.
    pub stack: Option<String>,
    /// The library version it was deployed from, from its version label.
    pub version: Option<String>,
    pub mode: ServiceMode,
    pub replicas: Option<u64>,
    pub image: String,
    /// Published ports.
    pub ports: Vec<Port>,
    /// Tasks Swarm wants (replicas, eligible nodes of a global service, job completions).
    pub desired: u64,
    pub running: u64,
    pub completed: u64,
    pub update: Option<UpdateObservation>,
    /// Newest first, at most [`MAX_REPORTED_TASKS`].
    pub tasks: Vec<TaskObservation>,
    /// It bind-mounts a directory of the cluster volume (docs/volumes.md).
    #[serde(default)]
    pub cluster_volume: bool,
}

/// What a workload card shows for a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    Installing,
    Running,
    Degraded,
    Stopped,
    Completed,
    Failed,
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Installing => "installing",
            ServiceState::Running => "running",
            ServiceState::Degraded => "degraded",
            ServiceState::Stopped => "stopped",
            ServiceState::Completed => "completed",
            ServiceState::Failed => "failed",
        }
    }
}

impl ServiceObservation {
    /// The distinct errors of tasks that are not running, newest first (at most `n`).
    pub fn errors(&self, n: usize) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for t in &self.tasks {
            let text = match &t.error {
                Some(e) if !e.is_empty() => e.clone(),
                _ if t.state.is_failure() => t.message.clone(),
                _ => continue,
            };
            if t.state != TaskState::Running && !out.contains(&text) {
                out.push(text);
            }
            if out.len() == n {
                break;
            }
        }
        out
    }

    /// The card's state. `stopped`: the operator stopped the workload (scaled to zero).
    pub fn state(&self, stopped: bool) -> ServiceState {
        let failing = self
            .tasks
            .iter()
            .any(|t| t.state.is_failure() || (t.error.is_some() && t.state == TaskState::Pending));
        if self.mode.is_job() {
            return if self.desired > 0 && self.completed >= self.desired {
                ServiceState::Completed
            } else if failing && self.running == 0 {
                ServiceState::Failed
            } else {
                ServiceState::Installing
            };
        }
        if stopped || (self.replicas == Some(0) && self.running == 0) {
            return ServiceState::Stopped;
        }
        if self.update.as_ref().is_some_and(|u| u.state.is_rollback()) && self.running > 0 {
            return ServiceState::Degraded;
        }
        if self.desired > 0 && self.running >= self.desired {
            ServiceState::Running
        } else if failing && self.running == 0 {
            ServiceState::Failed
        } else if failing {
            ServiceState::Degraded
        } else {
            ServiceState::Installing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: TaskState, error: Option<&str>) -> TaskObservation {
        TaskObservation {
            id: "t".into(),
            node_id: String::new(),
            slot: Some(1),
            state,
            desired: TaskState::Running,
            message: String::new(),
            error: error.map(str::to_owned),
            image: "busybox".into(),
            at: String::new(),
        }
    }

    fn service(
        mode: ServiceMode,
        desired: u64,
        running: u64,
        tasks: Vec<TaskObservation>,
    ) -> ServiceObservation {
        ServiceObservation {
            id: "s".into(),
            name: "shop_web".into(),
            stack: Some("shop".into()),
            version: Some("1".into()),
            mode,
            replicas: mode.has_replicas().then_some(desired),
            image: "busybox".into(),
            ports: vec![],
            desired,
            running,
            completed: 0,
            update: None,
            tasks,
            cluster_volume: false,
        }
    }

    #[test]
    fn states_follow_tasks() {
        let running = vec![
            task(TaskState::Running, None),
            task(TaskState::Running, None),
        ];
        assert_eq!(
            service(ServiceMode::Replicated, 2, 2, running).state(false),
            ServiceState::Running
        );
        let pending = vec![task(
            TaskState::Pending,
            Some("no suitable node (scheduling constraints not satisfied on 3 nodes)"),
        )];
        let s = service(ServiceMode::Replicated, 1, 0, pending);
        assert_eq!(s.state(false), ServiceState::Failed);
        assert_eq!(
            s.errors(3),
            ["no suitable node (scheduling constraints not satisfied on 3 nodes)"]
        );
        let starting = vec![task(TaskState::Preparing, None)];
        assert_eq!(
            service(ServiceMode::Global, 3, 0, starting).state(false),
            ServiceState::Installing
        );
        let half = vec![
            task(TaskState::Running, None),
            task(TaskState::Rejected, Some("No such image: x")),
        ];
        assert_eq!(
            service(ServiceMode::Replicated, 2, 1, half).state(false),
            ServiceState::Degraded
        );
        assert_eq!(
            service(ServiceMode::Replicated, 0, 0, vec![]).state(false),
            ServiceState::Stopped
        );
    }

    #[test]
    fn jobs_complete() {
        let mut job = service(ServiceMode::ReplicatedJob, 3, 0, vec![]);
        job.completed = 3;
        assert_eq!(job.state(false), ServiceState::Completed);
        job.completed = 1;
        assert_eq!(job.state(false), ServiceState::Installing);
    }

    #[test]
    fn task_states_keep_docker_names() {
        for s in TaskState::ALL {
            assert_eq!(TaskState::parse(s.as_str()), Some(s));
        }
        assert_eq!(TaskState::parse("sideways"), None);
    }
}
