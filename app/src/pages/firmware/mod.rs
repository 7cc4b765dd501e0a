//! The Firmware page: the artifacts (upload with a progress bar, list, delete), the upgrade of
//! standalone nodes (choose a firmware, the nodes, how many at a time and how long each may take
//! to come back), and the upgrades' activity, live. Supervisors upload and upgrade; everybody
//! reads.
pub mod gates;
mod rollouts;
mod upload;

use domain::firmware::{FirmwareDraft, FirmwareNode, FirmwareView, RolloutDraft, UpgradeDraft};
use domain::{AppError, Permission, ValidationError, time};
use leptos::prelude::*;

use crate::api;
use crate::components::{
    BUTTON, Badge, Can, Card, ConfirmDialog, EmptyState, ErrorBox, PageHeader, TABLE, TD, TH,
};
use crate::forms::{field_errors, form_errors};
use crate::live::{report_done, use_live, use_toasts};
use crate::pages::activity::{Activity, WorkflowActions, WorkflowScope};

const INPUT: &str = "block w-full rounded-md border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-sky-300";

fn message(errors: &[ValidationError], field: &str) -> Option<String> {
    let all: Vec<&str> = errors
        .iter()
        .filter(|e| e.field == field)
        .map(|e| e.message.as_str())
        .collect();
    (!all.is_empty()).then(|| all.join("; "))
}

/// The images to choose from (version and target).
#[component]
fn ArtifactSelect(chosen: RwSignal<String>, testid: &'static str) -> impl IntoView {
    let live = use_live();
    let artifacts = Resource::new(move || live.firmware.get(), |_| api::firmware_artifacts());
    view! {
        <select class=INPUT data-testid=testid on:change=move |e| chosen.set(event_target_value(&e))>
            <option value="">"Choose…"</option>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    artifacts.await.map(|s| s.data.into_iter().map(|a| view! {
                        <option value=a.id.clone()>{format!("{} ({})", a.version, a.target)}</option>
                    }).collect_view()).ok()
                })}
            </Transition>
        </select>
    }
}

#[component]
pub fn FirmwarePage() -> impl IntoView {
    let live = use_live();
    let artifacts = Resource::new(move || live.firmware.get(), |_| api::firmware_artifacts());
    let delete = ServerAction::<api::DeleteFirmware>::new();
    report_done(
        move || delete.value().get(),
        "Firmware deleted.",
        live.firmware,
    );
    let confirm = RwSignal::new(None::<(String, String)>);
    view! {
        <WorkflowActions>
        <PageHeader title="Firmware" subtitle="Signed firmware images, and upgrades of standalone nodes: install, reboot, wait until each node is back healthy, commit — or roll back."/>
        <Can permission=Permission::Supervise>
            <div class="mb-6"><Upload/></div>
        </Can>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading firmware…"</p> }>
            {move || Suspend::new(async move {
                match artifacts.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(s) if s.data.is_empty() => view! {
                        <EmptyState title="No firmware yet" hint="A Supervisor uploads an image with its version and target."/>
                    }.into_any(),
                    Ok(s) => view! { <Artifacts list=s.data now=s.now_ms confirm/> }.into_any(),
                }
            })}
        </Transition>
        <Can permission=Permission::Supervise>
            <div class="my-6"><RolloutForm/></div>
        </Can>
        <rollouts::ClusterRollouts/>
        <Can permission=Permission::Supervise>
            <div class="my-6"><UpgradeForm/></div>
        </Can>
        <UpgradeActivity/>
        <ConfirmDialog
            subject=confirm
            title="Delete this firmware?"
            action_label="Delete"
            explain=|name: String| format!("{name} is removed from the panel; nodes that run it keep running it.")
            on_confirm=move |id: String| { delete.dispatch(api::DeleteFirmware { id }); }
        />
        </WorkflowActions>
    }
}

#[component]
fn Artifacts(
    list: Vec<FirmwareView>,
    now: i64,
    confirm: RwSignal<Option<(String, String)>>,
) -> impl IntoView {
    view! {
        <Card title="Images">
            <div class="overflow-x-auto">
                <table class=TABLE>
                    <thead><tr>
                        <th class=TH>"Version"</th><th class=TH>"Target"</th><th class=TH>"Size"</th>
                        <th class=TH>"SHA-256"</th><th class=TH>"Uploaded"</th><th class=TH>"Notes"</th><th class=TH></th>
                    </tr></thead>
                    <tbody class="divide-y divide-slate-100">
                        {list.into_iter().map(|a| {
                            let subject = (a.id.clone(), format!("Firmware {} for {}", a.version, a.target));
                            view! {
                                <tr data-testid="firmware-row" data-version=a.version.clone()>
                                    <td class=TD><span class="font-mono">{a.version.clone()}</span></td>
                                    <td class=TD><span class="font-mono">{a.target.clone()}</span></td>
                                    <td class=TD data-testid="firmware-size">{time::bytes(a.size)}</td>
                                    <td class=TD><span class="font-mono text-xs" title=a.sha256.clone() data-testid="firmware-sha">{a.sha256.chars().take(16).collect::<String>()}"…"</span></td>
                                    <td class=TD>{format!("{} by {}", time::ago(now, a.uploaded_at_ms), a.uploaded_by)}</td>
                                    <td class=TD>{a.notes.clone()}</td>
                                    <td class=format!("{TD} text-right")>
                                        <Can permission=Permission::Supervise>
                                            {
                                                let subject = subject.clone();
                                                view! {
                                                    <button class="text-sm text-rose-700 hover:underline" data-testid="delete-firmware"
                                                        on:click=move |_| confirm.set(Some(subject.clone()))>"Delete"</button>
                                                }
                                            }
                                        </Can>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </Card>
    }
}

/// Version, target, notes and the file; checked inline as the server checks them, then sent
/// with a progress bar.
#[component]
fn Upload() -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let (version, target, notes) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let tried = RwSignal::new(false);
    let server = RwSignal::new(Vec::<ValidationError>::new());
    let progress = RwSignal::new(None::<u32>);
    let file = NodeRef::<leptos::html::Input>::new();
    let draft = move || FirmwareDraft {
        version: version.get(),
        target: target.get(),
        notes: notes.get(),
    };
    let errors = Memo::new(move |_| {
        let mut all = if tried.get() {
            draft().validate().err().unwrap_or_default()
        } else {
            vec![]
        };
        all.extend(server.get());
        all
    });
    let done = Callback::new(move |result: Result<FirmwareView, AppError>| {
        progress.set(None);
        match result {
            Ok(view) => {
                toasts.success(format!("Firmware {} uploaded.", view.version));
                version.set(String::new());
                notes.set(String::new());
                tried.set(false);
                if let Some(input) = file.get() {
                    input.set_value("");
                }
                live.firmware.update(|n| *n += 1);
            }
            Err(e) => {
                let fields = field_errors(&e);
                if fields.is_empty() {
                    toasts.error(&e);
                }
                server.set(fields);
            }
        }
    });
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        server.set(vec![]);
        if draft().validate().is_err() {
            return;
        }
        upload::send(file, draft(), progress, done);
    };
    let err = move |f: &'static str| Signal::derive(move || message(&errors.get(), f));
    view! {
        <Card title="Upload an image">
            <form class="grid gap-4 md:grid-cols-2" on:submit=send data-testid="upload-form">
                <label class="block text-sm">"Version"
                    <input class=INPUT name="version" data-testid="firmware-version" prop:value=version on:input=move |e| version.set(event_target_value(&e))/>
                    <span class="text-xs text-rose-700" data-testid="error-version">{move || err("version").get()}</span>
                </label>
                <label class="block text-sm">"Target"
                    <input class=INPUT name="target" placeholder="x86_64 or aarch64/board" data-testid="firmware-target" prop:value=target on:input=move |e| target.set(event_target_value(&e))/>
                    <span class="text-xs text-rose-700" data-testid="error-target">{move || err("target").get()}</span>
                </label>
                <label class="block text-sm md:col-span-2">"Notes"
                    <textarea class=INPUT name="notes" rows="2" data-testid="firmware-notes" prop:value=notes on:input=move |e| notes.set(event_target_value(&e))></textarea>
                    <span class="text-xs text-rose-700">{move || err("notes").get()}</span>
                </label>
                <label class="block text-sm md:col-span-2">"Image file"
                    <input type="file" node_ref=file class="block text-sm" data-testid="firmware-file"/>
                    <span class="text-xs text-rose-700" data-testid="error-file">{move || err("file").get()}</span>
                </label>
                <div class="md:col-span-2 flex items-center gap-4">
                    <button class=BUTTON type="submit" data-testid="upload" disabled=move || progress.get().is_some()>"Upload"</button>
                    {move || progress.get().map(|p| view! {
                        <progress class="w-64" max="100" value=p data-testid="upload-progress"></progress>
                        <span class="text-sm text-slate-600">{format!("{p} %")}</span>
                    })}
                </div>
            </form>
        </Card>
    }
}

#[component]
fn UpgradeForm() -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let nodes = Resource::new(move || live.firmware.get(), |_| api::firmware_nodes());
    let upgrade = ServerAction::<api::UpgradeNodes>::new();
    let (artifact, concurrency, gate) = (
        RwSignal::new(String::new()),
        RwSignal::new("1".to_string()),
        RwSignal::new("180".to_string()),
    );
    let chosen = RwSignal::new(Vec::<String>::new());
    let tried = RwSignal::new(false);
    let draft = move || UpgradeDraft {
        artifact_id: artifact.get(),
        node_ids: chosen.get(),
        concurrency: concurrency.get(),
        gate_secs: gate.get(),
    };
    Effect::new(move |_| match upgrade.value().get() {
        Some(Ok(_)) => {
            toasts.success("Upgrade started.");
            chosen.set(vec![]);
            tried.set(false);
            live.firmware.update(|n| *n += 1);
        }
        Some(Err(ref e)) if field_errors(e).is_empty() => toasts.error(e),
        _ => {}
    });
    let errors = form_errors(
        move || tried.get(),
        move || draft().validate().err().unwrap_or_default(),
        move || upgrade.value().get(),
    );
    let err = move |f: &'static str| Signal::derive(move || message(&errors.get(), f));
    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        if draft().validate().is_ok() {
            upgrade.dispatch(api::UpgradeNodes { draft: draft() });
        }
    };
    view! {
        <Card title="Upgrade standalone nodes">
            <form class="space-y-4" on:submit=start data-testid="upgrade-form">
                <label class="block text-sm">"Firmware"
                    <ArtifactSelect chosen=artifact testid="upgrade-artifact"/>
                    <span class="text-xs text-rose-700" data-testid="error-artifact">{move || err("artifact").get()}</span>
                </label>
                <fieldset class="text-sm">
                    <legend class="mb-1">"Nodes"</legend>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            match nodes.await {
                                Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                                Ok(list) => view! { <NodeChoices list chosen/> }.into_any(),
                            }
                        })}
                    </Transition>
                    <span class="text-xs text-rose-700" data-testid="error-nodes">{move || err("nodes").get()}</span>
                </fieldset>
                <div class="grid gap-4 md:grid-cols-2">
                    <label class="block text-sm">"Nodes at a time"
                        <input class=INPUT data-testid="upgrade-concurrency" prop:value=concurrency on:input=move |e| concurrency.set(event_target_value(&e))/>
                        <span class="text-xs text-rose-700">{move || err("concurrency").get()}</span>
                    </label>
                    <label class="block text-sm">"Seconds a node may take to come back healthy"
                        <input class=INPUT data-testid="upgrade-gate" prop:value=gate on:input=move |e| gate.set(event_target_value(&e))/>
                        <span class="text-xs text-rose-700">{move || err("gate_secs").get()}</span>
                    </label>
                </div>
                <button class=BUTTON type="submit" data-testid="start-upgrade" disabled=move || upgrade.pending().get()>"Start the upgrade"</button>
            </form>
        </Card>
    }
}

/// A cluster's nodes one at a time, its VIPs handed over make-before-break; the rollout's steps
/// show on the cluster's activity.
#[component]
fn RolloutForm() -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    // The clusters to choose from: the first of the largest page the list gives.
    let clusters = Resource::new(
        move || live.clusters.get(),
        |_| {
            api::list_clusters(
                None,
                None,
                None,
                None,
                Some(domain::list::MAX_PAGE_SIZE.to_string()),
            )
        },
    );
    let rollout = ServerAction::<api::RolloutFirmware>::new();
    let (cluster, artifact, gate) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new("180".to_string()),
    );
    let tried = RwSignal::new(false);
    let draft = move || RolloutDraft {
        cluster_id: cluster.get(),
        artifact_id: artifact.get(),
        gate_secs: gate.get(),
    };
    let started = RwSignal::new(None::<String>);
    Effect::new(move |_| match rollout.value().get() {
        Some(Ok(_)) => {
            toasts.success("Rollout started.");
            started.set(Some(cluster.get_untracked()));
            tried.set(false);
        }
        Some(Err(ref e)) if field_errors(e).is_empty() => toasts.error(e),
        _ => {}
    });
    let errors = form_errors(
        move || tried.get(),
        move || draft().validate().err().unwrap_or_default(),
        move || rollout.value().get(),
    );
    let err = move |f: &'static str| Signal::derive(move || message(&errors.get(), f));
    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        if draft().validate().is_ok() {
            rollout.dispatch(api::RolloutFirmware { draft: draft() });
        }
    };
    view! {
        <Card title="Roll out to a cluster">
            <form class="space-y-4" on:submit=start data-testid="rollout-form">
                <p class="text-sm text-slate-600">"Workers first, then managers, the VIP holder last; one node at a time, each drained and its virtual IPs handed over before it goes down, and back serving before the next one."</p>
                <div class="grid gap-4 md:grid-cols-3">
                    <label class="block text-sm">"Cluster"
                        <select class=INPUT data-testid="rollout-cluster" on:change=move |e| cluster.set(event_target_value(&e))>
                            <option value="">"Choose…"</option>
                            <Transition fallback=|| ()>
                                {move || Suspend::new(async move {
                                    clusters.await.map(|s| s.data.page.rows.into_iter().map(|c| view! {
                                        <option value=c.id.clone()>{c.name.clone()}</option>
                                    }).collect_view()).ok()
                                })}
                            </Transition>
                        </select>
                        <span class="text-xs text-rose-700" data-testid="error-cluster">{move || err("cluster").get()}</span>
                    </label>
                    <label class="block text-sm">"Firmware"
                        <ArtifactSelect chosen=artifact testid="rollout-artifact"/>
                        <span class="text-xs text-rose-700" data-testid="error-rollout-artifact">{move || err("artifact").get()}</span>
                    </label>
                    <label class="block text-sm">"Seconds a node may take to serve again"
                        <input class=INPUT data-testid="rollout-gate" prop:value=gate on:input=move |e| gate.set(event_target_value(&e))/>
                        <span class="text-xs text-rose-700">{move || err("gate_secs").get()}</span>
                    </label>
                </div>
                <div class="flex items-center gap-4">
                    <button class=BUTTON type="submit" data-testid="start-rollout" disabled=move || rollout.pending().get()>"Start the rollout"</button>
                    {move || started.get().map(|id| view! {
                        <a class="text-sm text-sky-700 hover:underline" href=format!("/clusters/{id}") data-testid="rollout-link">"Follow it below or on the cluster's page"</a>
                    })}
                </div>
            </form>
        </Card>
    }
}

#[component]
fn NodeChoices(list: Vec<FirmwareNode>, chosen: RwSignal<Vec<String>>) -> impl IntoView {
    view! {
        <ul class="divide-y divide-slate-100 border border-slate-200 rounded-md">
            {list.into_iter().map(|n| {
                let id = StoredValue::new(n.id.clone());
                let why_not = n.cluster.as_ref().map(|c| format!("in cluster {c}: upgraded by its rollout"))
                    .or_else(|| (!n.online).then(|| "offline".to_string()));
                let disabled = why_not.is_some();
                view! {
                    <li class="flex items-center gap-3 px-3 py-2" data-testid="firmware-node" data-hostname=n.hostname.clone()>
                        <input type="checkbox" disabled=disabled
                            prop:checked=move || chosen.with(|c| c.contains(&id.get_value()))
                            on:change=move |e| {
                                let on = event_target_checked(&e);
                                chosen.update(|c| {
                                    c.retain(|x| *x != id.get_value());
                                    if on { c.push(id.get_value()); }
                                });
                            }/>
                        <span class="font-medium">{n.hostname.clone()}</span>
                        <span class="font-mono text-xs text-slate-600" data-testid="node-firmware">{n.version.clone()}</span>
                        <span class="text-xs text-slate-500">{if n.board.is_empty() { n.arch.clone() } else { format!("{}/{}", n.arch, n.board) }}</span>
                        {(!n.state.is_empty() && n.state != "idle").then(|| view! { <span data-testid="node-firmware-state"><Badge text=n.state.clone() tone="slate"/></span> })}
                        {why_not.map(|w| view! { <span class="text-xs text-slate-500">{w}</span> })}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

#[component]
fn UpgradeActivity() -> impl IntoView {
    let live = use_live();
    let activity = Resource::new(move || live.firmware.get(), |_| api::firmware_activity());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match activity.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(s) => view! { <Activity scope=WorkflowScope::Firmware workflows=s.data server_now=s.now_ms/> }.into_any(),
                }
            })}
        </Transition>
    }
}
