//! Clusters: the list (here), a cluster's page, the Add Cluster wizard, its members, networks
//! and activity, and the changes made to it (its audit log).
mod cards;
mod changes;
pub mod detail;
mod members;
mod networks;
pub mod new;
mod volumes;

use domain::cluster::ClusterSummary;
use domain::health::Health;
use domain::list::ClusterSort;
use domain::{Permission, time};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api;
use crate::components::{
    BUTTON, BUTTON_SECONDARY, Badge, Can, EmptyState, ErrorBox, PageHeader, TABLE, TD, TH,
};
use crate::lists::{ListPath, Pager, SearchBox, SortHeader, use_url_params};
use crate::live::use_live;

pub fn health_tone(h: Health) -> &'static str {
    match h {
        Health::Healthy => "green",
        Health::Degraded | Health::Creating | Health::Deleting => "amber",
        Health::Unavailable | Health::Error => "red",
    }
}

/// Optional columns of the cluster list; the choice is remembered in this browser.
const COLUMNS: [(&str, &str); 4] = [
    ("online", "Online"),
    ("availability", "Availability"),
    ("workloads", "Workloads"),
    ("vips", "Virtual IPs"),
];
#[cfg(feature = "hydrate")]
const COLUMNS_KEY: &str = "flotilla.clusters.columns";

#[component]
pub fn ClustersPage() -> impl IntoView {
    let live = use_live();
    let params = use_url_params();
    let list = ListPath {
        path: "/clusters",
        params,
    };
    let clusters = Resource::new(
        move || (params.get(), live.clusters.get()),
        |(p, _)| api::list_clusters(p.q, p.sort, p.dir, p.page, p.per_page),
    );
    let hidden = RwSignal::new(Vec::<String>::new());
    let chooser = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(saved) = web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item(COLUMNS_KEY).ok().flatten())
        {
            hidden.set(
                saved
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
    });
    let toggle = move |key: &'static str| {
        hidden.update(|h| {
            if let Some(i) = h.iter().position(|k| k == key) {
                h.remove(i);
            } else {
                h.push(key.to_owned());
            }
        });
        #[cfg(feature = "hydrate")]
        if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = storage.set_item(COLUMNS_KEY, &hidden.get_untracked().join(","));
        }
    };
    let shown = move |key: &str| !hidden.with(|h| h.iter().any(|k| k == key));
    view! {
        <PageHeader title="Clusters" subtitle="Docker Swarm clusters with floating virtual IPs, built and operated by Flotilla.">
            <SearchBox list=list label="Search clusters" placeholder="Search name or virtual IP…"/>
            <div class="relative">
                <button class=BUTTON_SECONDARY on:click=move |_| chooser.update(|c| *c = !*c) aria-expanded=move || chooser.get().to_string()>"Columns"</button>
                <Show when=move || chooser.get()>
                    <div class="absolute right-0 mt-2 w-48 rounded-md border border-slate-200 bg-white shadow-lg p-2 z-30" data-testid="column-chooser">
                        {COLUMNS.into_iter().map(|(key, label)| view! {
                            <label class="flex items-center gap-2 px-2 py-1 text-sm text-slate-700">
                                <input type="checkbox" prop:checked=move || shown(key) on:change=move |_| toggle(key)/>
                                {label}
                            </label>
                        }).collect_view()}
                    </div>
                </Show>
            </div>
            <Can permission=Permission::Operate>
                <A href="/clusters/new" attr:class=BUTTON>"Add cluster"</A>
            </Can>
        </PageHeader>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading clusters…"</p> }>
            {move || Suspend::new(async move {
                match clusters.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(s) if s.data.total == 0 => view! {
                        <EmptyState title="No clusters yet" hint="Add a cluster to build a swarm from online nodes, with floating virtual IPs."/>
                    }.into_any(),
                    Ok(s) => {
                        let info = s.data.page.info();
                        let rows = s.data.page.rows;
                        let now = s.now_ms;
                        view! {
                            <div class="overflow-x-auto bg-white rounded-lg border border-slate-200 shadow-sm">
                                <table class=TABLE>
                                    <thead><tr>
                                        <SortHeader list=list label="Name" key=ClusterSort::Name/>
                                        <th class=TH>"Status"</th>
                                        <Show when=move || shown("online")><th class=TH>"Online"</th></Show>
                                        <Show when=move || shown("availability")><th class=TH>"Availability"</th></Show>
                                        <Show when=move || shown("workloads")><th class=TH>"Workloads"</th></Show>
                                        <Show when=move || shown("vips")><th class=TH>"Virtual IPs"</th></Show>
                                        <SortHeader list=list label="Created" key=ClusterSort::Created/>
                                    </tr></thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {rows.into_iter().map(|c| cluster_row(c, now, shown)).collect_view()}
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

fn cluster_row(
    c: ClusterSummary,
    now_ms: i64,
    shown: impl Fn(&str) -> bool + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let vips = c
        .vips
        .iter()
        .map(|v| {
            let owner = if v.owners.is_empty() {
                "no owner".to_string()
            } else {
                v.owners.join(", ")
            };
            format!("{} → {owner}", v.address)
        })
        .collect::<Vec<_>>()
        .join("; ");
    let name = c.name.clone();
    view! {
        <tr data-testid="cluster-row" data-name=name data-health=c.health.label() class="hover:bg-slate-50">
            <td class=TD><A href=format!("/clusters/{}", c.id) attr:class="font-medium text-sky-700 hover:underline">{c.name.clone()}</A></td>
            <td class=TD>
                <div class="flex flex-col gap-0.5">
                    <span><Badge text=c.health.label().to_string() tone=health_tone(c.health)/></span>
                    <span class="text-xs text-slate-500" data-testid="reason">{c.reason.clone()}</span>
                </div>
            </td>
            <Show when=move || shown("online")><td class=TD data-testid="online">{format!("{}/{}", c.online, c.members)}</td></Show>
            <Show when=move || shown("availability")><td class=TD>{format!("{}/{}", c.available, c.members)}</td></Show>
            <Show when=move || shown("workloads")><td class=TD>{c.workloads}</td></Show>
            <Show when=move || shown("vips")>
                <td class=TD><span class="font-mono text-xs" data-testid="vips">{if vips.is_empty() { "—".to_string() } else { vips.clone() }}</span></td>
            </Show>
            <td class=TD><span class="text-xs text-slate-500">{time::ago(now_ms, c.created_at_ms)}</span></td>
        </tr>
    }
}
