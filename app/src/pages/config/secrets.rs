//! The Global Secrets card of a cluster page: each secret's name, version, size and who changed
//! it last — never its value, except to a Supervisor or Administrator who reveals it. Editors add
//! secrets (typed or from a text file), give one a new value, delete one, and import `NAME=value`
//! lines; Supervisors export them.
use domain::cluster::problem;
use domain::config::secrets::{SecretDraft, SecretView};
use domain::time::ago;
use domain::{AppError, Permission};
use leptos::prelude::*;

use super::files::{encode, read_file};
use crate::api;
use crate::components::{BUTTON, BUTTON_SECONDARY, Can, ConfirmDialog, ErrorBox, TD, TH};
use crate::forms::form_errors;
use crate::live::{report_done, use_live, use_toasts};

const INPUT: &str = "block w-full rounded-md border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-sky-300";

fn size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// The add / new-value form: what is typed, and whether it names an existing secret.
#[derive(Clone, Copy)]
struct Form {
    name: RwSignal<String>,
    value: RwSignal<String>,
    /// `Some(name)`: giving that secret a new value (its name cannot change).
    editing: RwSignal<Option<String>>,
    tried: RwSignal<bool>,
}

impl Form {
    fn new() -> Self {
        Self {
            name: RwSignal::new(String::new()),
            value: RwSignal::new(String::new()),
            editing: RwSignal::new(None),
            tried: RwSignal::new(false),
        }
    }

    fn draft(self) -> SecretDraft {
        SecretDraft {
            name: self.editing.get().unwrap_or_else(|| self.name.get()),
            value: self.value.get(),
        }
    }

    fn clear(self) {
        self.name.set(String::new());
        self.value.set(String::new());
        self.editing.set(None);
        self.tried.set(false);
    }
}

#[component]
pub fn GlobalSecrets(cluster_id: String) -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let id = StoredValue::new(cluster_id);
    let list = Resource::new(
        move || live.clusters.get(),
        move |_| api::global_secrets(id.get_value()),
    );
    let save = ServerAction::<api::SaveGlobalSecret>::new();
    let reveal = ServerAction::<api::RevealGlobalSecret>::new();
    let import = ServerAction::<api::ImportGlobalSecrets>::new();
    let export = ServerAction::<api::ExportGlobalSecrets>::new();
    let delete = ServerAction::<api::DeleteGlobalSecret>::new();
    let form = Form::new();
    // (name, value) shown after a reveal, until hidden or another is revealed.
    let revealed = RwSignal::new(None::<(String, String)>);
    // The name whose value was asked for last.
    let revealing = StoredValue::new(String::new());
    let confirm = RwSignal::new(None::<(String, String)>);
    let txt = RwSignal::new(String::new());
    let value_file = NodeRef::<leptos::html::Input>::new();
    let txt_file = NodeRef::<leptos::html::Input>::new();

    let errors = form_errors(
        move || form.tried.get(),
        move || form.draft().validate().err().unwrap_or_default(),
        move || save.value().get(),
    );
    let err = move |field: &'static str| move || problem(&errors.get(), field).map(str::to_owned);
    Effect::new(move |_| match save.value().get() {
        Some(Ok(version)) => {
            toasts.success(format!("Saved as version {version}."));
            form.clear();
            live.clusters.update(|n| *n += 1);
        }
        Some(Err(AppError::Invalid(_) | AppError::Validation(_))) | None => {}
        Some(Err(e)) => toasts.error(&e),
    });
    Effect::new(move |_| match import.value().get() {
        Some(Ok(n)) => {
            toasts.success(format!("Imported {n} secret(s)."));
            txt.set(String::new());
            live.clusters.update(|n| *n += 1);
        }
        Some(Err(AppError::Invalid(_))) | None => {}
        Some(Err(e)) => toasts.error(&e),
    });
    Effect::new(move |_| match reveal.value().get() {
        Some(Ok(value)) => revealed.set(Some((revealing.get_value(), value))),
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    Effect::new(move |_| {
        if let Some(Err(e)) = export.value().get() {
            toasts.error(&e);
        }
    });
    report_done(
        move || delete.value().get(),
        "Secret deleted.",
        live.clusters,
    );

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.tried.set(true);
        let draft = form.draft();
        if draft.validate().is_ok() {
            save.dispatch(api::SaveGlobalSecret {
                cluster_id: id.get_value(),
                draft,
                adding: form.editing.get_untracked().is_none(),
            });
        }
    };
    let on_value_file = move |_| read_file(value_file, move |text| form.value.set(text));
    let on_txt_file = move |_| read_file(txt_file, move |text| txt.set(text));

    let table = move |all: Vec<SecretView>, now: i64| {
        view! {
            <table class="min-w-full divide-y divide-slate-200 text-sm">
                <thead><tr>
                    <th class=TH>"Name"</th><th class=TH>"Version"</th><th class=TH>"Size"</th>
                    <th class=TH>"Changed"</th><th class=TH></th>
                </tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {all.into_iter().map(|s| {
                        let name = StoredValue::new(s.name.clone());
                        // The value revealed for this row. Each closure owns the name: a refresh may
                        // dispose `name` while a render effect of this row is still queued.
                        let shown_for = |owned: String| move || revealed.with(|r| r.as_ref().filter(|(n, _)| *n == owned).map(|(_, v)| v.clone()));
                        let (shown, shown_label) = (shown_for(s.name.clone()), shown_for(s.name.clone()));
                        view! {
                            <tr data-testid="secret-row" data-name=s.name.clone() data-version=s.version.to_string()>
                                <td class=TD>
                                    <span class="font-mono">{s.name.clone()}</span>
                                    {move || shown().map(|v| view! {
                                        <pre class="mt-1 max-h-40 overflow-auto rounded bg-slate-100 p-2 text-xs" data-testid="secret-value">{v}</pre>
                                    })}
                                </td>
                                <td class=TD>{format!("v{}", s.version)}</td>
                                <td class=TD>{size(s.size_bytes)}</td>
                                <td class=TD>{format!("{} by {}", ago(now, s.updated_at_ms), s.updated_by)}</td>
                                <td class=TD>
                                    <span class="inline-flex gap-3">
                                        <Can permission=Permission::Supervise>
                                            <button class="text-sky-700 hover:underline" data-testid="reveal-secret"
                                                on:click=move |_| {
                                                    if revealed.with(|r| r.as_ref().is_some_and(|(n, _)| *n == name.get_value())) {
                                                        revealed.set(None);
                                                    } else {
                                                        revealing.set_value(name.get_value());
                                                        reveal.dispatch(api::RevealGlobalSecret { cluster_id: id.get_value(), name: name.get_value() });
                                                    }
                                                }>{let shown = shown_label.clone(); move || if shown().is_some() { "Hide" } else { "Reveal" }}</button>
                                        </Can>
                                        <Can permission=Permission::Operate>
                                            <button class="text-sky-700 hover:underline" data-testid="edit-secret"
                                                on:click=move |_| {
                                                    form.clear();
                                                    form.editing.set(Some(name.get_value()));
                                                }>"New value"</button>
                                            <button class="text-rose-700 hover:underline" data-testid="delete-secret"
                                                on:click=move |_| confirm.set(Some((name.get_value(), name.get_value())))>"Delete"</button>
                                        </Can>
                                    </span>
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
        <section class="mt-6 bg-white rounded-lg border border-slate-200 shadow-sm p-5" data-testid="global-secrets">
            <h2 class="text-sm font-semibold text-slate-700 mb-2">"Global Secrets"</h2>
            <p class="text-sm text-slate-500 mb-3">"Kept encrypted by the panel. Values are never shown to Editors or Viewers; a new value makes a new version."</p>
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(AppError::NotFound(_)) => ().into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(s) if s.data.is_empty() => view! { <p class="text-sm text-slate-500" data-testid="no-secrets">"No secret yet."</p> }.into_any(),
                        Ok(s) => table(s.data, s.now_ms),
                    }
                })}
            </Transition>
            <Can permission=Permission::Operate>
                <form class="mt-4 space-y-3" on:submit=submit data-testid="secret-form">
                    {move || match form.editing.get() {
                        Some(name) => view! {
                            <p class="text-sm text-slate-700" data-testid="secret-editing">
                                "New value for " <span class="font-mono">{name}</span>
                                <button type="button" class="ml-3 text-sky-700 hover:underline" on:click=move |_| form.clear()>"Cancel"</button>
                            </p>
                        }.into_any(),
                        None => view! {
                            <div>
                                <label for="secret-name" class="block text-sm font-medium text-slate-700">"Name"</label>
                                <input id="secret-name" class=INPUT placeholder="DB_PASSWORD" autocomplete="off"
                                    prop:value=move || form.name.get() on:input=move |ev| form.name.set(event_target_value(&ev))/>
                            </div>
                        }.into_any(),
                    }}
                    {move || err("name")().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-secret-name">{m}</p> })}
                    <div>
                        <label for="secret-value" class="block text-sm font-medium text-slate-700">"Value"</label>
                        <textarea id="secret-value" rows="3" class=format!("{INPUT} font-mono") autocomplete="off" spellcheck="false"
                            prop:value=move || form.value.get() on:input=move |ev| form.value.set(event_target_value(&ev))></textarea>
                        {move || err("value")().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-secret-value">{m}</p> })}
                    </div>
                    <div class="flex flex-wrap items-center gap-3">
                        <label class=BUTTON_SECONDARY>
                            "Value from a file…"
                            <input type="file" class="hidden" node_ref=value_file data-testid="secret-file" on:change=on_value_file/>
                        </label>
                        <button type="submit" class=BUTTON data-testid="save-secret" disabled=move || save.pending().get()>
                            {move || if form.editing.get().is_some() { "Save the new value" } else { "Add secret" }}
                        </button>
                    </div>
                </form>
                <details class="mt-4">
                    <summary class="text-sm text-sky-700 cursor-pointer">"Import or export .txt"</summary>
                    <div class="mt-2 space-y-2">
                        <label for="secrets-txt" class="block text-sm font-medium text-slate-700">
                            "NAME=value, one per line (a value in double quotes may hold \\n line breaks)"
                        </label>
                        <textarea id="secrets-txt" rows="4" class="block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-xs"
                            prop:value=move || txt.get() on:input=move |ev| txt.set(event_target_value(&ev))></textarea>
                        {move || match import.value().get() {
                            Some(Err(AppError::Invalid(all))) => Some(view! {
                                <ul class="text-xs text-rose-700" data-testid="error-secrets-txt">{all.into_iter().map(|e| view! { <li>{e.message}</li> }).collect_view()}</ul>
                            }),
                            _ => None,
                        }}
                        <div class="flex flex-wrap items-center gap-2">
                            <label class=BUTTON_SECONDARY>
                                "Open a .txt…"
                                <input type="file" accept=".txt,text/plain" class="hidden" node_ref=txt_file data-testid="secrets-txt-file" on:change=on_txt_file/>
                            </label>
                            <button type="button" class=BUTTON_SECONDARY data-testid="import-secrets" disabled=move || import.pending().get()
                                on:click=move |_| { import.dispatch(api::ImportGlobalSecrets { cluster_id: id.get_value(), text: txt.get_untracked() }); }>"Import"</button>
                            <Can permission=Permission::Supervise>
                                <button type="button" class=BUTTON_SECONDARY data-testid="export-secrets"
                                    on:click=move |_| { export.dispatch(api::ExportGlobalSecrets { cluster_id: id.get_value() }); }>"Export"</button>
                                {move || export.value().get().and_then(Result::ok).map(|text| view! {
                                    <a class="text-sm text-sky-700 hover:underline" data-testid="secrets-download" download="global-secrets.txt"
                                        href=format!("data:text/plain;charset=utf-8,{}", encode(&text))>"Download global-secrets.txt"</a>
                                })}
                            </Can>
                        </div>
                    </div>
                </details>
            </Can>
            <ConfirmDialog
                subject=confirm
                title="Delete this secret?"
                action_label="Delete"
                explain=|name: String| format!("{name} and every version of it are removed from the panel.")
                on_confirm=move |name: String| { delete.dispatch(api::DeleteGlobalSecret { cluster_id: id.get_value(), name }); }
            />
        </section>
    }
}
