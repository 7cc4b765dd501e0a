//! The registry credentials of a cluster (on its page): each registry with its user and what a
//! `docker login` on every node said; add or replace one, import and export CSV (exports carry
//! no passwords), remove. Passwords are write-only.
use domain::cluster::problem;
use domain::workload::registry::{CheckStatus, CredentialDraft, CredentialView};
use domain::{AppError, Permission};
use leptos::prelude::*;

use crate::api;
use crate::components::{BUTTON, BUTTON_SECONDARY, Badge, Can, ConfirmDialog, ErrorBox, TD, TH};
use crate::forms::form_errors;
use crate::live::{report_done, use_live, use_toasts};

const INPUT: &str = "block w-full rounded-md border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-sky-300";

fn tone(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Valid => "green",
        CheckStatus::Invalid => "red",
        CheckStatus::Pending => "slate",
    }
}

#[component]
pub fn RegistryCredentials(cluster_id: String) -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let id = StoredValue::new(cluster_id);
    let list = Resource::new(
        move || live.clusters.get(),
        move |_| api::registry_credentials(id.get_value()),
    );
    let save = ServerAction::<api::SaveRegistryCredential>::new();
    let import = ServerAction::<api::ImportRegistryCredentials>::new();
    let export = ServerAction::<api::ExportRegistryCredentials>::new();
    let delete = ServerAction::<api::DeleteRegistryCredential>::new();
    let confirm = RwSignal::new(None::<(String, String)>);
    let (registry, username, password) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let csv = RwSignal::new(String::new());
    let tried = RwSignal::new(false);
    let draft = move || CredentialDraft {
        registry: registry.get(),
        username: username.get(),
        password: password.get(),
    };
    let errors = form_errors(
        move || tried.get(),
        move || draft().validate().err().unwrap_or_default(),
        move || save.value().get(),
    );
    let err = move |field: &'static str| move || problem(&errors.get(), field).map(str::to_owned);
    Effect::new(move |_| match save.value().get() {
        Some(Ok(())) => {
            toasts.success("Saved; checking it on every node.");
            registry.set(String::new());
            username.set(String::new());
            password.set(String::new());
            tried.set(false);
            live.clusters.update(|n| *n += 1);
        }
        Some(Err(AppError::Invalid(_) | AppError::Validation(_))) | None => {}
        Some(Err(e)) => toasts.error(&e),
    });
    Effect::new(move |_| match import.value().get() {
        Some(Ok(n)) => {
            toasts.success(format!(
                "Imported {n} credential(s); checking them on every node."
            ));
            csv.set(String::new());
            live.clusters.update(|n| *n += 1);
        }
        Some(Err(AppError::Invalid(_))) | None => {}
        Some(Err(e)) => toasts.error(&e),
    });
    report_done(
        move || delete.value().get(),
        "Credential removed.",
        live.clusters,
    );
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        tried.set(true);
        let d = draft();
        if d.validate().is_ok() {
            save.dispatch(api::SaveRegistryCredential {
                cluster_id: id.get_value(),
                draft: d,
            });
        }
    };
    let table = move |all: Vec<CredentialView>| {
        view! {
            <table class="min-w-full divide-y divide-slate-200 text-sm">
                <thead><tr><th class=TH>"Registry"</th><th class=TH>"User"</th><th class=TH>"Login on each node"</th><th class=TH></th></tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {all.into_iter().map(|c| {
                        let (cid, name) = (c.id.clone(), c.registry.clone());
                        view! {
                            <tr data-testid="credential-row" data-registry=c.registry.clone()>
                                <td class=TD><span class="font-mono">{c.registry.clone()}</span></td>
                                <td class=TD>{c.username.clone()}<p class="text-xs text-slate-500">"password saved (never shown)"</p></td>
                                <td class=TD>
                                    <ul class="space-y-1">
                                        {c.checks.into_iter().map(|k| view! {
                                            <li data-testid="credential-check" data-node=k.node.clone() data-status=k.status.as_str()>
                                                <span class="mr-2">{k.node.clone()}</span>
                                                <Badge text=k.status.as_str().to_string() tone=tone(k.status)/>
                                                {(!k.message.is_empty()).then(|| view! { <p class="text-xs text-rose-700">{k.message.clone()}</p> })}
                                            </li>
                                        }).collect_view()}
                                    </ul>
                                </td>
                                <td class=TD>
                                    <Can permission=Permission::Supervise>
                                        {
                                            let (cid, name) = (cid.clone(), name.clone());
                                            view! {
                                                <button class="text-rose-700 hover:underline text-sm" data-testid="delete-credential"
                                                    on:click=move |_| confirm.set(Some((cid.clone(), name.clone())))>"Remove"</button>
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
    view! {
        <section class="mt-6 bg-white rounded-lg border border-slate-200 shadow-sm p-5" data-testid="registry-credentials">
            <h2 class="text-sm font-semibold text-slate-700 mb-2">"Registry credentials"</h2>
            <p class="text-sm text-slate-500 mb-3">"Used on every deploy and update so that every node can pull private images; changing one gives it to the running services too."</p>
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(AppError::NotFound(_)) => ().into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(all) if all.is_empty() => view! { <p class="text-sm text-slate-500" data-testid="no-credentials">"No registry credential yet."</p> }.into_any(),
                        Ok(all) => table(all),
                    }
                })}
            </Transition>
            <Can permission=Permission::Operate>
                <form class="mt-4 grid gap-3 md:grid-cols-[1fr_1fr_1fr_auto] items-start" on:submit=submit data-testid="credential-form">
                    <div>
                        <label for="cred-registry" class="block text-sm font-medium text-slate-700">"Registry"</label>
                        <input id="cred-registry" class=INPUT placeholder="registry.example.com:5000" prop:value=move || registry.get() on:input=move |ev| registry.set(event_target_value(&ev))/>
                        {move || err("registry")().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-registry">{m}</p> })}
                    </div>
                    <div>
                        <label for="cred-username" class="block text-sm font-medium text-slate-700">"User"</label>
                        <input id="cred-username" class=INPUT autocomplete="off" prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev))/>
                        {move || err("username")().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-username">{m}</p> })}
                    </div>
                    <div>
                        <label for="cred-password" class="block text-sm font-medium text-slate-700">"Password or token"</label>
                        <input id="cred-password" type="password" autocomplete="new-password" class=INPUT prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                        {move || err("password")().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-password">{m}</p> })}
                    </div>
                    <button type="submit" class=format!("{BUTTON} md:mt-6") data-testid="save-credential" disabled=move || save.pending().get()>"Save credential"</button>
                </form>
                <details class="mt-4">
                    <summary class="text-sm text-sky-700 cursor-pointer">"Import or export CSV"</summary>
                    <div class="mt-2 space-y-2">
                        <label for="cred-csv" class="block text-sm font-medium text-slate-700">"registry,username,password — one per line"</label>
                        <textarea id="cred-csv" rows="4" class="block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-xs"
                            prop:value=move || csv.get() on:input=move |ev| csv.set(event_target_value(&ev))></textarea>
                        {move || match import.value().get() {
                            Some(Err(AppError::Invalid(all))) => Some(view! {
                                <ul class="text-xs text-rose-700" data-testid="error-csv">{all.into_iter().map(|e| view! { <li>{e.message}</li> }).collect_view()}</ul>
                            }),
                            _ => None,
                        }}
                        <div class="flex gap-2">
                            <button class=BUTTON_SECONDARY data-testid="import-credentials"
                                on:click=move |_| { import.dispatch(api::ImportRegistryCredentials { cluster_id: id.get_value(), csv: csv.get_untracked() }); }>"Import"</button>
                            <button class=BUTTON_SECONDARY data-testid="export-credentials"
                                on:click=move |_| { export.dispatch(api::ExportRegistryCredentials { cluster_id: id.get_value() }); }>"Export"</button>
                        </div>
                        {move || export.value().get().map(|r| match r {
                            Ok(text) => view! { <pre class="rounded bg-slate-100 p-2 text-xs" data-testid="exported-csv">{text}</pre> }.into_any(),
                            Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        })}
                    </div>
                </details>
            </Can>
            <ConfirmDialog
                subject=confirm
                title="Remove this registry credential?"
                action_label="Remove"
                explain=|name: String| format!("Deploys stop sending credentials for {name}. Running services keep what Swarm stored with them.")
                on_confirm=move |cid: String| { delete.dispatch(api::DeleteRegistryCredential { cluster_id: id.get_value(), id: cid }); }
            />
        </section>
    }
}
