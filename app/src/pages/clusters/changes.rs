//! The changes made to a cluster through the panel (its audit log, newest first): who, what,
//! when — configuration and secrets included, never a secret's value.
use domain::time::ago;
use leptos::prelude::*;

use crate::api;
use crate::components::{ErrorBox, TD, TH};
use crate::live::use_live;

#[component]
pub fn ClusterChanges(cluster_id: String) -> impl IntoView {
    let live = use_live();
    let id = StoredValue::new(cluster_id);
    let list = Resource::new(
        move || live.clusters.get(),
        move |_| api::cluster_changes(id.get_value()),
    );
    view! {
        <section class="mt-6 bg-white rounded-lg border border-slate-200 shadow-sm p-5" data-testid="cluster-changes">
            <h2 class="text-sm font-semibold text-slate-700 mb-2">"Changes"</h2>
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(domain::AppError::NotFound(_)) => ().into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(s) if s.data.is_empty() => view! { <p class="text-sm text-slate-500">"Nothing changed yet."</p> }.into_any(),
                        Ok(s) => view! {
                            <div class="max-h-80 overflow-auto">
                                <table class="min-w-full divide-y divide-slate-200 text-sm">
                                    <thead><tr><th class=TH>"When"</th><th class=TH>"Who"</th><th class=TH>"What"</th><th class=TH>"Detail"</th></tr></thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {s.data.into_iter().map(|e| view! {
                                            <tr data-testid="change-row" data-action=e.action.clone()>
                                                <td class=TD>{ago(s.now_ms, e.at_ms)}</td>
                                                <td class=TD>{e.actor.clone()}</td>
                                                <td class=TD>{e.what()}</td>
                                                <td class=TD><span class="font-mono text-xs">{e.detail.clone()}</span></td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
