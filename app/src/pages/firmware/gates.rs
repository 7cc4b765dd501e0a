//! A cluster's rollout gates (on its page): the checks every firmware rollout runs after each
//! node serves again; Supervisors add and remove them, everyone reads them.
use domain::cluster::problem;
use domain::firmware::gates::{Gate, GateDraft};
use domain::{AppError, Permission};
use leptos::prelude::*;

use crate::api;
use crate::components::{BUTTON, Can, ConfirmDialog, ErrorBox, TD, TH};
use crate::forms::form_errors;
use crate::live::{report_done, use_live, use_toasts};

const INPUT: &str = "block w-full rounded-md border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-sky-300";

#[component]
pub fn RolloutGates(cluster_id: String) -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let id = StoredValue::new(cluster_id);
    let list = Resource::new(
        move || live.clusters.get(),
        move |_| api::rollout_gates(id.get_value()),
    );
    let add = ServerAction::<api::AddRolloutGate>::new();
    let delete = ServerAction::<api::DeleteRolloutGate>::new();
    let confirm = RwSignal::new(None::<(String, String)>);
    let (name, kind, url, status, image, command, timeout) = (
        RwSignal::new(String::new()),
        RwSignal::new("http".to_string()),
        RwSignal::new(String::new()),
        RwSignal::new("200".to_string()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new("30".to_string()),
    );
    let tried = RwSignal::new(false);
    let draft = move || GateDraft {
        name: name.get(),
        kind: kind.get(),
        url: url.get(),
        status: status.get(),
        image: image.get(),
        command: command.get(),
        timeout_secs: timeout.get(),
    };
    let errors = form_errors(
        move || tried.get(),
        move || draft().validate().err().unwrap_or_default(),
        move || add.value().get(),
    );
    let err = move |field: &'static str| move || problem(&errors.get(), field).map(str::to_owned);
    Effect::new(move |_| match add.value().get() {
        Some(Ok(_)) => {
            toasts.success("Gate added: rollouts started from now on run it.");
            name.set(String::new());
            tried.set(false);
            live.clusters.update(|n| *n += 1);
        }
        Some(Err(AppError::Invalid(_) | AppError::Validation(_))) | None => {}
        Some(Err(e)) => toasts.error(&e),
    });
    report_done(move || delete.value().get(), "Gate removed.", live.clusters);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        let d = draft();
        if d.validate().is_ok() {
            add.dispatch(api::AddRolloutGate {
                cluster_id: id.get_value(),
                draft: d,
            });
        }
    };
    let table = move |all: Vec<Gate>| {
        view! {
            <table class="min-w-full divide-y divide-slate-200 text-sm">
                <thead><tr><th class=TH>"Gate"</th><th class=TH>"Check"</th><th class=TH>"Time allowed"</th><th class=TH></th></tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {all.into_iter().map(|g| {
                        let subject = (g.id.clone(), g.name.clone());
                        view! {
                            <tr data-testid="gate-row" data-name=g.name.clone()>
                                <td class=TD>{g.name.clone()}</td>
                                <td class=TD><span class="font-mono text-xs">{g.check.describe()}</span></td>
                                <td class=TD>{format!("{} s", g.timeout_secs)}</td>
                                <td class=TD>
                                    <Can permission=Permission::Supervise>
                                        {
                                            let subject = subject.clone();
                                            view! {
                                                <button class="text-rose-700 hover:underline text-sm" data-testid="delete-gate"
                                                    on:click=move |_| confirm.set(Some(subject.clone()))>"Remove"</button>
                                            }
                                        }
                                    </Can>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    let input = move |field: &'static str,
                      label: &'static str,
                      value: RwSignal<String>,
                      placeholder: &'static str| {
        view! {
            <div>
                <label for=format!("gate-{field}") class="block text-sm font-medium text-slate-700">{label}</label>
                <input id=format!("gate-{field}") class=INPUT placeholder=placeholder data-testid=format!("gate-{field}")
                    prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
                {move || err(field)().map(|m| view! { <p class="text-xs text-rose-700" data-testid=format!("error-gate-{field}")>{m}</p> })}
            </div>
        }
    };
    view! {
        <section class="mt-6 bg-white rounded-lg border border-slate-200 shadow-sm p-5" data-testid="rollout-gates">
            <h2 class="text-sm font-semibold text-slate-700 mb-2">"Rollout gates"</h2>
            <p class="text-sm text-slate-500 mb-3">"Checked after each node of a firmware rollout serves again, before its commit and before the next node goes down. An HTTP check is a GET sent by the upgraded node; a job is a one-shot Swarm job that must complete. A gate that does not pass rolls that node back and pauses the rollout."</p>
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(AppError::NotFound(_)) => ().into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(all) if all.is_empty() => view! { <p class="text-sm text-slate-500" data-testid="no-gates">"No gate: a node passes once it is back, active and its KeepAlived healthy."</p> }.into_any(),
                        Ok(all) => table(all),
                    }
                })}
            </Transition>
            <Can permission=Permission::Supervise>
                <form class="mt-4 space-y-3" on:submit=submit data-testid="gate-form">
                    <div class="grid gap-3 md:grid-cols-3 items-start">
                        {input("name", "Name", name, "web answers")}
                        <div>
                            <label for="gate-kind" class="block text-sm font-medium text-slate-700">"Check"</label>
                            <select id="gate-kind" class=INPUT data-testid="gate-kind" on:change=move |e| kind.set(event_target_value(&e))>
                                <option value="http" selected=move || kind.get() == "http">"HTTP GET from the node"</option>
                                <option value="job" selected=move || kind.get() == "job">"One-shot Swarm job"</option>
                            </select>
                            {move || err("kind")().map(|m| view! { <p class="text-xs text-rose-700">{m}</p> })}
                        </div>
                        {input("timeout_secs", "Seconds it may take", timeout, "30")}
                    </div>
                    {move || if kind.get() == "job" {
                        view! {
                            <div class="grid gap-3 md:grid-cols-2 items-start">
                                {input("image", "Image", image, "registry.local/checks:1")}
                                {input("command", "Command (words separated by spaces)", command, "sh -c ./smoke-test")}
                            </div>
                        }.into_any()
                    } else {
                        view! {
                            <div class="grid gap-3 md:grid-cols-2 items-start">
                                {input("url", "Address", url, "http://10.0.0.10:8080/health")}
                                {input("status", "Status that passes", status, "200")}
                            </div>
                        }.into_any()
                    }}
                    <button type="submit" class=BUTTON data-testid="add-gate" disabled=move || add.pending().get()>"Add gate"</button>
                </form>
            </Can>
            <ConfirmDialog
                subject=confirm
                title="Remove this gate?"
                action_label="Remove gate"
                explain=|name: String| format!("Rollouts no longer check \"{name}\" (one running now from its next node on).")
                on_confirm=move |gate_id: String| { delete.dispatch(api::DeleteRolloutGate { cluster_id: id.get_value(), gate_id }); }
            />
        </section>
    }
}
