//! The audit log: every change made through the panel, newest first, paged and searched on the
//! server as the URL says (`/audit?q=edge-1&page=2`). Supervisors and Administrators.
use domain::time::ago;
use leptos::prelude::*;

use crate::api;
use crate::components::{EmptyState, ErrorBox, PageHeader, TABLE, TD, TH};
use crate::lists::{ListPath, Pager, SearchBox, UrlSelect, use_url_params};

#[component]
pub fn AuditPage() -> impl IntoView {
    let params = use_url_params();
    let list = ListPath {
        path: "/audit",
        params,
    };
    let entries = Resource::new(
        move || params.get(),
        |p| api::audit_log(p.q, p.sort, p.dir, p.page, p.per_page),
    );
    view! {
        <PageHeader title="Audit log" subtitle="Every change made through the panel: who, what, when. Never a secret's value.">
            <UrlSelect
                list=list
                label="Order"
                options=&[("", "Newest first"), ("oldest", "Oldest first")]
                get=|p| p.sort.clone()
                set=|p, v| p.sort = v
            />
            <SearchBox list=list label="Search the audit log" placeholder="Search who, what, target…"/>
        </PageHeader>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match entries.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(s) if s.data.matched == 0 && params.with(|p| p.q.as_deref().unwrap_or_default().is_empty()) => view! {
                        <EmptyState title="Nothing recorded yet" hint="Changes made through the panel appear here."/>
                    }.into_any(),
                    Ok(s) => {
                        let now = s.now_ms;
                        let info = s.data.info();
                        let rows = s.data.rows;
                        view! {
                            <div class="overflow-x-auto bg-white rounded-lg border border-slate-200 shadow-sm">
                                <table class=TABLE>
                                    <thead><tr>
                                        <th class=TH>"When"</th><th class=TH>"Who"</th><th class=TH>"What"</th>
                                        <th class=TH>"Target"</th><th class=TH>"Detail"</th>
                                    </tr></thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {rows.into_iter().map(|e| view! {
                                            <tr data-testid="audit-row" data-action=e.action.clone()>
                                                <td class=TD title=e.action.clone()>{ago(now, e.at_ms)}</td>
                                                <td class=TD>{e.actor.clone()}</td>
                                                <td class=TD>{e.what()}</td>
                                                <td class=TD><span class="font-mono text-xs">{e.target.clone()}</span></td>
                                                <td class=TD><span class="font-mono text-xs">{e.detail.clone()}</span></td>
                                            </tr>
                                        }).collect_view()}
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
