//! The Global Config card of a cluster page: the JSON editor (checked as you type — Send stays
//! disabled while the document is invalid and the error names its line and column), format and
//! compact, named saves and loads, upload and download, reset; each member node's state; and
//! the history of versions with what changed and a restore button.
use domain::config::global::{self, Change, ConfigVersion, GlobalConfigView, SyncState};
use domain::time::ago;
use domain::{AppError, Permission};
use leptos::prelude::*;

use super::files::{encode, read_file};
use crate::api;
use crate::components::{BUTTON, BUTTON_SECONDARY, Can, ConfirmDialog, ErrorBox, TD, TH};
use crate::live::{report_done, use_live, use_toasts};

const EDITOR: &str = "block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-xs leading-5 focus:outline-none focus:ring-2 focus:ring-sky-300";
const INPUT: &str = "rounded-md border border-slate-300 px-2 py-1 text-sm";

/// What the editor holds: the text, the version it started from, and whether it came from a
/// file.
#[derive(Clone, Copy)]
struct Editor {
    text: RwSignal<String>,
    base: RwSignal<u64>,
    dirty: RwSignal<bool>,
    uploaded: RwSignal<bool>,
}

impl Editor {
    fn load(&self, text: String, from_file: bool) {
        self.text.set(text);
        self.dirty.set(true);
        self.uploaded.set(from_file);
    }
}

#[component]
pub fn GlobalConfig(cluster_id: String) -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let id = StoredValue::new(cluster_id);
    // A node's report of the version it holds arrives as a node event.
    let view = Resource::new(
        move || (live.clusters.get(), live.nodes.get()),
        move |_| api::global_config(id.get_value()),
    );
    let editor = Editor {
        text: RwSignal::new(String::new()),
        base: RwSignal::new(0),
        dirty: RwSignal::new(false),
        uploaded: RwSignal::new(false),
    };
    let save = ServerAction::<api::SaveGlobalConfig>::new();
    let reset = ServerAction::<api::ResetGlobalConfig>::new();
    let save_named = ServerAction::<api::SaveNamedGlobalConfig>::new();
    let confirm_reset = RwSignal::new(None::<(String, String)>);
    let problem = Memo::new(move |_| global::check(&editor.text.get()).err());
    let name = RwSignal::new(String::new());

    // A saved version (ours or someone else's) replaces an editor with no unsent change.
    Effect::new(move |_| {
        if let Some(Ok(s)) = view.get()
            && !editor.dirty.get_untracked()
        {
            editor.text.set(s.data.document.clone());
            editor.base.set(s.data.version);
        }
    });
    let saved = move |answer: Option<Result<u64, AppError>>, done: &'static str| match answer {
        Some(Ok(version)) => {
            toasts.success(done);
            editor.dirty.set(false);
            editor.uploaded.set(false);
            editor.base.set(version);
            live.clusters.update(|n| *n += 1);
        }
        Some(Err(AppError::Validation(_))) | None => {}
        Some(Err(e)) => toasts.error(&e),
    };
    Effect::new(move |_| {
        saved(
            save.value().get(),
            "Global config saved: it goes to every node now.",
        )
    });
    Effect::new(move |_| saved(reset.value().get(), "Global config reset to empty."));
    report_done(
        move || save_named.value().get(),
        "Saved under that name.",
        live.clusters,
    );
    let server_error = move || match save.value().get() {
        Some(Err(AppError::Validation(v))) => Some(v.message),
        _ => None,
    };
    let send = move |_| {
        if problem.get_untracked().is_none() {
            save.dispatch(api::SaveGlobalConfig {
                cluster_id: id.get_value(),
                base: editor.base.get_untracked(),
                document: editor.text.get_untracked(),
                uploaded: editor.uploaded.get_untracked(),
            });
        }
    };
    let reformat = move |pretty: bool| {
        let text = editor.text.get_untracked();
        let done = if pretty {
            global::format(&text)
        } else {
            global::compact(&text)
        };
        if let Ok(t) = done
            && t != text
        {
            editor.load(t, editor.uploaded.get_untracked());
        }
    };
    let load_named = move |chosen: String| {
        if chosen.is_empty() {
            return;
        }
        leptos::task::spawn_local(async move {
            match api::named_global_config(id.get_value(), chosen).await {
                Ok(text) => editor.load(text, false),
                Err(e) => toasts.error(&e),
            }
        });
    };
    let file = NodeRef::<leptos::html::Input>::new();
    let on_file = move |_| read_file(file, move |text| editor.load(text, true));

    view! {
        <section class="mt-6 bg-white rounded-lg border border-slate-200 shadow-sm p-5" data-testid="global-config">
            <h2 class="text-sm font-semibold text-slate-700 mb-2">"Global config"</h2>
            <p class="text-sm text-slate-500 mb-3">"One JSON object for every workload of this cluster: each node keeps its own copy, and containers read it at "<code class="font-mono">"/appconfig/global.json"</code>" (read-only; it changes in place, without a restart). A node that is offline gets the new version when it is back."</p>
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match view.await {
                        Err(AppError::NotFound(_)) => ().into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(s) => status(s.data, s.now_ms, editor, load_named).into_any(),
                    }
                })}
            </Transition>
            <textarea class=EDITOR rows="14" spellcheck="false" data-testid="config-editor" aria-label="Global config (JSON)"
                prop:value=move || editor.text.get()
                on:input=move |ev| { editor.text.set(event_target_value(&ev)); editor.dirty.set(true); }
            ></textarea>
            <p class="mt-1 text-xs" data-testid="config-check">
                {move || match problem.get() {
                    Some(p) => view! { <span class="text-rose-700" data-testid="config-error">{p.to_string()}</span> }.into_any(),
                    None => view! { <span class="text-emerald-700">"Valid JSON"</span> }.into_any(),
                }}
                {move || server_error().map(|m| view! { <span class="ml-2 text-rose-700" data-testid="config-refused">{m}</span> })}
            </p>
            <div class="mt-3 flex flex-wrap items-center gap-2">
                <Can permission=Permission::Operate>
                    <button class=BUTTON data-testid="config-send" on:click=send
                        disabled=move || problem.get().is_some() || !editor.dirty.get() || save.pending().get()>"Send to nodes"</button>
                </Can>
                <button class=BUTTON_SECONDARY data-testid="config-format" disabled=move || problem.get().is_some() on:click=move |_| reformat(true)>"Format"</button>
                <button class=BUTTON_SECONDARY data-testid="config-compact" disabled=move || problem.get().is_some() on:click=move |_| reformat(false)>"Compact"</button>
                <a class=BUTTON_SECONDARY data-testid="config-download" download="global.json"
                    href=move || format!("data:application/json;charset=utf-8,{}", encode(&editor.text.get()))>"Download"</a>
                <Can permission=Permission::Operate>
                    <label class=BUTTON_SECONDARY>
                        "Upload…"
                        <input type="file" accept=".json,application/json" class="hidden" data-testid="config-upload" node_ref=file on:change=on_file/>
                    </label>
                    <button class=BUTTON_SECONDARY data-testid="config-reset"
                        on:click=move |_| confirm_reset.set(Some((String::new(), String::new())))>"Reset to empty"</button>
                </Can>
            </div>
            <Can permission=Permission::Operate>
                <div class="mt-3 flex flex-wrap items-center gap-2">
                    <input class=INPUT placeholder="name for this document" data-testid="config-save-name" aria-label="Name to save the document under"
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                    <button class=BUTTON_SECONDARY data-testid="config-save-as" disabled=move || problem.get().is_some() || save_named.pending().get()
                        on:click=move |_| { save_named.dispatch(api::SaveNamedGlobalConfig { cluster_id: id.get_value(), name: name.get_untracked(), document: editor.text.get_untracked() }); }>"Save as…"</button>
                    <span class="text-xs text-slate-500">"(kept for later; not sent)"</span>
                </div>
            </Can>
            <History cluster_id=id.get_value() editor/>
            <ConfirmDialog
                subject=confirm_reset
                title="Reset the global config?"
                action_label="Reset to empty"
                explain=|_: String| "Every node's /appconfig/global.json becomes {} (a new version: the current one can be restored from the history).".to_string()
                on_confirm=move |_: String| { reset.dispatch(api::ResetGlobalConfig { cluster_id: id.get_value(), base: editor.base.get_untracked() }); }
            />
        </section>
    }
}

/// The version line, the named saves to load, and each member node's state.
fn status(
    s: GlobalConfigView,
    now: i64,
    editor: Editor,
    load_named: impl Fn(String) + Copy + 'static,
) -> impl IntoView {
    let newer = s.version;
    let when = if s.version == 0 {
        "never saved".to_string()
    } else {
        format!("saved {} by {}", ago(now, s.updated_at_ms), s.updated_by)
    };
    let rows = s
        .nodes
        .into_iter()
        .map(|n| {
            let (state, tone, text) = match &n.state {
                SyncState::Synced => (
                    "synced",
                    "bg-emerald-50 text-emerald-800",
                    format!("synced (v{})", n.version.unwrap_or(0)),
                ),
                SyncState::Pending => (
                    "pending",
                    "bg-amber-50 text-amber-800",
                    match n.version {
                        Some(v) => format!("pending (holds v{v})"),
                        None => "pending".to_string(),
                    },
                ),
                SyncState::Error { message } => (
                    "error",
                    "bg-rose-50 text-rose-800",
                    format!("error: {message}"),
                ),
            };
            view! {
                <tr data-testid="config-node" data-hostname=n.hostname.clone() data-state=state
                    data-version=n.version.map(|v| v.to_string()).unwrap_or_default()>
                    <td class=TD>{n.hostname.clone()}</td>
                    <td class=TD><span class=format!("rounded px-2 py-0.5 text-xs {tone}") data-testid="config-node-state">{text}</span></td>
                    <td class=TD>{if n.online { "online" } else { "offline" }}</td>
                </tr>
            }
        })
        .collect_view();
    let saved = s.saved;
    view! {
        <p class="text-sm text-slate-700 mb-2" data-testid="config-version" data-version=s.version.to_string()>
            <span class="font-medium">{format!("v{}", s.version)}</span>" · "{when}
            {move || (editor.dirty.get() && editor.base.get() != newer).then(|| view! {
                <span class="ml-2 text-amber-700" data-testid="config-stale">{format!("v{newer} was saved while you edited v{}: reload before sending.", editor.base.get())}</span>
            })}
        </p>
        {(!saved.is_empty()).then(|| view! {
            <div class="mb-2 text-sm">
                <label class="text-slate-700" for="config-load">"Load a saved document: "</label>
                <select id="config-load" class=INPUT data-testid="config-load" on:change=move |ev| load_named(event_target_value(&ev))>
                    <option value="">"—"</option>
                    {saved.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                </select>
            </div>
        })}
        <table class="min-w-full divide-y divide-slate-200 text-sm mb-3">
            <thead><tr><th class=TH>"Node"</th><th class=TH>"Global config"</th><th class=TH>"Agent"</th></tr></thead>
            <tbody class="divide-y divide-slate-100">{rows}</tbody>
        </table>
    }
}

#[component]
fn History(cluster_id: String, editor: Editor) -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let id = StoredValue::new(cluster_id);
    let list = Resource::new(
        move || live.clusters.get(),
        move |_| api::global_config_history(id.get_value()),
    );
    let restore = ServerAction::<api::RestoreGlobalConfig>::new();
    let confirm = RwSignal::new(None::<(String, String)>);
    Effect::new(move |_| match restore.value().get() {
        Some(Ok(version)) => {
            toasts.success("Version restored: it goes to every node now.");
            editor.dirty.set(false);
            editor.base.set(version);
            live.clusters.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    let row = move |v: ConfigVersion, newest: u64| {
        let changes = v.changes.iter().map(change).collect_view();
        let more = (v.more_changes > 0).then(|| format!("… and {} more", v.more_changes));
        let number = v.version;
        view! {
            <li class="py-2" data-testid="config-history-entry" data-version=number.to_string()>
                <div class="flex items-center justify-between gap-2 text-sm">
                    <span><span class="font-medium">{format!("v{number}")}</span>" · "{v.origin.clone()}" · "{v.saved_by.clone()}</span>
                    {(number != newest).then(|| view! {
                        <Can permission=Permission::Operate>
                            <button class="text-sky-700 hover:underline text-sm" data-testid="config-restore"
                                on:click=move |_| confirm.set(Some((number.to_string(), format!("v{number}"))))>"Restore"</button>
                        </Can>
                    })}
                </div>
                <ul class="ml-4 font-mono text-xs text-slate-600">{changes}{more.map(|m| view! { <li>{m}</li> })}</ul>
            </li>
        }
    };
    view! {
        <details class="mt-4" data-testid="config-history">
            <summary class="cursor-pointer text-sm font-medium text-slate-700">"History"</summary>
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(AppError::NotFound(_)) => ().into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(all) if all.is_empty() => view! { <p class="text-sm text-slate-500">"No version saved yet."</p> }.into_any(),
                        Ok(all) => {
                            let newest = all.first().map_or(0, |v| v.version);
                            view! { <ul class="divide-y divide-slate-100">{all.into_iter().map(|v| row(v, newest)).collect_view()}</ul> }.into_any()
                        }
                    }
                })}
            </Transition>
            <ConfirmDialog
                subject=confirm
                title="Restore this version?"
                action_label="Restore"
                explain=|name: String| format!("{name} becomes the newest version and goes to every node (the current one stays in the history).")
                on_confirm=move |version: String| {
                    if let Ok(version) = version.parse() {
                        restore.dispatch(api::RestoreGlobalConfig { cluster_id: id.get_value(), base: editor.base.get_untracked(), version });
                    }
                }
            />
        </details>
    }
}

fn change(c: &Change) -> impl IntoView + use<> {
    let text = match c {
        Change::Added { path, value } => format!("+ {path}: {value}"),
        Change::Removed { path, value } => format!("− {path}: {value}"),
        Change::Changed { path, from, to } => format!("~ {path}: {from} → {to}"),
    };
    view! { <li data-testid="config-change">{text}</li> }
}
