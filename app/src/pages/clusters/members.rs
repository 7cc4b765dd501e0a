//! Adding a node to a running cluster, removing one, and editing the cluster.
use domain::cluster::{Candidate, ClusterEdit, MemberDraft, MemberView, problem};
use domain::storage::{CopyOnLeave, VolumeMode};
use domain::swarm::SwarmRole;
use domain::{AppError, ValidationError};
use leptos::prelude::*;

use crate::api;
use crate::components::{BUTTON, BUTTON_SECONDARY, Card, ErrorBox, Field};
use crate::live::{report_done, use_live, use_toasts};

fn problems_of(e: Option<Result<(), AppError>>) -> Vec<ValidationError> {
    match e {
        Some(Err(AppError::Invalid(v))) => v,
        Some(Err(AppError::Validation(v))) => vec![v],
        _ => vec![],
    }
}

fn other_error(e: Option<Result<(), AppError>>) -> Option<AppError> {
    e.and_then(Result::err)
        .filter(|e| !matches!(e, AppError::Invalid(_) | AppError::Validation(_)))
}

/// What the confirmation of a removal says: the swarm side, and where the node's copy of the
/// replicated cluster volume goes first.
pub fn removal_explained(name: &str, members: &[MemberView], volumes: bool) -> String {
    let mut words = format!(
        "{name} leaves the swarm (its tasks move to other nodes) and its KeepAlived stops. It \
         becomes a standalone node."
    );
    let replicated = volumes && VolumeMode::for_nodes(members.len()) == Ok(VolumeMode::Replicated);
    if replicated
        && let Some(at) = members.iter().position(|m| m.hostname == name)
        && let CopyOnLeave::MovesTo(to) = CopyOnLeave::of(at, members.len())
        && let Some(to) = members.get(to)
    {
        words.push_str(&format!(
            " Its copy of the cluster volume moves to {} first; the removal goes on once that \
             copy is whole.",
            to.hostname
        ));
    }
    words
}

/// Actions and forms for membership and editing; kept above the live-refreshed part of the page.
#[derive(Clone, Copy)]
pub struct MembershipState {
    pub add: ServerAction<api::AddClusterNode>,
    pub remove: ServerAction<api::RemoveClusterNode>,
    pub edit: ServerAction<api::EditCluster>,
    pub confirm_remove: RwSignal<Option<(String, String)>>,
    pub editing: RwSignal<bool>,
    edit_name: RwSignal<String>,
    edit_synctime: RwSignal<String>,
    edit_volumes: RwSignal<bool>,
    edit_volume_sync: RwSignal<String>,
    /// How many nodes the cluster has (the volume mode follows from it).
    edit_members: RwSignal<usize>,
    /// The edit form was submitted once: its checks show from then on.
    edit_tried: RwSignal<bool>,
    add_node: RwSignal<String>,
    add_role: RwSignal<SwarmRole>,
    add_labels: RwSignal<String>,
    add_interface: RwSignal<String>,
    add_vip: RwSignal<bool>,
    /// The nodes that may join, refreshed as nodes and clusters change. Kept here so the add
    /// form does not vanish (and take a keystroke with it) each time the page refreshes.
    candidates: Resource<Result<Vec<Candidate>, AppError>>,
}

impl MembershipState {
    pub fn new() -> Self {
        let toasts = use_toasts();
        let live = use_live();
        let s = Self {
            add: ServerAction::new(),
            remove: ServerAction::new(),
            edit: ServerAction::new(),
            confirm_remove: RwSignal::new(None),
            editing: RwSignal::new(false),
            edit_name: RwSignal::new(String::new()),
            edit_synctime: RwSignal::new(String::new()),
            edit_volumes: RwSignal::new(false),
            edit_volume_sync: RwSignal::new(String::new()),
            edit_members: RwSignal::new(0),
            edit_tried: RwSignal::new(false),
            add_node: RwSignal::new(String::new()),
            add_role: RwSignal::new(SwarmRole::Worker),
            add_labels: RwSignal::new(String::new()),
            add_interface: RwSignal::new(String::new()),
            add_vip: RwSignal::new(true),
            candidates: Resource::new(
                move || (live.nodes.get(), live.clusters.get()),
                |_| api::cluster_candidates(),
            ),
        };
        Effect::new(move |_| match s.add.value().get() {
            Some(Ok(())) => {
                toasts.success("Adding the node.");
                s.add_node.set(String::new());
                s.add_labels.set(String::new());
                live.clusters.update(|n| *n += 1);
            }
            other => {
                if let Some(e) = other_error(other) {
                    toasts.error(&e)
                }
            }
        });
        report_done(
            move || s.remove.value().get(),
            "Removing the node.",
            live.clusters,
        );
        Effect::new(move |_| match s.edit.value().get() {
            Some(Ok(())) => {
                toasts.success("Cluster updated.");
                s.editing.set(false);
                live.clusters.update(|n| *n += 1);
            }
            other => {
                if let Some(e) = other_error(other) {
                    toasts.error(&e)
                }
            }
        });
        s
    }

    /// Opens the edit form with the cluster's values; an open form keeps what is typed in it.
    pub fn open_edit(&self, values: &EditValues) {
        if self.editing.get_untracked() {
            return;
        }
        self.edit_name.set(values.name.clone());
        self.edit_synctime
            .set(format!("{}", f64::from(values.synctime_cs) / 100.0));
        self.edit_volumes.set(values.volumes);
        self.edit_volume_sync
            .set(values.volume_sync_secs.to_string());
        self.edit_members.set(values.members);
        self.edit_tried.set(false);
        self.editing.set(true);
    }
}

/// What the edit form starts from.
#[derive(Clone, Debug, PartialEq)]
pub struct EditValues {
    pub name: String,
    pub synctime_cs: u16,
    pub volumes: bool,
    pub volume_sync_secs: u32,
    pub members: usize,
}

#[component]
pub fn EditCluster(id: String, state: MembershipState) -> impl IntoView {
    let id = StoredValue::new(id);
    let touched = state.edit_tried;
    let edit = move || ClusterEdit {
        name: state.edit_name.get(),
        synctime: state.edit_synctime.get(),
        volumes: state.edit_volumes.get(),
        volume_sync: state.edit_volume_sync.get(),
    };
    let mode = move || VolumeMode::for_nodes(state.edit_members.get()).ok();
    let problems = Memo::new(move |_| {
        if touched.get() {
            edit().validate().err().unwrap_or_default()
        } else {
            problems_of(state.edit.value().get())
        }
    });
    let err = move |f: &'static str| {
        Signal::derive(move || problem(&problems.get(), f).map(str::to_owned))
    };
    // Whether the members can hold the volumes is the server's to say (it knows their facts).
    let volume_problems = move || {
        problems_of(state.edit.value().get())
            .into_iter()
            .filter(|p| p.field == "volumes" || p.field.ends_with(".volumes"))
            .map(|p| p.message)
            .collect::<Vec<_>>()
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        touched.set(true);
        if edit().validate().is_ok() {
            touched.set(false);
            state.edit.dispatch(api::EditCluster {
                id: id.get_value(),
                edit: edit(),
            });
        }
    };
    view! {
        <Card title="Edit cluster">
            <form class="grid gap-4 md:grid-cols-[1fr_12rem_auto_auto] items-start" on:submit=submit data-testid="edit-cluster-form">
                <Field label="Cluster name" name="edit_name" value=state.edit_name error=err("name")/>
                <Field label="Synctime (seconds)" name="edit_synctime" value=state.edit_synctime error=err("synctime")/>
                <button type="submit" class=format!("{BUTTON} md:mt-6") disabled=move || state.edit.pending().get()>"Save"</button>
                <button type="button" class=format!("{BUTTON_SECONDARY} md:mt-6") on:click=move |_| state.editing.set(false)>"Cancel"</button>
                <div class="md:col-span-4 space-y-2 text-sm">
                    <label class="flex items-center gap-2 text-slate-700">
                        <input type="checkbox" id="field-edit-volumes" prop:checked=move || state.edit_volumes.get()
                            on:change=move |_| state.edit_volumes.update(|v| *v = !*v)/>
                        {move || match mode() {
                            Some(m) => format!("Cluster volumes ({})", m.label().to_lowercase()),
                            None => "Cluster volumes (needs at least two nodes)".to_string(),
                        }}
                    </label>
                    <Show when=move || state.edit_volumes.get() && mode() == Some(VolumeMode::AsyncStandby)>
                        <div class="max-w-xs">
                            <Field label="Volume sync interval (seconds)" name="edit_volume_sync" value=state.edit_volume_sync error=err("volume_sync")/>
                        </div>
                    </Show>
                    {move || volume_problems().into_iter().map(|m| view! {
                        <p class="text-rose-700" data-testid="error-edit-volumes">{m}</p>
                    }).collect_view()}
                </div>
            </form>
            <p class="mt-3 text-xs text-slate-500">"Address pools, subnet size and ports are fixed when the swarm is created."</p>
        </Card>
    }
}

#[component]
pub fn AddNode(id: String, state: MembershipState, has_vips: bool) -> impl IntoView {
    let candidates = state.candidates;
    let id = StoredValue::new(id);
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let list: Vec<Candidate> = match candidates.await {
                    Ok(l) => l.into_iter().filter(|c| c.ineligible().is_none()).collect(),
                    Err(e) => return view! { <ErrorBox error=e/> }.into_any(),
                };
                if list.is_empty() {
                    return view! { <p class="mt-4 text-sm text-slate-500">"No other node can join: every online node is in a cluster."</p> }.into_any();
                }
                view! { <AddNodeForm id=id.get_value() list state has_vips/> }.into_any()
            })}
        </Transition>
    }
}

#[component]
fn AddNodeForm(
    id: String,
    list: Vec<Candidate>,
    state: MembershipState,
    has_vips: bool,
) -> impl IntoView {
    let list = StoredValue::new(list);
    let id = StoredValue::new(id);
    let chosen = move || {
        list.with_value(|l| {
            l.iter()
                .find(|c| c.node_id == state.add_node.get())
                .cloned()
        })
    };
    Effect::new(move |_| {
        // Default the interface to the chosen node's first usable one.
        if let Some(c) = chosen() {
            let first = c
                .usable_interfaces()
                .first()
                .map(|(n, _)| n.to_string())
                .unwrap_or_default();
            state.add_interface.set(first);
        }
    });
    let draft = move || MemberDraft {
        node_id: state.add_node.get(),
        role: state.add_role.get(),
        labels: state.add_labels.get(),
        interface: state.add_interface.get(),
        vip: has_vips && state.add_vip.get(),
    };
    let problems = move || problems_of(state.add.value().get());
    let field_err = move |f: &'static str| {
        Signal::derive(move || {
            let node = state.add_node.get();
            problem(&problems(), &format!("members.{node}.{f}")).map(str::to_owned)
        })
    };
    let labels_err = field_err("labels");
    let node_err = field_err("node");
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !state.add_node.get_untracked().is_empty() {
            state.add.dispatch(api::AddClusterNode {
                id: id.get_value(),
                draft: draft(),
            });
        }
    };
    let select = "block w-full rounded-md border border-slate-300 px-2 py-2 text-sm";
    view! {
        <form class="mt-4 grid gap-3 md:grid-cols-[1fr_8rem_9rem_1fr_auto_auto] items-start" on:submit=submit data-testid="add-node-form">
            <div class="space-y-1">
                <label for="add-node" class="block text-xs font-medium text-slate-600">"Node to add"</label>
                <select id="add-node" class=select on:change=move |ev| state.add_node.set(event_target_value(&ev))>
                    <option value="" selected=move || state.add_node.get().is_empty()>"Choose a node…"</option>
                    {list.get_value().into_iter().map(|c| {
                        // Selected again after a refresh re-creates the list.
                        let node = c.node_id.clone();
                        view! { <option value=c.node_id.clone() selected=move || state.add_node.with(|n| *n == node)>{c.hostname.clone()}</option> }
                    }).collect_view()}
                </select>
                {move || node_err.get().map(|m| view! { <p class="text-xs text-rose-700">{m}</p> })}
            </div>
            <div class="space-y-1">
                <label for="add-role" class="block text-xs font-medium text-slate-600">"Role"</label>
                <select id="add-role" class=select on:change=move |ev| {
                    if let Some(role) = SwarmRole::parse(&event_target_value(&ev)) { state.add_role.set(role) }
                }>
                    {[SwarmRole::Worker, SwarmRole::Manager].into_iter().map(|r| view! { <option value=r.as_str()>{r.label()}</option> }).collect_view()}
                </select>
            </div>
            <div class="space-y-1">
                <label for="add-interface" class="block text-xs font-medium text-slate-600">"Interface"</label>
                <select id="add-interface" class=select on:change=move |ev| state.add_interface.set(event_target_value(&ev))>
                    {move || chosen().map(|c| c.usable_interfaces().into_iter().map(|(n, a)| {
                        let n = n.to_string();
                        view! { <option value=n.clone()>{format!("{n} ({a})")}</option> }
                    }).collect_view())}
                </select>
            </div>
            <div class="space-y-1">
                <label for="add-labels" class="block text-xs font-medium text-slate-600">"Labels"</label>
                <input id="add-labels" class=select placeholder="zone=d" prop:value=move || state.add_labels.get()
                    on:input=move |ev| state.add_labels.set(event_target_value(&ev))/>
                {move || labels_err.get().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-add-labels">{m}</p> })}
            </div>
            {has_vips.then(|| view! {
                <label class="mt-6 flex items-center gap-1 text-sm text-slate-700">
                    <input type="checkbox" prop:checked=move || state.add_vip.get() on:change=move |_| state.add_vip.update(|v| *v = !*v)/>"May hold VIPs"
                </label>
            })}
            <button type="submit" class=format!("{BUTTON} mt-5") disabled=move || state.add.pending().get() || state.add_node.get().is_empty()>"Add node"</button>
        </form>
    }
}
