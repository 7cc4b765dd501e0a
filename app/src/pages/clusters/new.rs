//! The Add Cluster wizard: 1 Cluster definition, 2 Node details. Validation is `domain`'s, run
//! as you type once a step was submitted, and again by the server.
use domain::cluster::{
    self, Candidate, ClusterDraft, DefinitionDraft, MemberDraft, VipDraft, problem,
};
use domain::storage::{self, VolumeMode};
use domain::swarm::SwarmRole;
use domain::{AppError, ValidationError};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::api;
use crate::components::{BUTTON, BUTTON_SECONDARY, Card, ErrorBox, Field, PageHeader};

const INPUT: &str = "block w-full rounded-md border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-sky-300";
const INPUT_BAD: &str = "block w-full rounded-md border border-rose-400 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-rose-300";

fn server_problems(e: &AppError) -> Vec<ValidationError> {
    match e {
        AppError::Invalid(all) => all.clone(),
        AppError::Validation(v) => vec![v.clone()],
        _ => vec![],
    }
}

#[component]
pub fn NewClusterPage() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let volumes = RwSignal::new(false);
    let volume_sync = RwSignal::new(storage::DEFAULT_SYNC_SECS.to_string());
    let vip_enabled = RwSignal::new(false);
    let vips = RwSignal::new(vec![VipDraft::default()]);
    let synctime = RwSignal::new(cluster::DEFAULT_SYNCTIME.to_string());
    let pools = RwSignal::new(vec![cluster::DEFAULT_POOL.to_string()]);
    let subnet_size = RwSignal::new(cluster::DEFAULT_SUBNET_SIZE.to_string());
    let data_path_port = RwSignal::new(cluster::DEFAULT_DATA_PATH_PORT.to_string());
    let listen_port = RwSignal::new(cluster::DEFAULT_LISTEN_PORT.to_string());
    let advanced = RwSignal::new(false);
    let members = RwSignal::new(Vec::<MemberDraft>::new());
    let step = RwSignal::new(1u8);
    let tried1 = RwSignal::new(false);
    let tried2 = RwSignal::new(false);
    let candidates = Resource::new(|| (), |_| api::cluster_candidates());
    let create = ServerAction::<api::CreateCluster>::new();

    let draft = Memo::new(move |_| DefinitionDraft {
        name: name.get(),
        volumes: volumes.get(),
        volume_sync: volume_sync.get(),
        vip_enabled: vip_enabled.get(),
        vips: vips.get(),
        synctime: synctime.get(),
        pools: pools.get(),
        subnet_size: subnet_size.get(),
        data_path_port: data_path_port.get(),
        listen_port: listen_port.get(),
    });
    let cands = Memo::new(move |_| candidates.get().and_then(Result::ok).unwrap_or_default());
    let problems = Memo::new(move |_| {
        let server = create
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| server_problems(&e))
            .unwrap_or_default();
        let mut local = if tried1.get() {
            draft.get().validate().err().unwrap_or_default()
        } else {
            vec![]
        };
        if tried2.get() {
            let whole = ClusterDraft {
                definition: draft.get(),
                members: members.get(),
            };
            for p in whole.validate(&cands.get()).err().unwrap_or_default() {
                if !local.contains(&p) {
                    local.push(p);
                }
            }
        }
        if local.is_empty() { server } else { local }
    });
    let err = move |field: String| {
        Signal::derive(move || problem(&problems.get(), &field).map(str::to_owned))
    };
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/clusters/{id}"), Default::default());
        }
    });

    let next = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried1.set(true);
        if draft.get_untracked().validate().is_ok() {
            step.set(2);
        }
    };
    let submit = move |_| {
        tried1.set(true);
        tried2.set(true);
        let whole = ClusterDraft {
            definition: draft.get_untracked(),
            members: members.get_untracked(),
        };
        if whole.validate(&cands.get_untracked()).is_ok() {
            create.dispatch(api::CreateCluster { draft: whole });
        }
    };

    view! {
        <div class="mb-4 text-sm"><A href="/clusters" attr:class="text-sky-700 hover:underline">"← Clusters"</A></div>
        <PageHeader title="Add cluster" subtitle="Flotilla builds the swarm on the chosen nodes, then runs KeepAlived for the virtual IPs."/>
        <ol class="flex gap-4 mb-6 text-sm" aria-label="Steps">
            <li class=move || if step.get() == 1 { "font-semibold text-sky-700" } else { "text-slate-500" }>"1 · Cluster definition"</li>
            <li class=move || if step.get() == 2 { "font-semibold text-sky-700" } else { "text-slate-500" }>"2 · Node details"</li>
        </ol>
        <Show when=move || step.get() == 1>
            <form on:submit=next data-testid="definition-form" class="space-y-6 max-w-3xl">
                <Card title="Cluster">
                    <div class="space-y-4">
                        <Field label="Cluster name" name="name" value=name error=err("name".into()) hint="2–40 letters, digits, - or _; unique."/>
                        <label class="flex items-center gap-2 text-sm text-slate-700">
                            <input type="checkbox" id="field-volumes" prop:checked=move || volumes.get() on:change=move |_| volumes.update(|v| *v = !*v)/>
                            "Enable cluster volumes (highly available volumes, configured per cluster)"
                        </label>
                        <p class="text-xs text-slate-500">"The nodes chosen next decide the mode: replicated from three nodes, async standby on two. Each node must have what its mode needs (see its page)."</p>
                    </div>
                </Card>
                <Card title="Virtual IPs">
                    <div class="space-y-4">
                        <label class="flex items-center gap-2 text-sm text-slate-700">
                            <input type="checkbox" id="field-vip-enabled" prop:checked=move || vip_enabled.get() on:change=move |_| vip_enabled.update(|v| *v = !*v)/>
                            "Enable virtual IPs (KeepAlived moves each one to a healthy node)"
                        </label>
                        <Show when=move || vip_enabled.get()>
                            <VipRows vips err/>
                        </Show>
                        <div class="max-w-xs">
                            <Field label="Synctime (seconds)" name="synctime" value=synctime error=err("synctime".into())
                                hint="How often KeepAlived peers advertise (> 0.005 s). 0.1 s fails over in about 0.35 s."/>
                        </div>
                    </div>
                </Card>
                <Card title="Swarm overlay networks">
                    <div class="space-y-4">
                        <PoolRows pools err/>
                        <div class="max-w-xs">
                            <Field label="Subnet size (prefix length)" name="subnet_size" value=subnet_size error=err("subnet_size".into())
                                hint="Each overlay network gets a subnet of this size from the pools."/>
                        </div>
                        <button type="button" class="text-sm text-sky-700 hover:underline" on:click=move |_| advanced.update(|a| *a = !*a)>
                            {move || if advanced.get() { "Hide advanced settings" } else { "Advanced settings" }}
                        </button>
                        <Show when=move || advanced.get() || err("data_path_port".into()).get().is_some() || err("listen_port".into()).get().is_some()>
                            <div class="grid gap-4 md:grid-cols-2">
                                <Field label="Data-path port (VXLAN)" name="data_path_port" value=data_path_port error=err("data_path_port".into()) hint="1024–49151; default 4789."/>
                                <Field label="Listen / advertise port" name="listen_port" value=listen_port error=err("listen_port".into()) hint="Swarm control traffic; default 2377."/>
                            </div>
                        </Show>
                    </div>
                </Card>
                <div class="flex justify-end gap-2">
                    <A href="/clusters" attr:class=BUTTON_SECONDARY>"Cancel"</A>
                    <button type="submit" class=BUTTON data-testid="next">"Next: node details"</button>
                </div>
            </form>
        </Show>
        <Show when=move || step.get() == 2>
            <div class="space-y-6">
                <Card title="Nodes">
                    <Transition fallback=|| view! { <p class="text-slate-500">"Loading nodes…"</p> }>
                        {move || Suspend::new(async move {
                            match candidates.await {
                                Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                                Ok(list) if list.is_empty() => view! {
                                    <p class="text-sm text-slate-500">"No nodes are enrolled yet."</p>
                                }.into_any(),
                                Ok(list) => view! { <MemberTable list members vip_enabled err/> }.into_any(),
                            }
                        })}
                    </Transition>
                    {move || err("members".into()).get().map(|m| view! { <p class="mt-3 text-sm text-rose-700" data-testid="error-members">{m}</p> })}
                </Card>
                <Show when=move || volumes.get()>
                    <VolumesCard count=Signal::derive(move || members.with(Vec::len)) volume_sync err/>
                </Show>
                {move || {
                    let spec = ClusterDraft { definition: draft.get(), members: members.get() }.validate(&cands.get()).ok();
                    spec.map(|s| cluster::warnings(&s)).filter(|w| !w.is_empty()).map(|w| view! {
                        <div class="rounded-md border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900" data-testid="warnings">
                            {w.into_iter().map(|m| view! { <p>{m}</p> }).collect_view()}
                        </div>
                    })
                }}
                {move || {
                    // Problems that belong to step 1 (e.g. a pool overlapping a node's network).
                    let own: Vec<ValidationError> = problems.get().into_iter()
                        .filter(|p| !p.field.starts_with("members") && !p.field.starts_with("volume"))
                        .collect();
                    (!own.is_empty()).then(|| view! {
                        <div class="rounded-md border border-rose-300 bg-rose-50 px-4 py-3 text-sm text-rose-800" role="alert" data-testid="definition-problems">
                            <p class="font-medium">"Cluster definition needs changes:"</p>
                            {own.into_iter().map(|p| view! { <p>{format!("{}: {}", p.field, p.message)}</p> }).collect_view()}
                        </div>
                    })
                }}
                {move || create.value().get().and_then(Result::err).filter(|e| server_problems(e).is_empty()).map(|e| view! { <ErrorBox error=e/> })}
                <div class="flex justify-between gap-2">
                    <button type="button" class=BUTTON_SECONDARY on:click=move |_| step.set(1)>"Back"</button>
                    <button type="button" class=BUTTON data-testid="create-cluster" disabled=move || create.pending().get() on:click=submit>
                        {move || if create.pending().get() { "Creating…" } else { "Create cluster" }}
                    </button>
                </div>
            </div>
        </Show>
    }
}

/// Step two's cluster volumes: the mode the chosen nodes give, with the sync interval where it
/// applies (async standby).
#[component]
fn VolumesCard(
    count: Signal<usize>,
    volume_sync: RwSignal<String>,
    err: impl Fn(String) -> Signal<Option<String>> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let mode = Memo::new(move |_| VolumeMode::for_nodes(count.get()).ok());
    let too_few = err("volumes".into());
    view! {
        <Card title="Cluster volumes">
            <div class="space-y-3 text-sm" data-testid="volumes-mode">
                {move || match mode.get() {
                    None => view! { <p class="text-slate-500">"Choose at least two nodes: async standby on two, replicated from three."</p> }.into_any(),
                    Some(m) => view! {
                        <p><span class="font-medium text-slate-900" data-testid="volume-mode">{m.label()}</span>" — "{m.promise()}</p>
                    }.into_any(),
                }}
                {move || too_few.get().map(|m| view! { <p class="text-rose-700" data-testid="error-volumes">{m}</p> })}
                <Show when=move || mode.get() == Some(VolumeMode::AsyncStandby)>
                    <div class="max-w-xs">
                        <Field label="Volume sync interval (seconds)" name="volume_sync" value=volume_sync error=err("volume_sync".into())
                            hint="How often the primary's snapshot is shipped to the standby: at most this much is lost when the primary fails."/>
                    </div>
                </Show>
            </div>
        </Card>
    }
}

#[component]
fn VipRows(
    vips: RwSignal<Vec<VipDraft>>,
    err: impl Fn(String) -> Signal<Option<String>> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let set = move |i: usize, f: fn(&mut VipDraft, String), v: String| {
        vips.update(|all| {
            if let Some(d) = all.get_mut(i) {
                f(d, v)
            }
        })
    };
    view! {
        <div class="space-y-3">
            <For each=move || 0..vips.with(Vec::len) key=|i| *i let:i>
                <div class="grid gap-3 md:grid-cols-[1fr_9rem_1fr_9rem_auto] items-start" data-testid="vip-row">
                    {[("address", "Address/prefix", "10.77.0.100/24"), ("interface", "Interface", "node's cluster interface"), ("peers", "Unicast peers (optional)", "10.77.0.12, 10.77.0.13"), ("track_port", "Require local port (optional)", "e.g. 8080")]
                        .into_iter()
                        .map(|(f, label, placeholder)| {
                            let e = err(format!("vips.{i}.{f}"));
                            let id = format!("vip-{f}-{i}");
                            view! {
                                <div class="space-y-1">
                                    <label for=id.clone() class="block text-xs font-medium text-slate-600">{label}</label>
                                    <input id=id placeholder=placeholder class=move || if e.get().is_some() { INPUT_BAD } else { INPUT }
                                        prop:value=move || vips.with(|all| all.get(i).map(|d| match f { "address" => d.address.clone(), "interface" => d.interface.clone(), "track_port" => d.track_port.clone(), _ => d.peers.clone() }).unwrap_or_default())
                                        on:input=move |ev| {
                                            let v = event_target_value(&ev);
                                            match f {
                                                "address" => set(i, |d, v| d.address = v, v),
                                                "interface" => set(i, |d, v| d.interface = v, v),
                                                "track_port" => set(i, |d, v| d.track_port = v, v),
                                                _ => set(i, |d, v| d.peers = v, v),
                                            }
                                        }/>
                                    {move || e.get().map(|m| view! { <p class="text-xs text-rose-700" data-testid=format!("error-vips.{i}.{f}")>{m}</p> })}
                                </div>
                            }
                        })
                        .collect_view()}
                    <button type="button" class="mt-6 text-sm text-rose-700 hover:underline" aria-label="Remove this virtual IP"
                        on:click=move |_| vips.update(|all| if all.len() > 1 { all.remove(i); })>"Remove"</button>
                </div>
            </For>
            <button type="button" class="text-sm text-sky-700 hover:underline" on:click=move |_| vips.update(|all| all.push(VipDraft::default()))>"+ Add a virtual IP"</button>
        </div>
    }
}

#[component]
fn PoolRows(
    pools: RwSignal<Vec<String>>,
    err: impl Fn(String) -> Signal<Option<String>> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="space-y-2">
            <p class="block text-sm font-medium text-slate-700">"Default address pools"</p>
            <For each=move || 0..pools.with(Vec::len) key=|i| *i let:i>
                {
                    let e = err(format!("pools.{i}"));
                    view! {
                        <div class="flex items-start gap-2">
                            <div class="flex-1 max-w-xs space-y-1">
                                <input id=format!("pool-{i}") aria-label=format!("Address pool {}", i + 1) placeholder="10.200.0.0/16"
                                    class=move || if e.get().is_some() { INPUT_BAD } else { INPUT }
                                    prop:value=move || pools.with(|p| p.get(i).cloned().unwrap_or_default())
                                    on:input=move |ev| { let v = event_target_value(&ev); pools.update(|p| if let Some(x) = p.get_mut(i) { *x = v }) }/>
                                {move || e.get().map(|m| view! { <p class="text-xs text-rose-700" data-testid=format!("error-pools.{i}")>{m}</p> })}
                            </div>
                            <button type="button" class="mt-2 text-sm text-rose-700 hover:underline" on:click=move |_| pools.update(|p| if p.len() > 1 { p.remove(i); })>"Remove"</button>
                        </div>
                    }
                }
            </For>
            <button type="button" class="text-sm text-sky-700 hover:underline" on:click=move |_| pools.update(|p| p.push(String::new()))>"+ Add a pool"</button>
            <p class="text-xs text-slate-500">"CIDRs for overlay networks; they must not overlap each other or the nodes' own networks."</p>
        </div>
    }
}

#[component]
fn MemberTable(
    list: Vec<Candidate>,
    members: RwSignal<Vec<MemberDraft>>,
    vip_enabled: RwSignal<bool>,
    err: impl Fn(String) -> Signal<Option<String>> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let th = "px-3 py-2 text-left text-xs font-semibold uppercase tracking-wide text-slate-500";
    view! {
        <table class="min-w-full text-sm">
            <thead><tr>
                <th class=th>"Node"</th><th class=th>"Role"</th><th class=th>"Interface"</th><th class=th>"Labels"</th>
                <Show when=move || vip_enabled.get()><th class=th>"May hold VIPs"</th></Show>
            </tr></thead>
            <tbody class="divide-y divide-slate-100">
                {list.into_iter().map(|c| member_row(c, members, vip_enabled, err)).collect_view()}
            </tbody>
        </table>
    }
}

fn member_row(
    c: Candidate,
    members: RwSignal<Vec<MemberDraft>>,
    vip_enabled: RwSignal<bool>,
    err: impl Fn(String) -> Signal<Option<String>> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = StoredValue::new(c.node_id.clone());
    let interfaces: Vec<String> = c
        .usable_interfaces()
        .into_iter()
        .map(|(n, a)| format!("{n}|{n} ({a})"))
        .collect();
    let first_interface = c
        .usable_interfaces()
        .first()
        .map(|(n, _)| n.to_string())
        .unwrap_or_default();
    let ineligible = c.ineligible();
    let selected = move || members.with(|m| m.iter().any(|d| d.node_id == id.get_value()));
    let with_member = move |f: &dyn Fn(&mut MemberDraft)| {
        members.update(|all| {
            if let Some(d) = all.iter_mut().find(|d| d.node_id == id.get_value()) {
                f(d)
            }
        })
    };
    let toggle = move |_| {
        members.update(|all| {
            if let Some(i) = all.iter().position(|d| d.node_id == id.get_value()) {
                all.remove(i);
            } else {
                let role = if all.iter().any(|d| d.role == SwarmRole::Manager) {
                    SwarmRole::Worker
                } else {
                    SwarmRole::Manager
                };
                all.push(MemberDraft {
                    node_id: id.get_value(),
                    role,
                    labels: String::new(),
                    interface: first_interface.clone(),
                    vip: true,
                });
            }
        })
    };
    let field = move |f: &str| err(format!("members.{}.{f}", id.get_value()));
    let (node_err, label_err, if_err, volume_err) = (
        field("node"),
        field("labels"),
        field("interface"),
        field("volumes"),
    );
    let host = c.hostname.clone();
    let row_class = if ineligible.is_some() {
        "opacity-60"
    } else {
        ""
    };
    let disabled = ineligible.is_some();
    let (if_label, labels_label, vip_label) = (
        format!("Interface of {host}"),
        format!("Labels of {host}"),
        format!("{host} may hold VIPs"),
    );
    view! {
        <tr data-testid="candidate" data-hostname=c.hostname.clone() class=row_class>
            <td class="px-3 py-2 align-top">
                <label class="flex items-center gap-2">
                    <input type="checkbox" aria-label=format!("Include {}", c.hostname) disabled=disabled
                        prop:checked=selected on:change=toggle/>
                    <span class="font-medium text-slate-900">{c.hostname.clone()}</span>
                </label>
                {ineligible.map(|why| view! { <p class="text-xs text-slate-500">{format!("Not available: {why}")}</p> })}
                {move || node_err.get().map(|m| view! { <p class="text-xs text-rose-700">{m}</p> })}
                {move || volume_err.get().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-volumes-node">{m}</p> })}
            </td>
            <td class="px-3 py-2 align-top">
                <select aria-label=format!("Role of {host}") class="rounded-md border border-slate-300 px-2 py-1 text-sm" disabled=move || !selected()
                    on:change=move |ev| if let Some(role) = SwarmRole::parse(&event_target_value(&ev)) { with_member(&|d| d.role = role) }>
                    {[SwarmRole::Manager, SwarmRole::Worker].into_iter().map(|r| view! {
                        <option value=r.as_str() selected=move || members.with(|m| m.iter().find(|d| d.node_id == id.get_value()).map(|d| d.role) == Some(r))>{r.label()}</option>
                    }).collect_view()}
                </select>
            </td>
            <td class="px-3 py-2 align-top">
                <select aria-label=if_label class="rounded-md border border-slate-300 px-2 py-1 text-sm" disabled=move || !selected()
                    on:change=move |ev| { let v = event_target_value(&ev); with_member(&|d| d.interface = v.clone()); }>
                    {interfaces.into_iter().map(|opt| {
                        let (value, label) = opt.split_once('|').map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or_default();
                        view! { <option value=value>{label}</option> }
                    }).collect_view()}
                </select>
                {move || if_err.get().map(|m| view! { <p class="text-xs text-rose-700">{m}</p> })}
            </td>
            <td class="px-3 py-2 align-top">
                <input aria-label=labels_label placeholder="zone=a, rack=1" disabled=move || !selected()
                    class=move || if label_err.get().is_some() { INPUT_BAD } else { INPUT }
                    prop:value=move || members.with(|m| m.iter().find(|d| d.node_id == id.get_value()).map(|d| d.labels.clone()).unwrap_or_default())
                    on:input=move |ev| { let v = event_target_value(&ev); with_member(&|d| d.labels = v.clone()); }/>
                {move || label_err.get().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-labels">{m}</p> })}
            </td>
            <Show when=move || vip_enabled.get()>
                <td class="px-3 py-2 align-top">
                    <input type="checkbox" aria-label=vip_label.clone() disabled=move || !selected()
                        prop:checked=move || members.with(|m| m.iter().find(|d| d.node_id == id.get_value()).is_some_and(|d| d.vip))
                        on:change=move |_| with_member(&|d| d.vip = !d.vip)/>
                </td>
            </Show>
        </tr>
    }
}
