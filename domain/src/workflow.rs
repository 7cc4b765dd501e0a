//! Long operations (workflows) as the panel runs and shows them: their kinds, lifecycle states and
//! the step timeline of the activity view. Every state is an enum; the store decodes its columns
//! into them and refuses anything else.
use serde::{Deserialize, Serialize};

/// What a workflow does. Each kind belongs to one capability, whose steps the engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkflowKind {
    /// Build a cluster: swarm init and joins, labels, KeepAlived, activation.
    Create,
    /// Take a cluster apart on its nodes, then forget it.
    Delete,
    AddNode,
    RemoveNode,
    /// Push the KeepAlived configuration again (the synctime changed).
    UpdateVips,
    /// Set up the cluster's volume on its nodes (turned on after the cluster was built).
    SetupVolumes,
    /// Take the cluster's volume down on its nodes (turned off).
    RemoveVolumes,
    /// Deploy an app version on a cluster: its networks, secrets and configs, then its services.
    Install,
    /// Remove an installed app's services and the objects it declared.
    Uninstall,
    /// Check registry credentials on every node, then give them to the services that use them.
    ApplyCredentials,
    /// Move an installed app to another version of it (Swarm rolls each service).
    Update,
    /// Give the services that use changed Global Secrets their new versions (Swarm rolls
    /// them), then remove the versions no service uses.
    ApplySecrets,
    /// Stop an installed app (scale it to zero) or start it again.
    Scale,
    /// Upgrade the firmware of standalone nodes, a few at a time: install, reboot, wait until
    /// each is back healthy on the new version, commit (or roll back).
    FirmwareUpgrade,
    /// Upgrade the firmware of a cluster's nodes one at a time while its services keep
    /// answering behind the VIPs.
    FirmwareRollout,
    /// The async volume's primary went silent: the standby takes over with its newest complete
    /// snapshot (a new epoch), and the services on the volume follow it.
    PromoteVolume,
    /// An old primary of the async volume came back: it keeps what it wrote alone as a
    /// conflict snapshot and becomes the standby.
    DemoteVolume,
    /// The async volume's primary is drained for maintenance: its writers stop, a last snapshot
    /// goes to the standby, which takes over with it (nothing lost), and the nodes swap roles.
    HandOverVolume,
}

impl WorkflowKind {
    pub const ALL: [WorkflowKind; 18] = [
        WorkflowKind::Create,
        WorkflowKind::Delete,
        WorkflowKind::AddNode,
        WorkflowKind::RemoveNode,
        WorkflowKind::UpdateVips,
        WorkflowKind::SetupVolumes,
        WorkflowKind::RemoveVolumes,
        WorkflowKind::Install,
        WorkflowKind::Uninstall,
        WorkflowKind::ApplyCredentials,
        WorkflowKind::Update,
        WorkflowKind::ApplySecrets,
        WorkflowKind::Scale,
        WorkflowKind::FirmwareUpgrade,
        WorkflowKind::FirmwareRollout,
        WorkflowKind::PromoteVolume,
        WorkflowKind::DemoteVolume,
        WorkflowKind::HandOverVolume,
    ];

    /// The stored name (also the JSON name).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowKind::Create => "create",
            WorkflowKind::Delete => "delete",
            WorkflowKind::AddNode => "add-node",
            WorkflowKind::RemoveNode => "remove-node",
            WorkflowKind::UpdateVips => "update-vips",
            WorkflowKind::SetupVolumes => "setup-volumes",
            WorkflowKind::RemoveVolumes => "remove-volumes",
            WorkflowKind::Install => "install",
            WorkflowKind::Uninstall => "uninstall",
            WorkflowKind::ApplyCredentials => "apply-credentials",
            WorkflowKind::Update => "update",
            WorkflowKind::ApplySecrets => "apply-secrets",
            WorkflowKind::Scale => "scale",
            WorkflowKind::FirmwareUpgrade => "firmware-upgrade",
            WorkflowKind::FirmwareRollout => "firmware-rollout",
            WorkflowKind::PromoteVolume => "promote-volume",
            WorkflowKind::DemoteVolume => "demote-volume",
            WorkflowKind::HandOverVolume => "hand-over-volume",
        }
    }

    pub fn parse(value: &str) -> Option<WorkflowKind> {
        WorkflowKind::ALL.into_iter().find(|k| k.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            WorkflowKind::Create => "Building the cluster",
            WorkflowKind::Delete => "Deleting the cluster",
            WorkflowKind::AddNode => "Adding a node",
            WorkflowKind::RemoveNode => "Removing a node",
            WorkflowKind::UpdateVips => "Updating KeepAlived",
            WorkflowKind::SetupVolumes => "Setting up cluster volumes",
            WorkflowKind::RemoveVolumes => "Removing cluster volumes",
            WorkflowKind::Install => "Installing an app",
            WorkflowKind::Uninstall => "Uninstalling an app",
            WorkflowKind::ApplyCredentials => "Checking and applying registry credentials",
            WorkflowKind::Update => "Updating an app",
            WorkflowKind::ApplySecrets => "Rolling services to new Global Secrets",
            WorkflowKind::Scale => "Starting or stopping an app",
            WorkflowKind::FirmwareUpgrade => "Upgrading firmware",
            WorkflowKind::FirmwareRollout => "Rolling firmware out",
            WorkflowKind::PromoteVolume => "Taking the cluster volume over on the standby",
            WorkflowKind::DemoteVolume => "Making the old primary the volume's standby",
            WorkflowKind::HandOverVolume => "Handing the cluster volume over to the standby",
        }
    }
}

/// Where a workflow is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    /// A panel process drives it (or will, after a restart).
    Running,
    /// Stopped between steps by an operator, or by a gate that did not pass (the reason is the
    /// workflow's error); Resume continues at the next unfinished step.
    Paused,
    /// A step failed; Retry runs it again.
    Failed,
    /// An operator ended it; what was done stays done.
    Aborted,
    Done,
}

impl WorkflowStatus {
    pub const ALL: [WorkflowStatus; 5] = [
        WorkflowStatus::Running,
        WorkflowStatus::Paused,
        WorkflowStatus::Failed,
        WorkflowStatus::Aborted,
        WorkflowStatus::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::Running => "running",
            WorkflowStatus::Paused => "paused",
            WorkflowStatus::Failed => "failed",
            WorkflowStatus::Aborted => "aborted",
            WorkflowStatus::Done => "done",
        }
    }

    pub fn parse(value: &str) -> Option<WorkflowStatus> {
        WorkflowStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            WorkflowStatus::Running => "Running",
            WorkflowStatus::Paused => "Paused",
            WorkflowStatus::Failed => "Failed",
            WorkflowStatus::Aborted => "Aborted",
            WorkflowStatus::Done => "Done",
        }
    }

    /// Not finished: it still holds its cluster (no other operation may start).
    pub fn is_open(self) -> bool {
        matches!(self, WorkflowStatus::Running | WorkflowStatus::Paused)
    }

    /// Which operator actions apply in this state.
    pub fn allows(self, action: WorkflowAction) -> bool {
        matches!(
            (self, action),
            (WorkflowStatus::Running, WorkflowAction::Pause)
                | (WorkflowStatus::Paused, WorkflowAction::Resume)
                | (WorkflowStatus::Failed, WorkflowAction::Retry)
                | (
                    WorkflowStatus::Running | WorkflowStatus::Paused | WorkflowStatus::Failed,
                    WorkflowAction::Abort
                )
        )
    }
}

/// What an operator can do to a workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowAction {
    /// Stop after the step that is running.
    Pause,
    Resume,
    /// Run the failed step again.
    Retry,
    /// End it here (what is done stays done).
    Abort,
}

impl WorkflowAction {
    pub fn label(self) -> &'static str {
        match self {
            WorkflowAction::Pause => "Pause",
            WorkflowAction::Resume => "Resume",
            WorkflowAction::Retry => "Retry",
            WorkflowAction::Abort => "Abort",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Done,
    Failed,
}

impl StepStatus {
    pub const ALL: [StepStatus; 4] = [
        StepStatus::Pending,
        StepStatus::Running,
        StepStatus::Done,
        StepStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<StepStatus> {
        StepStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// One step of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    pub title: String,
    /// The node it acts on (hostname), if one.
    pub node: Option<String>,
    pub status: StepStatus,
    pub attempts: u32,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub error: Option<String>,
}

impl StepView {
    /// How long it ran (or runs, at `now_ms`).
    pub fn duration_ms(&self, now_ms: i64) -> Option<i64> {
        let start = self.started_at_ms?;
        Some(
            self.finished_at_ms
                .unwrap_or(now_ms)
                .saturating_sub(start)
                .max(0),
        )
    }
}

/// A workflow in the activity view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowView {
    pub id: String,
    pub kind: WorkflowKind,
    pub status: WorkflowStatus,
    pub steps: Vec<StepView>,
    /// Why it failed or paused.
    pub error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl WorkflowView {
    /// "step 2 of 5: Join edge-2 as manager" while it runs.
    pub fn progress(&self) -> String {
        let n = self.steps.len();
        let i = self
            .steps
            .iter()
            .position(|s| s.status != StepStatus::Done)
            .unwrap_or(n.saturating_sub(1));
        self.steps
            .get(i)
            .map(|s| format!("step {} of {n}: {}", i + 1, s.title))
            .unwrap_or_default()
    }
}

/// How far a workflow got, in units of work, and about how long the rest takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estimate {
    pub done: usize,
    pub total: usize,
    /// "node" when each unit is one node's run of steps (a rollout), else "step".
    pub unit: &'static str,
    /// While it runs, once a unit is done: the mean time of a finished unit times the units
    /// left, less what the current one has taken already.
    pub remaining_ms: Option<i64>,
}

impl Estimate {
    pub fn percent(&self) -> usize {
        (self.done * 100).checked_div(self.total).unwrap_or(0)
    }
}

impl WorkflowView {
    /// Progress by node when every step acts on one node (consecutive steps on the same node are
    /// one unit: a rollout's ten steps per node), else by step.
    pub fn estimate(&self, now_ms: i64) -> Estimate {
        let by_node = !self.steps.is_empty() && self.steps.iter().all(|s| s.node.is_some());
        let mut units: Vec<Vec<&StepView>> = vec![];
        for s in &self.steps {
            match units.last_mut() {
                Some(u) if by_node && u[0].node == s.node => u.push(s),
                _ => units.push(vec![s]),
            }
        }
        let finished = |u: &Vec<&StepView>| u.iter().all(|s| s.status == StepStatus::Done);
        let span = |u: &Vec<&StepView>| {
            let start = u.iter().filter_map(|s| s.started_at_ms).min()?;
            let end = u.iter().filter_map(|s| s.finished_at_ms).max()?;
            Some(end.saturating_sub(start).max(0))
        };
        let done: Vec<&Vec<&StepView>> = units.iter().filter(|u| finished(u)).collect();
        let spans: Vec<i64> = done.iter().filter_map(|u| span(u)).collect();
        let remaining_ms =
            (self.status == WorkflowStatus::Running && !spans.is_empty()).then(|| {
                let mean = spans.iter().sum::<i64>() / spans.len() as i64;
                let left = (units.len() - done.len()) as i64;
                let current = units
                    .iter()
                    .find(|u| !finished(u))
                    .and_then(|u| u.iter().filter_map(|s| s.started_at_ms).min())
                    .map_or(0, |start| now_ms.saturating_sub(start).max(0));
                (mean * left - current.min(mean)).max(0)
            });
        Estimate {
            done: done.len(),
            total: units.len(),
            unit: if by_node { "node" } else { "step" },
            remaining_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for k in WorkflowKind::ALL {
            assert_eq!(WorkflowKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap_or_default(),
                format!("\"{}\"", k.as_str())
            );
        }
        for s in WorkflowStatus::ALL {
            assert_eq!(WorkflowStatus::parse(s.as_str()), Some(s));
        }
        for s in StepStatus::ALL {
            assert_eq!(StepStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(WorkflowKind::parse("Create"), None);
        assert_eq!(WorkflowStatus::parse(""), None);
    }

    #[test]
    fn operator_actions_follow_the_status() {
        use WorkflowAction::*;
        use WorkflowStatus::*;
        assert!(Running.allows(Pause) && Running.allows(Abort) && !Running.allows(Retry));
        assert!(Paused.allows(Resume) && Paused.allows(Abort) && !Paused.allows(Pause));
        assert!(Failed.allows(Retry) && Failed.allows(Abort) && !Failed.allows(Resume));
        for a in [Pause, Resume, Retry, Abort] {
            assert!(!Done.allows(a) && !Aborted.allows(a));
        }
    }

    #[test]
    fn progress_names_the_first_unfinished_step() {
        let step = |title: &str, status| StepView {
            title: title.into(),
            node: None,
            status,
            attempts: 0,
            started_at_ms: None,
            finished_at_ms: None,
            error: None,
        };
        let w = WorkflowView {
            id: "w".into(),
            kind: WorkflowKind::Create,
            status: WorkflowStatus::Running,
            steps: vec![
                step("init", StepStatus::Done),
                step("join", StepStatus::Running),
                step("activate", StepStatus::Pending),
            ],
            error: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        assert_eq!(w.progress(), "step 2 of 3: join");
        let d = StepView {
            started_at_ms: Some(100),
            ..step("x", StepStatus::Running)
        };
        assert_eq!(d.duration_ms(350), Some(250));
    }

    #[test]
    fn estimate_counts_nodes_and_projects_the_mean_node_time() {
        let step = |node: &str, status, start: Option<i64>, end: Option<i64>| StepView {
            title: "s".into(),
            node: Some(node.into()),
            status,
            attempts: 1,
            started_at_ms: start,
            finished_at_ms: end,
            error: None,
        };
        use StepStatus::*;
        let mut w = WorkflowView {
            id: "w".into(),
            kind: WorkflowKind::FirmwareRollout,
            status: WorkflowStatus::Running,
            steps: vec![
                step("a", Done, Some(0), Some(10_000)),
                step("a", Done, Some(10_000), Some(60_000)),
                step("b", Done, Some(60_000), Some(70_000)),
                step("b", Running, Some(70_000), None),
                step("c", Pending, None, None),
                step("c", Pending, None, None),
            ],
            error: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        let e = w.estimate(80_000);
        assert_eq!((e.done, e.total, e.unit, e.percent()), (1, 3, "node", 33));
        // One node took 60 s; two are left and the current one has run 20 s.
        assert_eq!(e.remaining_ms, Some(100_000));
        w.status = WorkflowStatus::Paused;
        assert_eq!(w.estimate(80_000).remaining_ms, None);
        // Steps without a node count one by one; nothing finished, no estimate.
        w.status = WorkflowStatus::Running;
        for s in &mut w.steps {
            s.node = None;
            s.status = Pending;
        }
        let e = w.estimate(80_000);
        assert_eq!(
            (e.done, e.total, e.unit, e.remaining_ms),
            (0, 6, "step", None)
        );
    }
}
