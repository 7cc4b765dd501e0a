//! The apps installed on a cluster, one card each (on the cluster page): per service its mode,
//! desired vs running tasks (jobs: completed x/y), its state with Swarm's errors, and the node of
//! each task; logs per service; uninstall.
use domain::workload::compose::ServiceMode;
use domain::workload::install::{ServiceView, WorkloadPhase, WorkloadView};
use domain::workload::library::AppView;
use domain::workload::observe::ServiceState;
use domain::{AppError, Permission, Snapshot};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api;
use crate::components::{BUTTON, BUTTON_SECONDARY, Badge, Can, ConfirmDialog, ErrorBox, TD, TH};
use crate::live::{use_live, use_toasts};

fn state_tone(s: ServiceState) -> &'static str {
    match s {
        ServiceState::Running | ServiceState::Completed => "green",
        ServiceState::Installing | ServiceState::Degraded => "amber",
        ServiceState::Failed => "red",
        ServiceState::Stopped => "slate",
    }
}

fn phase_label(p: WorkloadPhase) -> &'static str {
    match p {
        WorkloadPhase::Deploying => "Deploying",
        WorkloadPhase::Deployed => "Deployed",
        WorkloadPhase::Failed => "Deploy failed",
        WorkloadPhase::Removing => "Removing",
    }
}

/// Tasks of a service: "2/2 running" or, for jobs, "3/3 completed".
fn progress(s: &ServiceView) -> String {
    if s.mode.is_job() {
        format!("{}/{} completed", s.completed, s.desired)
    } else {
        format!("{}/{} running", s.running, s.desired)
    }
}

fn mode_label(m: ServiceMode) -> &'static str {
    m.as_str()
}

/// The service whose logs are open, and the action that reads them. Kept above the cards, which
/// are rebuilt on every live refresh.
#[derive(Clone, Copy)]
struct Logs {
    open: RwSignal<Option<(String, String)>>,
    read: ServerAction<api::ServiceLogs>,
}

/// Start/stop and update, and the version chosen per app. Kept above the cards too.
#[derive(Clone, Copy)]
struct Changes {
    running: ServerAction<api::SetAppRunning>,
    update: ServerAction<api::UpdateApp>,
    /// (workload id, version id) chosen in a card's "Update to" list.
    target: RwSignal<Option<(String, String)>>,
    /// Versions of every app: app id → (version id, label), newest first.
    versions: Resource<Result<Snapshot<Vec<AppView>>, AppError>>,
}

/// The "Apps" section of a cluster page.
#[component]
pub fn InstalledApps(cluster_id: String) -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let id = StoredValue::new(cluster_id);
    let apps = Resource::new(
        move || live.clusters.get(),
        move |_| api::installed_apps(id.get_value()),
    );
    let uninstall = ServerAction::<api::UninstallApp>::new();
    Effect::new(move |_| match uninstall.value().get() {
        Some(Ok(())) => {
            toasts.success("Uninstalling.");
            live.clusters.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    let confirm = RwSignal::new(None::<(String, String)>);
    let logs = Logs {
        open: RwSignal::new(None),
        read: ServerAction::new(),
    };
    let changes = Changes {
        running: ServerAction::new(),
        update: ServerAction::new(),
        target: RwSignal::new(None),
        versions: Resource::new(move || live.library.get(), |_| api::library()),
    };
    let report = move |r: Option<Result<(), AppError>>, done: &'static str| match r {
        Some(Ok(())) => {
            toasts.success(done);
            live.clusters.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    };
    Effect::new(move |_| report(changes.running.value().get(), "Done; the services follow."));
    Effect::new(move |_| {
        report(
            changes.update.value().get(),
            "Updating; Swarm rolls each service.",
        )
    });
    view! {
        <section class="mt-6 bg-white rounded-lg border border-slate-200 shadow-sm p-5" data-testid="apps">
        <h2 class="text-sm font-semibold text-slate-700 mb-2">"Apps"</h2>
        <div class="flex items-center justify-between mb-3">
            <p class="text-sm text-slate-500">"Apps and models deployed on this cluster as Swarm services."</p>
            <Can permission=Permission::Operate>
                <A href=move || format!("/clusters/{}/install", id.get_value()) attr:class=BUTTON attr:data-testid="install-app">"Install app"</A>
            </Can>
        </div>
        <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading apps…"</p> }>
            {move || Suspend::new(async move {
                match apps.await {
                    // The cluster is gone: its page says so.
                    Err(AppError::NotFound(_)) => ().into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(s) if s.data.is_empty() => view! {
                        <p class="text-sm text-slate-500" data-testid="no-apps">"No app is installed on this cluster."</p>
                    }.into_any(),
                    Ok(s) => view! {
                        <div class="space-y-4">
                            {s.data.into_iter().map(|w| view! { <AppCard app=w confirm logs changes/> }).collect_view()}
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
        <ConfirmDialog
            subject=confirm
            title="Uninstall this app?"
            action_label="Uninstall"
            explain=|name: String| format!("The services of {name} stop and are removed, with the networks, secrets and configs it declared. Nothing else on the cluster changes.")
            on_confirm=move |id: String| { uninstall.dispatch(api::UninstallApp { id }); }
        />
        </section>
    }
}

#[component]
fn AppCard(
    app: WorkloadView,
    confirm: RwSignal<Option<(String, String)>>,
    logs: Logs,
    changes: Changes,
) -> impl IntoView {
    let (id, name) = (app.id.clone(), app.name.clone());
    let removable = matches!(app.phase, WorkloadPhase::Deployed | WorkloadPhase::Failed);
    let (app_id, current) = (app.app_id.clone(), app.version_id.clone());
    let stopped = app.stopped;
    let controls = removable
        .then(|| {
            // Plain values owned by the closures, not reactive values of this card: a refresh
            // disposes the card while a render effect of it may still be queued (a disposed
            // value read then panics and stops the front end).
            let workload = app.id.clone();
            let others = move || {
                changes
                    .versions
                    .get()
                    .and_then(Result::ok)
                    .map(|s| {
                        s.data
                            .into_iter()
                            .filter(|a| a.id == app_id)
                            .flat_map(|a| a.versions)
                            .filter(|v| v.id != current)
                            .map(|v| (v.id, v.version))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            };
            view! {
                <Can permission=Permission::Operate>
                    {
                        // The children are re-created when the role check changes: each copy
                        // gets its own values.
                        let (for_run, for_target, for_update) = (workload.clone(), workload.clone(), workload.clone());
                        let others = others.clone();
                        view! {
                            <button class=BUTTON_SECONDARY data-testid=if stopped { "start-app" } else { "stop-app" }
                                on:click=move |_| { changes.running.dispatch(api::SetAppRunning { id: for_run.clone(), run: stopped }); }>
                                {if stopped { "Start" } else { "Stop" }}
                            </button>
                            <select class="rounded-md border border-slate-300 px-2 py-1.5 text-sm" aria-label="Update to"
                                on:change=move |ev| changes.target.set(Some((for_target.clone(), event_target_value(&ev))))>
                                <option value="">"Update to…"</option>
                                {move || others().into_iter().map(|(id, label)| view! { <option value=id>{label}</option> }).collect_view()}
                            </select>
                            <button class=BUTTON_SECONDARY data-testid="update-app"
                                on:click=move |_| {
                                    if let Some((w, v)) = changes.target.get_untracked().filter(|(w, v)| *w == for_update && !v.is_empty()) {
                                        changes.update.dispatch(api::UpdateApp { id: w, version_id: v });
                                    }
                                }>"Update"</button>
                        }
                    }
                </Can>
            }
        })
        .into_any();
    let header = view! {
        <div class="flex items-start justify-between gap-4 px-4 py-3 border-b border-slate-200">
            <div>
                <h3 class="font-semibold text-slate-900">{app.name.clone()}</h3>
                <p class="text-sm text-slate-500">
                    {format!("{} {} · {}", app.app_name, app.version, app.kind_label)}
                </p>
            </div>
            <div class="flex items-center gap-2">
                {controls}
                {stopped.then(|| view! { <span data-testid="app-stopped"><Badge text="Stopped".to_string() tone="slate"/></span> })}
                <span data-testid="app-phase" data-phase=app.phase.as_str()>
                    <Badge text=phase_label(app.phase).to_string() tone=match app.phase { WorkloadPhase::Deployed => "green", WorkloadPhase::Failed => "red", _ => "amber" }/>
                </span>
                {removable.then(|| view! {
                    <Can permission=Permission::Supervise>
                        {
                            let (id, name) = (id.clone(), name.clone());
                            view! {
                                <button class=BUTTON_SECONDARY data-testid="uninstall"
                                    on:click=move |_| confirm.set(Some((id.clone(), name.clone())))>"Uninstall"</button>
                            }
                        }
                    </Can>
                })}
            </div>
        </div>
    }
    .into_any();
    let services = if app.services.is_empty() {
        view! { <p class="px-4 py-3 text-sm text-slate-500">"Waiting for the managers to report the services…"</p> }.into_any()
    } else {
        let workload = app.id.clone();
        view! {
            <table class="min-w-full divide-y divide-slate-200 text-sm">
                <thead><tr>
                    <th class=TH>"Service"</th><th class=TH>"Mode"</th><th class=TH>"Tasks"</th>
                    <th class=TH>"State"</th><th class=TH>"Where"</th><th class=TH></th>
                </tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {app.services.into_iter().map(|s| view! { <ServiceRow service=s workload=workload.clone() logs/> }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <section class="bg-white rounded-lg border border-slate-200 shadow-sm" data-testid="app-card" data-name=app.name.clone()>
            {header}
            <div class="overflow-x-auto">{services}</div>
        </section>
    }
}

#[component]
fn ServiceRow(service: ServiceView, workload: String, logs: Logs) -> impl IntoView {
    let s = service;
    let key = (workload, s.name.clone());
    let this = StoredValue::new(key.clone());
    let open = move || logs.open.with(|o| o.as_ref() == Some(&key));
    let where_ = s
        .tasks
        .iter()
        .filter(|t| !t.node.is_empty() && t.desired == t.state)
        .map(|t| format!("{} ({})", t.node, t.state.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let details = view! {
        {(!s.errors.is_empty()).then(|| view! {
            <ul class="mt-1 text-xs text-rose-700" data-testid="service-errors">
                {s.errors.iter().map(|e| view! { <li>{e.clone()}</li> }).collect_view()}
            </ul>
        })}
        {s.update.clone().map(|u| view! { <p class="mt-1 text-xs text-amber-800" data-testid="service-update">{u}</p> })}
    }
    .into_any();
    view! {
        <tr data-testid="service-row" data-service=s.name.clone() data-state=s.state.as_str()
            data-running=s.running.to_string() data-desired=s.desired.to_string() data-completed=s.completed.to_string()>
            <td class=TD>
                <span class="font-medium">{s.name.clone()}</span>
                <p class="text-xs text-slate-500 font-mono">{s.image.clone()}</p>
                {s.version.clone().map(|v| view! { <p class="text-xs text-slate-500" data-testid="service-version">{format!("version {v}")}</p> })}
            </td>
            <td class=TD>{mode_label(s.mode)}</td>
            <td class=TD data-testid="service-progress">{progress(&s)}</td>
            <td class=TD>
                <Badge text=s.state.as_str().to_string() tone=state_tone(s.state)/>
                {details}
            </td>
            <td class=TD data-testid="service-nodes">{where_}</td>
            <td class=TD>
                <Can permission=Permission::Operate>
                    <button class="text-sky-700 hover:underline text-sm" data-testid="service-logs"
                        on:click=move |_| {
                            let (id, service) = this.get_value();
                            if logs.open.get_untracked().as_ref() == Some(&(id.clone(), service.clone())) {
                                logs.open.set(None);
                            } else {
                                logs.open.set(Some((id.clone(), service.clone())));
                                logs.read.dispatch(api::ServiceLogs { id, service });
                            }
                        }>"Logs"</button>
                </Can>
            </td>
        </tr>
        <Show when=open.clone()>
            <tr><td colspan="6" class="px-4 pb-3">
                {move || match logs.read.value().get() {
                    _ if logs.read.pending().get() => view! { <p class="text-xs text-slate-500">"Reading logs…"</p> }.into_any(),
                    None => view! { <p class="text-xs text-slate-500">"Reading logs…"</p> }.into_any(),
                    Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                    Some(Ok(lines)) if lines.is_empty() => view! {
                        <p class="text-xs text-slate-500" data-testid="logs">"No log lines yet."</p>
                    }.into_any(),
                    Some(Ok(lines)) => view! {
                        <pre class="max-h-64 overflow-auto rounded bg-slate-900 p-3 text-xs text-slate-100" data-testid="logs">{lines.join("\n")}</pre>
                    }.into_any(),
                }}
            </td></tr>
        </Show>
    }
}
