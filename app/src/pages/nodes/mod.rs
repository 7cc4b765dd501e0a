//! Nodes: the list (here) and a node's page.
pub mod detail;

use domain::node::{Connectivity, NodeView};
use domain::time;
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api;
use crate::components::{Badge, EmptyState, ErrorBox, PageHeader, TABLE, TD, TH};
use crate::live::use_live;

pub fn status_badge(node: &NodeView, now_ms: i64) -> impl IntoView + use<> {
    let (tone, label) = match node.connectivity {
        Connectivity::Online => ("green", "Online".to_string()),
        Connectivity::Silent => ("amber", "Silent".to_string()),
        Connectivity::Offline => ("red", "Offline".to_string()),
    };
    let seen = node
        .last_seen_ms
        .map(|t| time::ago(now_ms, t))
        .unwrap_or_else(|| "never seen".into());
    view! {
        <div class="flex flex-col gap-0.5">
            <span data-testid="status"><Badge text=label tone/></span>
            <span class="text-xs text-slate-500" data-testid="last-seen">{seen}</span>
        </div>
    }
}

#[component]
pub fn NodesPage() -> impl IntoView {
    let live = use_live();
    let nodes = Resource::new(move || live.nodes.get(), |_| api::list_nodes());
    let query = RwSignal::new(String::new());
    view! {
        <PageHeader title="Nodes" subtitle="Edge nodes enrolled with this panel, live.">
            <input
                type="search"
                placeholder="Search name, address, state…"
                aria-label="Search nodes"
                class="w-72 rounded-md border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-sky-300"
                prop:value=move || query.get()
                on:input=move |ev| query.set(event_target_value(&ev))
            />
        </PageHeader>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading nodes…"</p> }>
            {move || Suspend::new(async move {
                match nodes.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(snapshot) if snapshot.data.is_empty() => view! {
                        <EmptyState title="No nodes yet" hint="Create an enrolment key, then start flotilla-agent on a node with it."/>
                    }.into_any(),
                    Ok(snapshot) => {
                        let all = StoredValue::new(snapshot.data);
                        let server_now = snapshot.now_ms;
                        let shown = move || {
                            let q = query.get();
                            all.with_value(|n| n.iter().filter(|n| n.matches(&q)).cloned().collect::<Vec<_>>())
                        };
                        let online = all.with_value(|n| n.iter().filter(|n| n.connectivity == Connectivity::Online).count());
                        let total = all.with_value(Vec::len);
                        view! {
                            <p class="mb-3 text-sm text-slate-500" data-testid="node-count">{format!("{online} of {total} online")}</p>
                            <div class="overflow-x-auto bg-white rounded-lg border border-slate-200 shadow-sm">
                                <table class=TABLE>
                                    <thead><tr>
                                        <th class=TH>"Name"</th><th class=TH>"Status"</th><th class=TH>"Addresses"</th>
                                        <th class=TH>"Engine"</th><th class=TH>"Swarm"</th><th class=TH>"Firmware"</th>
                                    </tr></thead>
                                    <tbody class="divide-y divide-slate-100">
                                        <For each=shown key=|n| (n.id.clone(), n.connectivity, n.last_seen_ms, n.engine_version.clone(), n.swarm_state.clone()) let:node>
                                            {node_row(node, server_now)}
                                        </For>
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

fn node_row(node: NodeView, server_now: i64) -> impl IntoView {
    let live = use_live();
    let href = format!("/nodes/{}", node.id);
    let name = node.hostname.clone();
    let status = node.clone();
    view! {
        <tr data-testid="node-row" data-hostname=node.hostname.clone() data-status=node.connectivity.label() class="hover:bg-slate-50">
            <td class=TD>
                <A href=href attr:class="font-medium text-sky-700 hover:underline">{name}</A>
            </td>
            <td class=TD>{move || status_badge(&status, live.now.get().unwrap_or(server_now))}</td>
            <td class=TD><span class="font-mono text-xs">{node.addresses.join(", ")}</span></td>
            <td class=TD data-testid="engine">{node.engine_version.clone()}</td>
            <td class=TD>{node.swarm_state.clone()}</td>
            <td class=TD>
                {node.firmware_version.clone()}
                {node.firmware_upgrade.clone().map(|u| view! {
                    <span class="ml-2" data-testid="node-upgrading" title=u><Badge text="upgrading".into() tone="amber"/></span>
                })}
            </td>
        </tr>
    }
}
