//! The workflow engine on its own, with a scripted runner: retries, failures and Retry, gates,
//! pause / resume / abort, rerun rules, resuming after a restart at every step, and two engines
//! competing for one lease. Runs on SQLite, and on PostgreSQL when the test server is given.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use control::ControlError;
use control::events::Events;
use control::store::{Rerun, StepRow, Store, WorkflowRow};
use control::testing::{scratch_url, wait_for};
use control::workflow::{self, Capability, Engine, Outcome, Planned, Runner, Timing};
use domain::workflow::{StepStatus, WorkflowAction, WorkflowKind, WorkflowStatus};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct TestStep {
    n: usize,
}

/// What the scripted runner does on an attempt of a step.
#[derive(Clone, Debug)]
enum Script {
    Done,
    /// Transient failures on the first `k` attempts, then done.
    FlakyFor(u32),
    /// Fails until told otherwise (see [`Scripted::heal`]).
    Fails,
    /// A gate that does not pass until healed.
    Gate,
    /// Waits until released (or forever).
    Block,
}

#[derive(Default)]
struct State {
    runs: HashMap<usize, u32>,
    statuses: Vec<WorkflowStatus>,
    healed: bool,
}

#[derive(Clone)]
struct Scripted {
    script: Arc<dyn Fn(usize) -> Script + Send + Sync>,
    state: Arc<Mutex<State>>,
    release: Arc<Notify>,
    started: Arc<Notify>,
}

impl Scripted {
    fn new(script: impl Fn(usize) -> Script + Send + Sync + 'static) -> Self {
        Self {
            script: Arc::new(script),
            state: Arc::default(),
            release: Arc::new(Notify::new()),
            started: Arc::new(Notify::new()),
        }
    }

    fn runs(&self, n: usize) -> u32 {
        self.lock().runs.get(&n).copied().unwrap_or(0)
    }

    fn statuses(&self) -> Vec<WorkflowStatus> {
        self.lock().statuses.clone()
    }

    fn heal(&self) {
        self.lock().healed = true;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Runner for Scripted {
    fn run<'a>(&'a self, _w: &'a WorkflowRow, step: &'a StepRow) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let n = serde_json::from_str::<TestStep>(&step.step)
                .map(|s| s.n)
                .unwrap_or(usize::MAX);
            let (attempt, healed) = {
                let mut s = self.lock();
                let runs = s.runs.entry(n).or_insert(0);
                *runs += 1;
                (*runs, s.healed)
            };
            match (self.script)(n) {
                Script::Done => Outcome::Done,
                Script::FlakyFor(k) if attempt <= k => {
                    Outcome::Transient(format!("flaky {attempt}"))
                }
                Script::FlakyFor(_) => Outcome::Done,
                Script::Fails if !healed => Outcome::Failed("broken".into()),
                Script::Gate if !healed => Outcome::Gate("the gate is closed".into()),
                Script::Fails | Script::Gate => Outcome::Done,
                Script::Block => {
                    self.started.notify_one();
                    self.release.notified().await;
                    Outcome::Done
                }
            }
        })
    }

    fn status_changed<'a>(
        &'a self,
        _w: &'a WorkflowRow,
        status: WorkflowStatus,
    ) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            self.lock().statuses.push(status);
            Ok(())
        })
    }
}

fn timing() -> Timing {
    Timing {
        lease: Duration::from_millis(1_500),
        renew_every: Duration::from_millis(300),
        max_attempts: 3,
        retry_after: Duration::from_millis(20),
    }
}

struct Bench {
    store: Store,
    _dir: tempfile::TempDir,
}

async fn bench() -> Bench {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&scratch_url(dir.path()).await)
        .await
        .expect("store");
    Bench { store, _dir: dir }
}

fn engine(store: &Store, runner: &Scripted) -> Engine {
    let engine = Engine::new(store.clone(), Events::new(), timing());
    engine.register(Capability::Clusters, Arc::new(runner.clone()));
    engine
}

async fn workflow(store: &Store, steps: usize, rerun: Rerun) -> String {
    let planned: Vec<Planned<TestStep>> = (0..steps)
        .map(|n| Planned {
            step: TestStep { n },
            title: format!("step {n}"),
            node_id: None,
            rerun,
        })
        .collect();
    let w = workflow::plan("c1", WorkflowKind::Create, &planned).expect("plans");
    store.add_workflow(&w).await.expect("stored");
    w.id
}

async fn status(store: &Store, id: &str) -> WorkflowStatus {
    store
        .workflow(id)
        .await
        .expect("reads")
        .expect("exists")
        .status
}

async fn settle(store: &Store, id: &str, want: WorkflowStatus) {
    wait_for(&format!("the workflow to be {want:?}"), async || {
        status(store, id).await == want
    })
    .await;
}

#[tokio::test]
async fn a_transient_failure_is_tried_again_and_recorded() {
    let b = bench().await;
    let runner = Scripted::new(|n| {
        if n == 1 {
            Script::FlakyFor(2)
        } else {
            Script::Done
        }
    });
    let e = engine(&b.store, &runner);
    let id = workflow(&b.store, 3, Rerun::Safe).await;
    e.spawn(id.clone());
    settle(&b.store, &id, WorkflowStatus::Done).await;
    assert_eq!((runner.runs(0), runner.runs(1), runner.runs(2)), (1, 3, 1));
    let steps = b.store.steps(&id).await.expect("steps");
    assert_eq!(steps[1].attempts, 3);
    assert!(
        steps
            .iter()
            .all(|s| s.status == StepStatus::Done && s.finished_at.is_some())
    );
    assert_eq!(runner.statuses(), vec![WorkflowStatus::Done]);
    let w = b.store.workflow(&id).await.expect("reads").expect("exists");
    assert_eq!(w.lease_holder, None, "the lease is given back");
}

#[tokio::test]
async fn a_failed_step_stops_the_workflow_until_retried() {
    let b = bench().await;
    let runner = Scripted::new(|n| if n == 1 { Script::Fails } else { Script::Done });
    let e = engine(&b.store, &runner);
    let id = workflow(&b.store, 3, Rerun::Safe).await;
    e.spawn(id.clone());
    settle(&b.store, &id, WorkflowStatus::Failed).await;
    let w = b.store.workflow(&id).await.expect("reads").expect("exists");
    assert_eq!(w.error.as_deref(), Some("step 1: broken"));
    assert_eq!(runner.runs(2), 0, "nothing after the failed step runs");
    assert!(matches!(
        e.act(&id, WorkflowAction::Resume).await,
        Err(ControlError::Conflict(_))
    ));
    runner.heal();
    e.act(&id, WorkflowAction::Retry).await.expect("retries");
    settle(&b.store, &id, WorkflowStatus::Done).await;
    assert_eq!((runner.runs(0), runner.runs(1), runner.runs(2)), (1, 2, 1));
    assert_eq!(
        runner.statuses(),
        vec![
            WorkflowStatus::Failed,
            WorkflowStatus::Running,
            WorkflowStatus::Done
        ]
    );
}

#[tokio::test]
async fn a_closed_gate_pauses_with_its_reason_until_resumed() {
    let b = bench().await;
    let runner = Scripted::new(|n| if n == 1 { Script::Gate } else { Script::Done });
    let e = engine(&b.store, &runner);
    let id = workflow(&b.store, 3, Rerun::Safe).await;
    e.spawn(id.clone());
    settle(&b.store, &id, WorkflowStatus::Paused).await;
    let w = b.store.workflow(&id).await.expect("reads").expect("exists");
    assert_eq!(
        (w.current, w.error.as_deref()),
        (1, Some("the gate is closed"))
    );
    let steps = b.store.steps(&id).await.expect("steps");
    assert_eq!(steps[1].status, StepStatus::Pending);
    runner.heal();
    e.act(&id, WorkflowAction::Resume).await.expect("resumes");
    settle(&b.store, &id, WorkflowStatus::Done).await;
}

#[tokio::test]
async fn pause_waits_for_the_running_step_and_abort_ends_the_workflow() {
    let b = bench().await;
    let runner = Scripted::new(|n| if n == 1 { Script::Block } else { Script::Done });
    let e = engine(&b.store, &runner);
    let id = workflow(&b.store, 3, Rerun::Safe).await;
    e.spawn(id.clone());
    runner.started.notified().await;
    e.act(&id, WorkflowAction::Pause).await.expect("pauses");
    assert_eq!(status(&b.store, &id).await, WorkflowStatus::Paused);
    runner.release.notify_one();
    wait_for("the running step to finish", async || {
        b.store
            .workflow(&id)
            .await
            .ok()
            .flatten()
            .is_some_and(|w| w.current == 2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(runner.runs(2), 0, "paused between steps");
    e.act(&id, WorkflowAction::Abort).await.expect("aborts");
    assert_eq!(status(&b.store, &id).await, WorkflowStatus::Aborted);
    assert!(matches!(
        e.act(&id, WorkflowAction::Resume).await,
        Err(ControlError::Conflict(_))
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(runner.runs(2), 0, "an aborted workflow runs nothing more");
    assert_eq!(
        runner.statuses(),
        vec![WorkflowStatus::Paused, WorkflowStatus::Aborted]
    );
}

/// Restarts `engine` on a fresh runtime after the first one died in the middle of step `k`.
#[test]
fn a_restart_resumes_at_every_step_boundary_without_repeating_finished_steps() {
    const STEPS: usize = 4;
    for k in 0..STEPS {
        let first = tokio::runtime::Runtime::new().expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let url = first.block_on(scratch_url(dir.path()));
        let dying = Scripted::new(move |n| if n == k { Script::Block } else { Script::Done });
        let id = first.block_on(async {
            let store = Store::open(&url).await.expect("store");
            let id = workflow(&store, STEPS, Rerun::Safe).await;
            engine(&store, &dying).spawn(id.clone());
            dying.started.notified().await;
            id
        });
        drop(first); // the panel dies while step k runs

        let second = tokio::runtime::Runtime::new().expect("runtime");
        second.block_on(async {
            let store = Store::open(&url).await.expect("store");
            let runner = Scripted::new(|_| Script::Done);
            let e = engine(&store, &runner);
            wait_for("the workflow to be taken over", async || {
                e.start().await.expect("starts") > 0
            })
            .await;
            settle(&store, &id, WorkflowStatus::Done).await;
            for n in 0..STEPS {
                let before = dying.runs(n);
                let after = runner.runs(n);
                assert_eq!(
                    before + after,
                    if n == k { 2 } else { 1 },
                    "step {n}, died in {k}"
                );
                assert_eq!(before, u32::from(n <= k), "step {n}, died in {k}");
            }
        });
    }
}

#[tokio::test]
async fn an_interrupted_step_that_may_not_run_twice_waits_for_an_operator() {
    let b = bench().await;
    let id = workflow(&b.store, 2, Rerun::Ask).await;
    // As the dead process left it: step 0 running.
    b.store.step_started(&id, 0, 1).await.expect("starts");
    let runner = Scripted::new(|_| Script::Done);
    let e = engine(&b.store, &runner);
    e.start().await.expect("starts");
    settle(&b.store, &id, WorkflowStatus::Paused).await;
    let w = b.store.workflow(&id).await.expect("reads").expect("exists");
    assert!(
        w.error
            .as_deref()
            .is_some_and(|e| e.contains("interrupted")),
        "{w:?}"
    );
    assert_eq!(runner.runs(0), 0);
    e.act(&id, WorkflowAction::Resume).await.expect("resumes");
    settle(&b.store, &id, WorkflowStatus::Done).await;
    assert_eq!(runner.runs(0), 1);
}

#[tokio::test]
async fn two_engines_on_one_store_run_each_step_once() {
    let b = bench().await;
    let runner = Scripted::new(|_| Script::Done);
    let (a, c) = (engine(&b.store, &runner), engine(&b.store, &runner));
    for _ in 0..5 {
        let id = workflow(&b.store, 4, Rerun::Safe).await;
        a.spawn(id.clone());
        c.spawn(id.clone());
        a.resume().await.expect("resumes");
        c.resume().await.expect("resumes");
        settle(&b.store, &id, WorkflowStatus::Done).await;
    }
    for n in 0..4 {
        assert_eq!(runner.runs(n), 5, "step {n} ran once per workflow");
    }
}

#[tokio::test]
async fn another_engine_takes_over_when_the_driver_stops_renewing() {
    let b = bench().await;
    let id = workflow(&b.store, 3, Rerun::Safe).await;
    // The first driver holds the lease and then disappears without releasing it.
    let holder = "panel-gone";
    assert!(
        b.store
            .lease_workflow(
                &id,
                holder,
                control::secret::now_ms() + 1_000,
                control::secret::now_ms()
            )
            .await
            .expect("leases")
    );
    let runner = Scripted::new(|_| Script::Done);
    let e = engine(&b.store, &runner);
    assert_eq!(
        e.resume().await.expect("resumes"),
        0,
        "the lease is still valid"
    );
    wait_for(
        "the lease to expire and the workflow to be taken over",
        async || e.resume().await.expect("resumes") > 0,
    )
    .await;
    settle(&b.store, &id, WorkflowStatus::Done).await;
    assert_eq!((runner.runs(0), runner.runs(1), runner.runs(2)), (1, 1, 1));
}
