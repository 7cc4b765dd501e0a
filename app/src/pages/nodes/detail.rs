use domain::node::{EngineFacts, IdentityAction, NodeDetail, NodeIdentity};
use domain::storage::{self, DiskFacts, StorageFacts, VolumeMode};
use domain::{Permission, time};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::status_badge;
use crate::api;
use crate::components::{BUTTON_SECONDARY, Can, Card, ConfirmDialog, ErrorBox, TABLE, TD, TH};
use crate::live::{use_live, use_toasts};

/// The node page's commands, owned by the page: the part below re-renders whenever the node
/// reports (a refresh makes the agent send its facts before the command's result), and an
/// action owned by it would be dropped with its answer unseen.
#[derive(Clone, Copy)]
struct NodeActions {
    refresh: ServerAction<api::RefreshNode>,
    identity: ServerAction<api::NodeIdentity>,
    last: RwSignal<Option<IdentityAction>>,
}

impl NodeActions {
    fn new() -> Self {
        let live = use_live();
        let toasts = use_toasts();
        let navigate = use_navigate();
        let actions = NodeActions {
            refresh: ServerAction::new(),
            identity: ServerAction::new(),
            last: RwSignal::new(None),
        };
        Effect::new(move |_| match actions.refresh.value().get() {
            Some(Ok(())) => toasts.success("Facts refreshed."),
            Some(Err(e)) => toasts.error(&e),
            None => {}
        });
        Effect::new(move |_| match actions.identity.value().get() {
            Some(Ok(())) => {
                match actions.last.get_untracked() {
                    Some(IdentityAction::Remove) => {
                        toasts.success("Node removed.");
                        navigate("/nodes", Default::default());
                    }
                    Some(IdentityAction::RevokeToken) => {
                        toasts.success("Token revoked: the agent was disconnected.")
                    }
                    _ => toasts.success("Re-enrolment allowed for one hour."),
                }
                live.nodes.update(|n| *n += 1);
            }
            Some(Err(e)) => toasts.error(&e),
            None => {}
        });
        actions
    }
}

#[component]
pub fn NodePage() -> impl IntoView {
    let live = use_live();
    let actions = NodeActions::new();
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    live.watch_some_nodes();
    Effect::new(move |_| live.watch_nodes([id()]));
    let node = Resource::new(
        move || (id(), live.nodes.get()),
        |(id, _)| api::get_node(id),
    );
    view! {
        <div class="mb-4 text-sm"><A href="/nodes" attr:class="text-sky-700 hover:underline">"← Nodes"</A></div>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading node…"</p> }>
            {move || Suspend::new(async move {
                match node.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(snapshot) => view! { <Detail detail=snapshot.data server_now=snapshot.now_ms actions/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn row(label: &'static str, value: String) -> impl IntoView {
    view! {
        <div class="flex justify-between gap-4 py-1.5 border-b border-slate-100 last:border-0">
            <dt class="text-slate-500">{label}</dt>
            <dd class="text-slate-900 text-right break-all" data-testid=format!("fact-{}", label.to_lowercase().replace(' ', "-"))>{value}</dd>
        </div>
    }
}

#[component]
fn Detail(detail: NodeDetail, server_now: i64, actions: NodeActions) -> impl IntoView {
    let live = use_live();
    let refresh = actions.refresh;
    let NodeDetail {
        node,
        facts,
        identity,
    } = detail;
    let node_id = node.id.clone();
    let status_node = node.clone();
    let identity_card = view! {
        <div class="mb-6">
            <IdentityCard node_id=node.id.clone() hostname=node.hostname.clone() identity server_now actions/>
        </div>
    };
    view! {
        <div class="flex items-start justify-between gap-4 mb-6">
            <div>
                <h1 class="text-2xl font-semibold text-slate-900" data-testid="node-name">{node.hostname.clone()}</h1>
                <p class="mt-1 text-xs font-mono text-slate-500">{node.id.clone()}</p>
            </div>
            <div class="flex items-center gap-3">
                {move || status_badge(&status_node, live.now.get().unwrap_or(server_now))}
                <Can permission=Permission::Operate>
                    {
                        let node_id = node_id.clone();
                        view! {
                            <button class=BUTTON_SECONDARY disabled=move || refresh.pending().get()
                                on:click=move |_| { refresh.dispatch(api::RefreshNode { id: node_id.clone() }); }>
                                {move || if refresh.pending().get() { "Refreshing…" } else { "Refresh facts" }}
                            </button>
                        }
                    }
                </Can>
            </div>
        </div>
        {identity_card}
        {match facts {
            None => view! {
                <p class="text-slate-500">"This node enrolled but has not reported its facts yet."</p>
            }.into_any(),
            Some(f) => {
                let engine = match &f.engine {
                    EngineFacts::Up { version, api_version, swarm } => view! {
                        <dl class="text-sm">
                            {row("Engine version", version.clone())}
                            {row("API version", api_version.clone())}
                            {row("Swarm state", swarm.state.label().to_string())}
                            {row("Swarm node id", swarm.node_id.clone().unwrap_or_else(|| "—".into()))}
                            {row("Manager", if swarm.is_manager { "yes".to_string() } else { "no".to_string() })}
                        </dl>
                    }.into_any(),
                    EngineFacts::Unreachable { reason } => view! {
                        <p class="text-sm text-rose-700">"Unreachable: " {reason.clone()}</p>
                    }.into_any(),
                };
                view! {
                    <div class="grid gap-6 lg:grid-cols-3">
                        <Card title="Overview">
                            <dl class="text-sm">
                                {row("Hostname", f.hostname.clone())}
                                {row("Enrolled", time::ago(server_now, node.enrolled_at_ms))}
                                {row("Agent version", f.agent_version.clone())}
                                {row("Firmware version", f.firmware_version.clone())}
                                {row("Uptime", time::duration(f.uptime_secs))}
                            </dl>
                        </Card>
                        <Card title="System">
                            <dl class="text-sm">
                                {row("Operating system", f.os.clone())}
                                {row("Kernel", f.kernel.clone())}
                                {row("Architecture", f.arch.clone())}
                                {row("CPU", format!("{} × {}", f.cpu_count, f.cpu_model))}
                                {row("Memory", format!("{} free of {}", time::bytes(f.memory_available_bytes), time::bytes(f.memory_total_bytes)))}
                                {row("Disk", format!("{} free of {} ({})", time::bytes(f.disk_available_bytes), time::bytes(f.disk_total_bytes), f.disk_path))}
                            </dl>
                        </Card>
                        <Card title="Docker Engine">{engine}</Card>
                    </div>
                    <div class="mt-6">
                        <Card title="Cluster volumes">{storage_facts(&f.storage)}</Card>
                    </div>
                    <div class="mt-6">
                        <Card title="Network interfaces">
                            <table class=TABLE>
                                <thead><tr><th class=TH>"Interface"</th><th class=TH>"State"</th><th class=TH>"MAC"</th><th class=TH>"Addresses"</th></tr></thead>
                                <tbody class="divide-y divide-slate-100">
                                    {f.interfaces.into_iter().map(|i| view! {
                                        <tr data-testid="interface">
                                            <td class=TD><span class="font-mono">{i.name}</span></td>
                                            <td class=TD>{if i.up { "up" } else { "down" }}</td>
                                            <td class=TD><span class="font-mono text-xs">{i.mac.unwrap_or_else(|| "—".into())}</span></td>
                                            <td class=TD><span class="font-mono text-xs">{i.addresses.join(", ")}</span></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </Card>
                    </div>
                }.into_any()
            }
        }}
    }
}

/// What the node offers for cluster volumes, and what each mode still lacks on it.
fn storage_facts(s: &StorageFacts) -> impl IntoView + use<> {
    let disk = |d: &Option<DiskFacts>| {
        d.as_ref().map_or_else(
            || "none mounted".to_string(),
            |d| {
                format!(
                    "{} at {}, {} free of {}",
                    d.fs,
                    d.path,
                    time::bytes(d.available_bytes),
                    time::bytes(d.total_bytes)
                )
            },
        )
    };
    let gluster = match (&s.gluster, s.glusterd) {
        (None, _) => "not installed".to_string(),
        (Some(v), true) => format!("{v}, glusterd answers"),
        (Some(v), false) => format!("{v}, glusterd does not answer"),
    };
    let ready = |mode: VolumeMode| {
        let lacks = storage::missing(mode, s);
        if lacks.is_empty() {
            "ready".to_string()
        } else {
            lacks.join("; ")
        }
    };
    view! {
        <dl class="text-sm">
            {row("GlusterFS", gluster)}
            {row("FUSE", if s.fuse { "yes".to_string() } else { "no".to_string() })}
            {row("Bricks disk", disk(&s.bricks))}
            {row("Snapshots disk", disk(&s.snapshots))}
            {row("Replicated mode", ready(VolumeMode::Replicated))}
            {row("Async standby", ready(VolumeMode::AsyncStandby))}
        </dl>
    }
}

/// How the node proves who it is, and what an Administrator can do about it.
#[component]
fn IdentityCard(
    node_id: String,
    hostname: String,
    identity: NodeIdentity,
    server_now: i64,
    actions: NodeActions,
) -> impl IntoView {
    let NodeActions {
        identity: act,
        last,
        ..
    } = actions;
    let run = move |id: String, action: IdentityAction| {
        last.set(Some(action));
        act.dispatch(api::NodeIdentity { id, action });
    };
    let confirm_remove = RwSignal::new(None::<(String, String)>);
    let confirm_revoke = RwSignal::new(None::<(String, String)>);
    let subject = (node_id.clone(), hostname.clone());
    let in_cluster = identity.cluster.clone();
    let revoked = identity.token_revoked_at_ms.is_some();
    view! {
        <Card title="Identity">
            <dl class="text-sm">
                {row("Machine id", identity.machine_id.clone().unwrap_or_else(|| "hidden for your role".into()))}
                {row("Token", match identity.token_revoked_at_ms {
                    Some(at) => format!("revoked {}", time::ago(server_now, at)),
                    None => "active".into(),
                })}
                {row("Re-enrolment", match identity.reenrol_until_ms {
                    Some(until) => format!("allowed for {}", time::until(server_now, until)),
                    None => "needs the node's token".into(),
                })}
                {row("Cluster", identity.cluster.clone().unwrap_or_else(|| "—".into()))}
            </dl>
            <Can permission=Permission::Administer>
                {
                    let (subject, in_cluster) = (subject.clone(), in_cluster.clone());
                    let node_id = node_id.clone();
                    view! {
                        <div class="mt-4 flex flex-wrap gap-2">
                            <button class=BUTTON_SECONDARY disabled=move || act.pending().get()
                                title="A re-imaged device can enrol again with a key within the next hour."
                                on:click={
                                    let node_id = node_id.clone();
                                    move |_| run(node_id.clone(), IdentityAction::AllowReenrolment)
                                }>"Allow re-enrolment"</button>
                            {(!revoked).then(|| {
                                let subject = subject.clone();
                                view! {
                                    <button class=BUTTON_SECONDARY disabled=move || act.pending().get()
                                        on:click=move |_| confirm_revoke.set(Some(subject.clone()))>"Revoke token"</button>
                                }
                            })}
                            <button class=BUTTON_SECONDARY
                                disabled=in_cluster.is_some()
                                title=in_cluster.as_ref().map(|c| format!("Remove it from cluster {c} first."))
                                on:click={
                                    let subject = subject.clone();
                                    move |_| confirm_remove.set(Some(subject.clone()))
                                }>"Remove node"</button>
                        </div>
                    }
                }
            </Can>
        </Card>
        <ConfirmDialog
            subject=confirm_revoke
            title="Revoke the node token?"
            action_label="Revoke token"
            explain=|name: String| format!("{name}'s agent is disconnected now and refused until an Administrator allows it to enrol again.")
            on_confirm=move |id: String| run(id, IdentityAction::RevokeToken)
        />
        <ConfirmDialog
            subject=confirm_remove
            title="Remove the node?"
            action_label="Remove node"
            explain=|name: String| format!("The panel forgets {name}: its agent is disconnected and refused. To come back it must enrol again with a key (and an Administrator's permission).")
            on_confirm=move |id: String| run(id, IdentityAction::Remove)
        />
    }
}
