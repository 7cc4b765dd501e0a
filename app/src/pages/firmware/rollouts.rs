//! The newest firmware rollout of every cluster, on the Firmware page: progress bar, time left
//! and the per-node step timeline, live, with the operator's buttons.
use leptos::prelude::*;

use crate::api;
use crate::components::{Card, ErrorBox};
use crate::live::use_live;
use crate::pages::activity::{WorkflowScope, WorkflowSection};

#[component]
pub fn ClusterRollouts() -> impl IntoView {
    let live = use_live();
    // Steps move on cluster events; a rollout's start and end are firmware events.
    let rollouts = Resource::new(
        move || (live.firmware.get(), live.clusters.get()),
        |_| api::firmware_rollouts(),
    );
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match rollouts.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(s) if s.data.is_empty() => ().into_any(),
                    Ok(s) => view! {
                        <div class="my-6">
                            <Card title="Cluster rollouts">
                                <div class="space-y-8" data-testid="cluster-rollouts">
                                    {s.data.into_iter().map(|r| view! {
                                        <div data-testid="cluster-rollout" data-cluster=r.cluster.clone()>
                                            <a class="text-sm font-medium text-sky-700 hover:underline" href=format!("/clusters/{}", r.cluster_id)>{r.cluster.clone()}</a>
                                            <WorkflowSection scope=WorkflowScope::Cluster(r.cluster_id) workflow=r.workflow server_now=s.now_ms/>
                                        </div>
                                    }).collect_view()}
                                </div>
                            </Card>
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
