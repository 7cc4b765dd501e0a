//! Nodes: the list (here) and a node's page.
pub mod detail;

use domain::list::{NodePage, NodeSort};
use domain::node::{Connectivity, NodeView};
use domain::time;
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api;
use crate::components::{Badge, EmptyState, ErrorBox, PageHeader, TABLE, TD, TH};
use crate::lists::{ListPath, Pager, SearchBox, SortHeader, UrlSelect, use_url_params};
use crate::live::use_live;

fn badge(node: &NodeView) -> impl IntoView + use<> {
    let (tone, label) = match node.connectivity {
        Connectivity::Online => ("green", "Online".to_string()),
        Connectivity::Silent => ("amber", "Silent".to_string()),
        Connectivity::Offline => ("red", "Offline".to_string()),
    };
    view! { <span data-testid="status"><Badge text=label tone/></span> }
}

fn seen(node: &NodeView, now_ms: i64) -> impl IntoView + use<> {
    let seen = node
        .last_seen_ms
        .map(|t| time::ago(now_ms, t))
        .unwrap_or_else(|| "never seen".into());
    view! { <span class="text-xs text-slate-500" data-testid="last-seen">{seen}</span> }
}

/// A node's status with when it was last seen.
pub fn status_badge(node: &NodeView, now_ms: i64) -> impl IntoView + use<> {
    view! {
        <div class="flex flex-col gap-0.5">{badge(node)}{seen(node, now_ms)}</div>
    }
}

/// The node list: a page of it, searched, filtered by status and sorted on the server as the URL
/// says (`/nodes?q=edge&status=offline&sort=last_seen&dir=desc&page=2`).
#[component]
pub fn NodesPage() -> impl IntoView {
    let live = use_live();
    live.watch_some_nodes();
    let params = use_url_params();
    let list = ListPath {
        path: "/nodes",
        params,
    };
    let nodes = Resource::new(
        move || (params.get(), live.nodes.get()),
        |(p, _)| api::list_nodes(p.q, p.status, p.sort, p.dir, p.page, p.per_page),
    );
    view! {
        <PageHeader title="Nodes" subtitle="Edge nodes enrolled with this panel, live.">
            <UrlSelect
                list=list
                label="Status"
                options=&[("", "All"), ("online", "Online"), ("silent", "Silent"), ("offline", "Offline")]
                get=|p| p.status.clone()
                set=|p, v| p.status = v
            />
            <SearchBox list=list label="Search nodes" placeholder="Search name, address, version…"/>
        </PageHeader>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading nodes…"</p> }>
            {move || Suspend::new(async move {
                match nodes.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(snapshot) if snapshot.data.total == 0 => view! {
                        <EmptyState title="No nodes yet" hint="Create an enrolment key, then start flotilla-agent on a node with it."/>
                    }.into_any(),
                    Ok(snapshot) => {
                        let server_now = snapshot.now_ms;
                        let NodePage { page, total, online } = snapshot.data;
                        live.watch_nodes(page.rows.iter().map(|n| n.id.clone()));
                        let info = page.info();
                        let rows = page.rows;
                        view! {
                            <p class="mb-3 text-sm text-slate-500" data-testid="node-count">{format!("{online} of {total} online")}</p>
                            <div class="overflow-x-auto bg-white rounded-lg border border-slate-200 shadow-sm">
                                <table class=TABLE>
                                    <thead><tr>
                                        <SortHeader list=list label="Name" key=NodeSort::Name/>
                                        <SortHeader list=list label="Status" key=NodeSort::Status/>
                                        <th class=TH>"Addresses"</th>
                                        <th class=TH>"Engine"</th><th class=TH>"Swarm"</th><th class=TH>"Firmware"</th>
                                        <SortHeader list=list label="Last seen" key=NodeSort::LastSeen/>
                                    </tr></thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {rows.into_iter().map(|node| node_row(node, server_now)).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <Pager list=list page=info/>
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
            <td class=TD>{badge(&node)}</td>
            <td class=TD><span class="font-mono text-xs">{node.addresses.join(", ")}</span></td>
            <td class=TD data-testid="engine">{node.engine_version.clone()}</td>
            <td class=TD>{node.swarm_state.clone()}</td>
            <td class=TD>
                {node.firmware_version.clone()}
                {node.firmware_upgrade.clone().map(|u| view! {
                    <span class="ml-2" data-testid="node-upgrading" title=u><Badge text="upgrading".into() tone="amber"/></span>
                })}
            </td>
            <td class=TD>{move || seen(&status, live.now.get().unwrap_or(server_now))}</td>
        </tr>
    }
}
