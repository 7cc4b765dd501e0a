use domain::cluster::{ClusterDetail, MemberView, NodeAction};
use domain::health::Health;
use domain::protocol::JoinTokens;
use domain::swarm::{Availability, SwarmRole, labels_text};
use domain::workflow::{StepStatus, WorkflowStatus};
use domain::{AppError, Permission};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::cards::{Topology, fact, publishing, swarm_facts, vip_list};
use super::changes::ClusterChanges;
use super::health_tone;
use super::members::{AddNode, EditCluster, EditValues, MembershipState, removal_explained};
use super::networks::Networks;
use super::volumes::volumes_card;
use crate::api;
use crate::components::{
    AfterHydration, BUTTON_SECONDARY, Badge, Can, Card, ConfirmDialog, ErrorBox, TABLE, TD, TH,
    allowed,
};
use crate::live::{use_live, use_toasts};
use crate::pages::activity::{
    Activity, WorkflowActions, WorkflowControls, WorkflowScope, status_tone,
};
use crate::pages::config::global::GlobalConfig;
use crate::pages::config::objects::SwarmObjects;
use crate::pages::config::secrets::GlobalSecrets;
use crate::pages::firmware::gates::RolloutGates;
use crate::pages::workloads::credentials::RegistryCredentials;
use crate::pages::workloads::installed::InstalledApps;

/// Actions and form state of the cluster page. They live above the part that re-renders on every
/// live refresh, so an answer that arrives after a refresh still shows, and typing survives it.
#[derive(Clone, Copy)]
pub struct PageState {
    pub retry: ServerAction<api::RetryCluster>,
    pub delete: ServerAction<api::DeleteCluster>,
    pub node_action: ServerAction<api::ClusterNodeAction>,
    pub tokens: ServerAction<api::JoinTokens>,
    pub shown_tokens: RwSignal<Option<JoinTokens>>,
    pub confirm_delete: RwSignal<Option<(String, String)>>,
    /// (node id, labels being edited).
    pub editing_labels: RwSignal<Option<(String, String)>>,
    pub networks: super::networks::NetworkState,
    pub membership: MembershipState,
}

impl PageState {
    fn new() -> Self {
        let toasts = use_toasts();
        let live = use_live();
        let state = Self {
            retry: ServerAction::new(),
            delete: ServerAction::new(),
            node_action: ServerAction::new(),
            tokens: ServerAction::new(),
            shown_tokens: RwSignal::new(None),
            confirm_delete: RwSignal::new(None),
            editing_labels: RwSignal::new(None),
            networks: super::networks::NetworkState::new(),
            membership: MembershipState::new(),
        };
        let report = move |result: Option<Result<(), AppError>>, done: &'static str| match result {
            Some(Ok(())) => {
                toasts.success(done);
                live.clusters.update(|n| *n += 1);
            }
            Some(Err(e)) => toasts.error(&e),
            None => {}
        };
        Effect::new(move |_| report(state.retry.value().get(), "Retrying."));
        Effect::new(move |_| report(state.delete.value().get(), "Deleting the cluster."));
        Effect::new(move |_| report(state.node_action.value().get(), "Done."));
        Effect::new(move |_| match state.tokens.value().get() {
            Some(Ok(t)) => state.shown_tokens.set(Some(t)),
            Some(Err(e)) => toasts.error(&e),
            None => {}
        });
        state
    }
}

/// What the page shows at its top level. Only a change of this re-renders the whole page.
#[derive(Clone, PartialEq)]
enum Shown {
    Loading,
    Gone,
    Failed(AppError),
    /// The cluster with this id.
    Ready(String),
}

/// The cluster's page. Its data is read inside a `Transition` of its own: read directly under the
/// session's `Suspense` (the shell's), every live refresh of the cluster swapped the whole page
/// out for that Suspense's fallback for a moment — rows vanished, and what was typed in that
/// moment was lost (the input event of a detached field reaches no handler). A Transition keeps
/// the page in place while its data reloads.
#[component]
pub fn ClusterPage() -> impl IntoView {
    view! {
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading cluster…"</p> }>
            <ClusterContent/>
        </Transition>
    }
}

#[component]
fn ClusterContent() -> impl IntoView {
    let live = use_live();
    let state = PageState::new();
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let cluster = Resource::new(
        move || (id(), live.clusters.get()),
        |(id, _)| api::get_cluster(id),
    );
    // Each live refresh fetches the cluster again; the page re-renders only the parts whose data
    // changed, so a form being typed into or a button being clicked is not replaced under the
    // operator (a click that straddled a re-render was lost).
    let detail = Memo::new(move |last: Option<&Option<ClusterDetail>>| {
        let current = id();
        cluster.with(|c| match c {
            Some(Ok(s)) => Some(s.data.clone()),
            // A refresh that failed (panel restarting, link down) keeps what was shown last for
            // this cluster; the error shows above it.
            Some(Err(e)) if !matches!(e, AppError::NotFound(_)) => {
                last.cloned().flatten().filter(|d| d.summary.id == current)
            }
            _ => None,
        })
    });
    let stale = Memo::new(move |_| {
        cluster.with(|c| match c {
            Some(Err(e)) if !matches!(e, AppError::NotFound(_)) => Some(e.clone()),
            _ => None,
        })
    });
    let shown = Memo::new(move |_| {
        match cluster.with(|c| {
            c.as_ref().map(|r| {
                r.as_ref()
                    .map(|s| s.data.summary.id.clone())
                    .map_err(Clone::clone)
            })
        }) {
            None => Shown::Loading,
            Some(Ok(id)) => Shown::Ready(id),
            Some(Err(AppError::NotFound(_))) => Shown::Gone,
            Some(Err(e)) => match detail.with(|d| d.as_ref().map(|d| d.summary.id.clone())) {
                Some(id) => Shown::Ready(id),
                None => Shown::Failed(e),
            },
        }
    });
    let server_now = move || {
        cluster.with_untracked(|c| {
            c.as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(|s| s.now_ms)
                .unwrap_or_default()
        })
    };
    view! {
        <div class="mb-4 text-sm"><A href="/clusters" attr:class="text-sky-700 hover:underline">"← Clusters"</A></div>
        // Rendered in the browser: the page is live and entirely interactive, and its
        // server-rendered markup did not hydrate reliably (Leptos lost its place in it and the
        // page stayed dead when loaded directly).
        <AfterHydration>
        <WorkflowActions>
        {move || stale.get().filter(|_| matches!(shown.get(), Shown::Ready(_))).map(|e| view! {
            <p role="status" data-testid="refresh-failed" class="mb-3 rounded-md bg-amber-50 border border-amber-200 px-4 py-2 text-sm text-amber-800">
                "Could not refresh this page (" {e.to_string()} "); it shows what was loaded last and tries again on the next change."
            </p>
        })}
        {move || match shown.get() {
            Shown::Loading => view! { <p class="text-slate-500">"Loading cluster…"</p> }.into_any(),
            Shown::Gone => view! {
                <div class="text-center py-12" data-testid="cluster-gone">
                    <p class="font-medium text-slate-700">"This cluster does not exist (any more)."</p>
                    <A href="/clusters" attr:class="text-sky-700 hover:underline">"Back to clusters"</A>
                </div>
            }.into_any(),
            Shown::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
            Shown::Ready(id) => view! { <Detail id detail state server_now/> }.into_any(),
        }}
        // Outside the part that re-renders on every refresh: the app cards keep their open
        // dialogs and logs, and refresh themselves.
        {move || view! {
            <InstalledApps cluster_id=id()/>
            <RegistryCredentials cluster_id=id()/>
            <GlobalConfig cluster_id=id()/>
            <GlobalSecrets cluster_id=id()/>
            <SwarmObjects cluster_id=id()/>
            <RolloutGates cluster_id=id()/>
            <ClusterChanges cluster_id=id()/>
        }}
        </WorkflowActions>
        </AfterHydration>
    }
}

/// One part of the cluster's detail, as its own memo: its section re-renders when it changes.
fn part<T>(
    detail: Memo<Option<ClusterDetail>>,
    pick: impl Fn(&ClusterDetail) -> T + Send + Sync + 'static,
) -> Memo<Option<T>>
where
    T: Clone + PartialEq + Send + Sync + 'static,
{
    Memo::new(move |_| detail.with(|d| d.as_ref().map(&pick)))
}

/// The header's facts: name, health and which actions apply.
#[derive(Clone, PartialEq)]
struct Head {
    name: String,
    health: Health,
    reason: String,
    failed: bool,
    busy: bool,
    edit: EditValues,
}

#[component]
fn Detail(
    id: String,
    detail: Memo<Option<ClusterDetail>>,
    state: PageState,
    server_now: impl Fn() -> i64 + Send + Sync + 'static,
) -> impl IntoView {
    let PageState {
        retry,
        delete,
        confirm_delete: confirm,
        membership,
        ..
    } = state;
    let id = StoredValue::new(id);
    let head = part(detail, |d| Head {
        name: d.summary.name.clone(),
        health: d.summary.health,
        reason: d.summary.reason.clone(),
        failed: d
            .workflow
            .as_ref()
            .is_some_and(|w| w.status == WorkflowStatus::Failed),
        busy: d.workflow.as_ref().is_some_and(|w| w.status.is_open()),
        edit: EditValues {
            name: d.summary.name.clone(),
            synctime_cs: d.definition.synctime_cs,
            volumes: d.definition.volumes,
            volume_sync_secs: d.definition.volume_sync_secs,
            members: d.members.len(),
        },
    });
    let idle = Memo::new(move |_| {
        head.with(|h| {
            h.as_ref().is_some_and(|h| {
                !h.busy
                    && !matches!(
                        h.health,
                        Health::Deleting | Health::Creating | Health::Error
                    )
            })
        })
    });
    let workflow = part(detail, |d| {
        d.workflow
            .clone()
            .filter(|w| w.status != WorkflowStatus::Done)
    });
    let facts = part(detail, swarm_facts);
    let vips = part(detail, |d| {
        (d.summary.vips.clone(), d.definition.synctime_cs)
    });
    let has_tokens = part(detail, |d| d.has_tokens);
    let topology = part(detail, |d| {
        let vips: Vec<String> = d.summary.vips.iter().map(|v| v.address.clone()).collect();
        (d.members.clone(), vips)
    });
    let without_ipvs = part(detail, |d| d.without_ipvs.clone());
    let volumes = part(detail, ClusterDetail::clone);
    let networks = part(detail, |d| (d.networks.clone(), d.leader.is_some()));
    let pools = part(detail, |d| d.definition.pools.clone());
    let members = part(detail, |d| d.members.clone());
    let volumes_on = part(detail, |d| d.definition.volumes);
    let has_vips = part(detail, |d| !d.summary.vips.is_empty());
    let activity = part(detail, |d| d.activity.clone());
    view! {
        {move || head.get().map(|h| {
            let Head { name, health, reason, failed, busy, edit } = h;
            view! {
                <div class="flex items-start justify-between gap-4 mb-6">
                    <div>
                        <h1 class="text-2xl font-semibold text-slate-900" data-testid="cluster-name">{name.clone()}</h1>
                        <div class="mt-1 flex items-center gap-2">
                            <span data-testid="cluster-health" data-health=health.label()><Badge text=health.label().to_string() tone=health_tone(health)/></span>
                            <span class="text-sm text-slate-500" data-testid="cluster-reason">{reason}</span>
                        </div>
                    </div>
                    <div class="flex items-center gap-2">
                        {failed.then(|| view! {
                            <Can permission=Permission::Operate>
                                <button class=BUTTON_SECONDARY data-testid="retry" on:click=move |_| { retry.dispatch(api::RetryCluster { id: id.get_value() }); }>"Retry"</button>
                            </Can>
                        })}
                        {(!busy && !matches!(health, Health::Deleting | Health::Creating | Health::Error)).then(|| {
                            view! {
                                <Can permission=Permission::Operate>
                                    {
                                        let edit = edit.clone();
                                        view! {
                                            <button class=BUTTON_SECONDARY data-testid="edit-cluster"
                                                on:click=move |_| membership.open_edit(&edit)>"Edit"</button>
                                        }
                                    }
                                </Can>
                            }
                        })}
                        {(!busy && health != Health::Deleting).then(|| view! {
                            <Can permission=Permission::Supervise>
                                {
                                    let name = name.clone();
                                    view! {
                                        <button class="inline-flex items-center rounded-md border border-rose-300 bg-white px-3 py-2 text-sm font-medium text-rose-700 hover:bg-rose-50"
                                            data-testid="delete-cluster" on:click=move |_| confirm.set(Some((id.get_value(), name.clone())))>"Delete cluster"</button>
                                    }
                                }
                            </Can>
                        })}
                    </div>
                </div>
            }
        })}
        <Show when=move || membership.editing.get()>
            <div class="mb-6"><EditCluster id=id.get_value() state=membership/></div>
        </Show>
        {move || workflow.get().flatten().map(|w| {
            let controls = w.clone();
            view! {
                <div class="mb-6">
                    <Card title=w.kind.label()>
                        <div class="mb-2 flex items-center gap-3 text-sm" data-testid="progress-status" data-status=w.status.as_str()>
                            <Badge text=w.status.label().to_string() tone=status_tone(w.status)/>
                            <WorkflowControls scope=WorkflowScope::Cluster(id.get_value()) workflow=controls/>
                        </div>
                        <ol class="space-y-1 text-sm" data-testid="progress">
                            {w.steps.into_iter().map(|step| {
                                let (mark, class) = match step.status {
                                    StepStatus::Done => ("✓", "text-emerald-700"),
                                    StepStatus::Running => ("…", "text-sky-700 font-medium"),
                                    StepStatus::Failed => ("✗", "text-rose-700 font-medium"),
                                    StepStatus::Pending => ("○", "text-slate-400"),
                                };
                                view! {
                                    <li class=class data-testid="step" data-state=step.status.as_str()>
                                        <span class="inline-block w-5">{mark}</span>{step.title}
                                        {step.error.map(|e| view! { <p class="ml-5 text-rose-700">{e}</p> })}
                                    </li>
                                }
                            }).collect_view()}
                        </ol>
                    </Card>
                </div>
            }
        })}
        <div class="grid gap-6 lg:grid-cols-3 mb-6">
            <Card title="Swarm">
                <dl class="text-sm space-y-1.5">
                    {move || facts.get().unwrap_or_default().into_iter().map(|(label, value, testid)| fact(label, value, testid)).collect_view()}
                </dl>
            </Card>
            <Card title="Virtual IPs">
                {move || vips.get().map(|(vips, synctime_cs)| vip_list(vips, synctime_cs))}
            </Card>
            <Card title="Join tokens">
                {move || has_tokens.get().map(|available| view! { <Tokens id=id.get_value() available state/> })}
            </Card>
        </div>
        <div class="mb-6">
            <Card title="Topology">
                {move || topology.get().map(|(members, vips)| view! { <Topology members vips/> })}
            </Card>
        </div>
        <div class="mb-6">
            <Card title="Publishing">
                {move || without_ipvs.get().map(publishing)}
            </Card>
        </div>
        <div class="mb-6">
            <Card title="Volumes">
                <div data-testid="volumes-card">{move || volumes.get().map(|d| volumes_card(&d))}</div>
            </Card>
        </div>
        <div class="mb-6">
            <Card title="Overlay networks">
                <Networks cluster_id=id.get_value() networks pools state=state.networks/>
            </Card>
        </div>
        <Card title="Nodes">
            <div class="overflow-x-auto">
                <table class=TABLE>
                    <thead><tr>
                        <th class=TH>"Node"</th><th class=TH>"Role"</th><th class=TH>"Availability"</th><th class=TH>"State"</th>
                        <th class=TH>"Address"</th><th class=TH>"Engine"</th><th class=TH>"Labels"</th><th class=TH>"VRRP"</th>
                        <th class=TH>"Actions"</th>
                    </tr></thead>
                    <tbody class="divide-y divide-slate-100">
                        {move || members.get().unwrap_or_default().into_iter().map(|m| member_row(m, id.get_value(), state)).collect_view()}
                    </tbody>
                </table>
            </div>
            <Show when=move || idle.get()>
                <Can permission=Permission::Operate>
                    <AddNode id=id.get_value() state=membership has_vips=has_vips.get_untracked().unwrap_or_default()/>
                </Can>
            </Show>
        </Card>
        <div class="mt-6">
            {move || activity.get().map(|workflows| view! {
                <Activity scope=WorkflowScope::Cluster(id.get_value()) workflows server_now=server_now()/>
            })}
        </div>
        <ConfirmDialog
            subject=membership.confirm_remove
            title="Remove this node from the cluster?"
            action_label="Remove node"
            explain=move |name: String| removal_explained(&name, &members.get_untracked().unwrap_or_default(), volumes_on.get_untracked().unwrap_or_default())
            on_confirm=move |node_id: String| { membership.remove.dispatch(api::RemoveClusterNode { id: id.get_value(), node_id }); }
        />
        <ConfirmDialog
            subject=confirm
            title="Delete this cluster?"
            action_label="Delete cluster"
            explain=|name: String| format!("Every node of {name} leaves the swarm, KeepAlived stops and its virtual IPs go away. Services running on the cluster stop. This cannot be undone.")
            on_confirm=move |id: String| { delete.dispatch(api::DeleteCluster { id }); }
        />
    }
}

fn member_row(m: MemberView, cluster_id: String, state: PageState) -> impl IntoView {
    let action = state.node_action;
    let ids = StoredValue::new((cluster_id, m.node_id.clone()));
    let run = move |a: NodeAction| {
        let (id, node_id) = ids.get_value();
        action.dispatch(api::ClusterNodeAction {
            id,
            node_id,
            action: a,
        });
    };
    let editing = state.editing_labels;
    let node = StoredValue::new(m.node_id.clone());
    let supervise = allowed(Permission::Supervise);
    // Owns the node's id: a refresh may dispose `node` while this row's render effect is queued.
    let this_node = m.node_id.clone();
    let is_editing = move || editing.with(|e| e.as_ref().is_some_and(|(n, _)| *n == this_node));
    let current_labels = labels_text(&m.labels);
    let host_for_remove = m.hostname.clone();
    let is_manager = m.role == SwarmRole::Manager;
    let current_availability = m.swarm.as_ref().map(|v| v.availability);
    let swarm = m.swarm.clone();
    let role = match (&swarm, m.role) {
        (Some(v), _) if v.leader => "Leader".to_string(),
        (Some(v), _) => v.role.label().to_string(),
        (None, r) => r.label().to_string(),
    };
    let vrrp = m
        .vip_states
        .iter()
        .map(|v| format!("{} {}", v.address, v.state.label()))
        .collect::<Vec<_>>()
        .join(", ");
    let host = m.hostname.clone();
    view! {
        <tr data-testid="member" data-hostname=host
            data-availability=swarm.as_ref().map(|v| v.availability.as_str()).unwrap_or("unknown")>
            <td class=TD>
                <A href=format!("/nodes/{}", m.node_id) attr:class="font-medium text-sky-700 hover:underline">{m.hostname.clone()}</A>
                {(!m.online).then(|| view! { <span class="ml-2"><Badge text="offline".into() tone="red"/></span> })}
                {m.silent.then(|| view! { <span class="ml-2" data-testid="member-silent"><Badge text="silent".into() tone="amber"/></span> })}
            </td>
            <td class=TD data-testid="role">{role}</td>
            <td class=TD data-testid="availability">{swarm.as_ref().map(|v| v.availability.as_str().to_string()).unwrap_or_else(|| "—".into())}</td>
            <td class=TD>{swarm.as_ref().map(|v| match v.reachability { Some(r) => format!("{} · {}", v.state.as_str(), r.as_str()), None => v.state.as_str().to_string() }).unwrap_or_else(|| "—".into())}</td>
            <td class=TD><span class="font-mono text-xs">{m.address.clone().unwrap_or_else(|| m.interface.clone())}</span></td>
            <td class=TD>{swarm.as_ref().map(|v| v.engine_version.clone()).unwrap_or_else(|| "—".into())}</td>
            <td class=TD data-testid="labels">{swarm.as_ref().map(|v| labels_text(&v.labels)).unwrap_or_else(|| labels_text(&m.labels))}</td>
            <td class=TD><span class="text-xs" data-testid="vrrp">{if vrrp.is_empty() { "—".to_string() } else { vrrp }}</span></td>
            <td class=TD>
                <div class="flex flex-wrap items-center gap-2">
                    <Can permission=Permission::Operate>
                        {
                            let current_labels = current_labels.clone();
                            let host_for_remove = host_for_remove.clone();
                            view! {
                                <select aria-label="Availability" class="rounded-md border border-slate-300 px-2 py-1 text-xs"
                                    on:change=move |ev| {
                                        if let Some(a) = Availability::parse(&event_target_value(&ev)) {
                                            run(NodeAction::Availability { availability: a });
                                        }
                                    }>
                                    {Availability::ALL.into_iter().map(|a| view! {
                                        <option value=a.as_str() selected=current_availability == Some(a)>{a.as_str()}</option>
                                    }).collect_view()}
                                </select>
                                <button class="text-xs text-sky-700 hover:underline" hidden=is_manager
                                    on:click=move |_| run(NodeAction::Promote)>"Promote"</button>
                                <button class="text-xs text-sky-700 hover:underline" on:click=move |_| editing.set(Some((node.get_value(), current_labels.clone())))>"Labels"</button>
                                // Destructive: Supervisors and up.
                                <button class="text-xs text-sky-700 hover:underline" hidden=!(is_manager && supervise)
                                    on:click=move |_| run(NodeAction::Demote)>"Demote"</button>
                                <button class="text-xs text-rose-700 hover:underline" hidden=!supervise
                                    on:click=move |_| state.membership.confirm_remove.set(Some((node.get_value(), host_for_remove.clone())))>"Remove"</button>
                            }
                        }
                    </Can>
                </div>
                <Show when=is_editing>
                    <div class="mt-2 flex items-center gap-1">
                        <input aria-label="New labels" class="rounded-md border border-slate-300 px-2 py-1 text-xs w-40" placeholder="zone=a, rack=1"
                            prop:value=move || editing.with(|e| e.as_ref().map(|(_, t)| t.clone()).unwrap_or_default())
                            on:input=move |ev| editing.set(Some((node.get_value(), event_target_value(&ev))))/>
                        <button class="text-xs text-sky-700 hover:underline" on:click=move |_| {
                            let text = editing.with_untracked(|e| e.as_ref().map(|(_, t)| t.clone()).unwrap_or_default());
                            run(NodeAction::Labels { labels: text });
                            editing.set(None);
                        }>"Save"</button>
                        <button class="text-xs text-slate-500 hover:underline" on:click=move |_| editing.set(None)>"Cancel"</button>
                    </div>
                </Show>
            </td>
        </tr>
    }
}

#[component]
fn Tokens(id: String, available: bool, state: PageState) -> impl IntoView {
    let (reveal, shown) = (state.tokens, state.shown_tokens);
    let id = StoredValue::new(id);
    if !available {
        return view! { <p class="text-sm text-slate-500">"The swarm has no join tokens yet."</p> }
            .into_any();
    }
    view! {
        <div class="space-y-2 text-sm">
            {move || match shown.get() {
                Some(t) => view! {
                    <p class="text-slate-500">"Worker"</p>
                    <code class="block break-all rounded bg-slate-100 px-2 py-1 text-xs" data-testid="worker-token">{t.worker}</code>
                    <p class="text-slate-500">"Manager"</p>
                    <code class="block break-all rounded bg-slate-100 px-2 py-1 text-xs">{t.manager}</code>
                }.into_any(),
                None => view! {
                    <p class="font-mono text-slate-500" data-testid="masked-token">"SWMTKN-1-••••••••••••"</p>
                }.into_any(),
            }}
            <Can permission=Permission::Supervise>
                <div class="flex gap-2">
                    <button class=BUTTON_SECONDARY on:click=move |_| { reveal.dispatch(api::JoinTokens { id: id.get_value(), rotate: false }); }>"Reveal"</button>
                    <button class=BUTTON_SECONDARY on:click=move |_| { reveal.dispatch(api::JoinTokens { id: id.get_value(), rotate: true }); }>"Rotate"</button>
                </div>
            </Can>
        </div>
    }
    .into_any()
}
