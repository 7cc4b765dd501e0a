//! Activity: workflows with their step timelines (step, node, start, duration, result, error),
//! live, and the operator's pause / resume / retry / abort — a cluster's, or the firmware
//! upgrades of standalone nodes.
use domain::workflow::{StepStatus, WorkflowAction, WorkflowStatus, WorkflowView};
use domain::{Permission, time};
use leptos::prelude::*;

use crate::api;
use crate::components::{Badge, Can, Card, ConfirmDialog, TABLE, TD, TH};
use crate::live::{use_live, use_toasts};

pub fn status_tone(status: WorkflowStatus) -> &'static str {
    match status {
        WorkflowStatus::Done => "green",
        WorkflowStatus::Failed | WorkflowStatus::Aborted => "red",
        WorkflowStatus::Paused => "amber",
        WorkflowStatus::Running => "slate",
    }
}

fn step_tone(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Done => "green",
        StepStatus::Failed => "red",
        StepStatus::Running => "amber",
        StepStatus::Pending => "slate",
    }
}

fn duration(ms: i64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else {
        time::duration((ms / 1_000) as u64)
    }
}

/// Whose workflows these are: a cluster's (Editors act on them) or the firmware upgrades of
/// standalone nodes (Supervisors act on them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkflowScope {
    Cluster(String),
    Firmware,
}

impl WorkflowScope {
    fn permission(&self) -> Permission {
        match self {
            WorkflowScope::Cluster(_) => Permission::Operate,
            WorkflowScope::Firmware => Permission::Supervise,
        }
    }
}

/// The operator's actions on workflows, and the "Abort?" question. One per page, above the parts
/// that re-render on every live refresh: an abort asked while the timeline refreshes keeps its
/// dialog, and an answer that arrives after a refresh still shows.
#[derive(Clone, Copy)]
struct WorkflowActs {
    act: ServerAction<api::ActOnWorkflow>,
    act_firmware: ServerAction<api::ActOnFirmwareUpgrade>,
    /// (workflow id, its kind's label) being asked about, and whose workflow it is.
    confirm: RwSignal<Option<(String, String)>>,
    confirm_scope: StoredValue<Option<WorkflowScope>>,
}

impl WorkflowActs {
    fn pending(self) -> bool {
        self.act.pending().get() || self.act_firmware.pending().get()
    }

    fn run(self, scope: WorkflowScope, workflow_id: String, action: WorkflowAction) {
        match scope {
            WorkflowScope::Cluster(id) => {
                self.act.dispatch(api::ActOnWorkflow {
                    id,
                    workflow_id,
                    action,
                });
            }
            WorkflowScope::Firmware => {
                self.act_firmware.dispatch(api::ActOnFirmwareUpgrade {
                    workflow_id,
                    action,
                });
            }
        }
    }
}

/// Provides the workflow actions to `children` (every [`WorkflowControls`] of a page needs one
/// of these above it) and holds the abort confirmation.
#[component]
pub fn WorkflowActions(children: Children) -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let acts = WorkflowActs {
        act: ServerAction::new(),
        act_firmware: ServerAction::new(),
        confirm: RwSignal::new(None),
        confirm_scope: StoredValue::new(None),
    };
    Effect::new(move |_| match acts.act.value().get() {
        Some(Ok(())) => live.clusters.update(|n| *n += 1),
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    Effect::new(move |_| match acts.act_firmware.value().get() {
        Some(Ok(())) => live.firmware.update(|n| *n += 1),
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    provide_context(acts);
    view! {
        {children()}
        <ConfirmDialog
            subject=acts.confirm
            title="Abort this operation?"
            action_label="Abort"
            explain=|kind: String| format!("\"{kind}\" stops here: steps that are done stay done, the rest do not run.")
            on_confirm=move |workflow_id: String| {
                if let Some(scope) = acts.confirm_scope.get_value() {
                    acts.run(scope, workflow_id, WorkflowAction::Abort);
                }
            }
        />
    }
}

/// The buttons an operator may press on a workflow in its state.
#[component]
pub fn WorkflowControls(scope: WorkflowScope, workflow: WorkflowView) -> impl IntoView {
    let acts = expect_context::<WorkflowActs>();
    let permission = scope.permission();
    let ids = StoredValue::new((scope, workflow.id.clone()));
    let buttons: Vec<WorkflowAction> = [
        WorkflowAction::Pause,
        WorkflowAction::Resume,
        WorkflowAction::Retry,
        WorkflowAction::Abort,
    ]
    .into_iter()
    .filter(|a| workflow.status.allows(*a))
    .collect();
    let kind = workflow.kind.label().to_string();
    view! {
        <Can permission=permission>
            {
                let (buttons, kind) = (buttons.clone(), kind.clone());
                view! {
                    <span class="inline-flex gap-3 text-sm">
                        {buttons.into_iter().map(|a| {
                            let kind = kind.clone();
                            let class = if a == WorkflowAction::Abort { "text-rose-700 hover:underline" } else { "text-sky-700 hover:underline" };
                            view! {
                                <button class=class data-testid=format!("workflow-{}", a.label().to_lowercase())
                                    disabled=move || acts.pending()
                                    on:click=move |_| {
                                        let (scope, id) = ids.get_value();
                                        if a == WorkflowAction::Abort {
                                            acts.confirm_scope.set_value(Some(scope));
                                            acts.confirm.set(Some((id, kind.clone())));
                                        } else {
                                            acts.run(scope, id, a);
                                        }
                                    }>{a.label()}</button>
                            }
                        }).collect_view()}
                    </span>
                }
            }
        </Can>
    }
}

/// Every recent workflow of the scope, newest first, each with its timeline.
#[component]
pub fn Activity(
    scope: WorkflowScope,
    workflows: Vec<WorkflowView>,
    server_now: i64,
) -> impl IntoView {
    let empty = match scope {
        WorkflowScope::Cluster(_) => "Nothing has run on this cluster yet.",
        WorkflowScope::Firmware => "No firmware upgrade has run yet.",
    };
    view! {
        <Card title="Activity">
            {if workflows.is_empty() {
                view! { <p class="text-sm text-slate-500">{empty}</p> }.into_any()
            } else {
                view! {
                    <div class="space-y-6" data-testid="activity">
                        {workflows.into_iter().map(|w| view! {
                            <WorkflowSection scope=scope.clone() workflow=w server_now/>
                        }).collect_view()}
                    </div>
                }.into_any()
            }}
        </Card>
    }
}

/// A bar of the units done (nodes of a rollout, else steps) and, while it runs, about how long
/// the rest takes; live with the page's clock.
#[component]
fn WorkflowProgress(workflow: WorkflowView, server_now: i64) -> impl IntoView {
    let live = use_live();
    // Held by the closures themselves, not in a StoredValue: the page clock's tick may run them
    // once more after a refresh disposed this part of the page (a disposed StoredValue panics
    // and stops the whole WASM front end).
    let wf = std::sync::Arc::new(workflow);
    let estimate = move || wf.estimate(live.now.get().unwrap_or(server_now));
    let text = {
        let estimate = estimate.clone();
        move || {
            let e = estimate();
            let plural = if e.total == 1 { "" } else { "s" };
            let left = e
                .remaining_ms
                .map(|ms| format!(" · about {} left", duration(ms)))
                .unwrap_or_default();
            format!("{} of {} {}{plural} done{left}", e.done, e.total, e.unit)
        }
    };
    let (done, total, percent) = (estimate.clone(), estimate.clone(), estimate);
    view! {
        <div class="mb-2 flex flex-wrap items-center gap-3" data-testid="workflow-progress"
            data-done=move || done().done data-total=move || total().total>
            <progress class="w-64" max="100" value=move || percent().percent()></progress>
            <span class="text-xs text-slate-600" data-testid="workflow-eta">{text}</span>
        </div>
    }
}

/// One workflow: kind, status, the operator's buttons, why it stopped, its progress and its
/// step timeline (step, node, start, duration, result, error).
#[component]
pub fn WorkflowSection(
    scope: WorkflowScope,
    workflow: WorkflowView,
    server_now: i64,
) -> impl IntoView {
    let live = use_live();
    let w = workflow;
    let now = move || live.now.get().unwrap_or(server_now);
    let steps = w.steps.clone();
    view! {
        <section data-testid="workflow" data-kind=w.kind.as_str() data-status=w.status.as_str()>
            <div class="flex flex-wrap items-center gap-3 mb-2">
                <h3 class="font-medium text-slate-900">{w.kind.label()}</h3>
                <Badge text=w.status.label().to_string() tone=status_tone(w.status)/>
                <span class="text-xs text-slate-500">{time::ago(server_now, w.created_at_ms)}</span>
                <WorkflowControls scope=scope.clone() workflow=w.clone()/>
            </div>
            {w.error.clone().map(|e| view! { <p class="mb-2 text-sm text-rose-700" data-testid="workflow-error">{e}</p> })}
            <WorkflowProgress workflow=w.clone() server_now=server_now/>
            <div class="overflow-x-auto">
                <table class=TABLE>
                    <thead><tr>
                        <th class=TH>"Step"</th><th class=TH>"Node"</th><th class=TH>"Started"</th>
                        <th class=TH>"Duration"</th><th class=TH>"Result"</th><th class=TH>"Error"</th>
                    </tr></thead>
                    <tbody class="divide-y divide-slate-100">
                        {steps.into_iter().map(|s| {
                            let started = s.started_at_ms.map(|t| time::ago(server_now, t)).unwrap_or_else(|| "—".into());
                            let timed = s.clone();
                            let attempts = (s.attempts > 1).then(|| format!(" ({} attempts)", s.attempts));
                            view! {
                                <tr data-testid="timeline-step" data-status=s.status.as_str()>
                                    <td class=TD>{s.title.clone()}</td>
                                    <td class=TD>{s.node.clone().unwrap_or_else(|| "—".into())}</td>
                                    <td class=TD>{started}</td>
                                    <td class=TD>{move || timed.duration_ms(now()).map(duration).unwrap_or_else(|| "—".into())}</td>
                                    <td class=TD><Badge text=s.status.as_str().to_string() tone=step_tone(s.status)/>{attempts}</td>
                                    <td class=TD><span class="text-rose-700">{s.error.clone().unwrap_or_default()}</span></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
