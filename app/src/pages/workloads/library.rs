//! The library page: apps and AI models with their versions. Adding a version checks its compose
//! file inline with the same parser the server runs, line by line.
use domain::workload::library::{AppDraft, AppView, VersionDraft, WorkloadKind};
use domain::{AppError, Permission, time};
use leptos::prelude::*;

use crate::api;
use crate::components::{
    BUTTON, BUTTON_SECONDARY, Badge, Can, Card, ConfirmDialog, EmptyState, ErrorBox, Field,
    PageHeader, TABLE, TD, TH,
};
use crate::live::{report_done, use_live};

const TEXTAREA: &str = "block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-xs focus:outline-none focus:ring-2 focus:ring-sky-300";

/// The message of `field` in `errors`, joined when there are several (compose lines).
fn messages(errors: &[domain::ValidationError], field: &str) -> Option<String> {
    let all: Vec<&str> = errors
        .iter()
        .filter(|e| e.field == field)
        .map(|e| e.message.as_str())
        .collect();
    (!all.is_empty()).then(|| all.join("\n"))
}

fn server_errors(value: Option<Result<String, AppError>>) -> Vec<domain::ValidationError> {
    match value {
        Some(Err(AppError::Invalid(all))) => all,
        Some(Err(AppError::Validation(v))) => vec![v],
        _ => vec![],
    }
}

#[component]
pub fn LibraryPage() -> impl IntoView {
    let live = use_live();
    let apps = Resource::new(move || live.library.get(), |_| api::library());
    let delete = ServerAction::<api::DeleteApp>::new();
    report_done(
        move || delete.value().get(),
        "App removed from the library.",
        live.library,
    );
    let confirm = RwSignal::new(None::<(String, String)>);
    // The "add version" form (one at a time), kept above the list: a live refresh rebuilds the
    // cards, and typing must survive it.
    let form = VersionForm {
        adding: RwSignal::new(None),
        add: ServerAction::new(),
        version: RwSignal::new(String::new()),
        compose: RwSignal::new(String::new()),
        touched: RwSignal::new(false),
    };
    Effect::new(move |_| {
        if let Some(Ok(_)) = form.add.value().get() {
            form.close();
            live.library.update(|n| *n += 1);
        }
    });
    view! {
        <PageHeader title="Library" subtitle="Apps and AI models the panel installs on clusters. Each version is a compose file: the Swarm subset of Compose v3."/>
        <Can permission=Permission::Operate>
            <div class="mb-6"><NewApp/></div>
        </Can>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading the library…"</p> }>
            {move || Suspend::new(async move {
                match apps.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(s) if s.data.is_empty() => view! {
                        <EmptyState title="The library is empty" hint="An Editor adds an app or a model, then its first version."/>
                    }.into_any(),
                    Ok(s) => view! {
                        <div class="space-y-6">
                            {s.data.into_iter().map(|app| view! { <AppCard app now=s.now_ms form confirm/> }).collect_view()}
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
        <ConfirmDialog
            subject=confirm
            title="Remove this app?"
            action_label="Remove"
            explain=|name: String| format!("\"{name}\" and all its versions leave the library.")
            on_confirm=move |id: String| { delete.dispatch(api::DeleteApp { id }); }
        />
    }
}

#[component]
fn AppCard(
    app: AppView,
    now: i64,
    form: VersionForm,
    confirm: RwSignal<Option<(String, String)>>,
) -> impl IntoView {
    let id = StoredValue::new(app.id.clone());
    let shown = RwSignal::new(None::<String>);
    let compose = Resource::new(
        move || shown.get(),
        |v| async move {
            match v {
                Some(id) => api::version_compose(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let subject = (app.id.clone(), app.name.clone());
    let kind = app.kind_label();
    let header = view! {
            <div class="px-5 py-3 border-b border-slate-200 flex items-center gap-3">
                <h2 class="text-sm font-semibold text-slate-900">{app.name.clone()}</h2>
                <span data-testid="app-kind"><Badge text=kind tone=if app.kind == WorkloadKind::Model { "amber" } else { "slate" }/></span>
                <span class="flex-1 text-xs text-slate-500">{app.description.clone()}</span>
                <Can permission=Permission::Operate>
                    <button class=BUTTON_SECONDARY data-testid="add-version"
                        on:click=move |_| form.toggle(id.get_value())>
                        "Add version"
                    </button>
                </Can>
                <Can permission=Permission::Supervise>
                    {
                        let subject = subject.clone();
                        view! {
                            <button class="text-sm text-rose-700 hover:underline" data-testid="delete-app"
                                on:click=move |_| confirm.set(Some(subject.clone()))>"Remove"</button>
                        }
                    }
                </Can>
            </div>
    }
    .into_any();
    let name = app.name.clone();
    let versions = if app.versions.is_empty() {
        view! { <p class="px-5 py-4 text-sm text-slate-500">"No versions yet."</p> }.into_any()
    } else {
        view! {
                    <table class=TABLE>
                        <thead><tr>
                            <th class=TH>"Version"</th><th class=TH>"Services"</th><th class=TH>"Added"</th><th class=TH></th>
                        </tr></thead>
                        <tbody class="divide-y divide-slate-100">
                            {app.versions.into_iter().map(|v| {
                                let vid = v.id.clone();
                                let services = v.services.iter().map(|s| {
                                    let count = s.replicas.map(|n| format!(" ×{n}")).unwrap_or_default();
                                    format!("{} ({}{count}) {}", s.name, s.mode.as_str(), s.image)
                                }).collect::<Vec<_>>();
                                view! {
                                    <tr data-testid="version-row" data-version=v.version.clone()>
                                        <td class=TD><span class="font-mono">{v.version.clone()}</span></td>
                                        <td class=TD>
                                            <ul class="space-y-0.5">{services.into_iter().map(|s| view! { <li class="font-mono text-xs">{s}</li> }).collect_view()}</ul>
                                        </td>
                                        <td class=TD>{format!("{} by {}", time::ago(now, v.created_at_ms), v.created_by)}</td>
                                        <td class=format!("{TD} text-right")>
                                            <button class="text-sm text-sky-700 hover:underline"
                                                on:click=move |_| shown.update(|s| *s = if s.as_deref() == Some(&vid) { None } else { Some(vid.clone()) })>
                                                "Compose file"
                                            </button>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
    };
    view! {
        <section class="bg-white rounded-lg border border-slate-200 shadow-sm" data-testid="app-card" data-name=name>
            {header}
            {move || (form.adding.get().as_deref() == Some(&id.get_value())).then(|| view! {
                <div class="p-5 border-b border-slate-200"><NewVersion app_id=id.get_value() form/></div>
            }.into_any())}
            {versions}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match compose.await {
                        Ok(Some(text)) => view! {
                            <pre class="m-5 p-3 rounded bg-slate-900 text-slate-100 text-xs overflow-x-auto" data-testid="compose-text">{text}</pre>
                        }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(e) => view! { <div class="m-5"><ErrorBox error=e/></div> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn NewApp() -> impl IntoView {
    let live = use_live();
    let create = ServerAction::<api::CreateApp>::new();
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(WorkloadKind::App);
    let format = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let touched = RwSignal::new(false);
    let draft = move || AppDraft {
        name: name.get(),
        kind: kind.get(),
        model_format: format.get(),
        description: description.get(),
    };
    let errors = Memo::new(move |_| {
        let local = if touched.get() {
            draft().validate().err().unwrap_or_default()
        } else {
            vec![]
        };
        if local.is_empty() {
            server_errors(create.value().get())
        } else {
            local
        }
    });
    let error = move |field: &'static str| Signal::derive(move || messages(&errors.get(), field));
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            // Kind and format stay: operators add several models of one format in a row.
            name.set(String::new());
            description.set(String::new());
            touched.set(false);
            live.library.update(|n| *n += 1);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        touched.set(true);
        let d = draft();
        if d.validate().is_ok() {
            create.dispatch(api::CreateApp { draft: d });
        }
    };
    view! {
        <Card title="New app or model">
            <form class="grid gap-4 md:grid-cols-[1fr_10rem_10rem_2fr_auto] items-start" on:submit=submit data-testid="new-app-form">
                <Field label="Name" name="name" value=name error=error("name") placeholder="e.g. Line monitor"/>
                <div class="space-y-1">
                    <label for="field-kind" class="block text-sm font-medium text-slate-700">"Kind"</label>
                    <select id="field-kind" class="block w-full rounded-md border border-slate-300 px-3 py-2 text-sm"
                        on:change=move |ev| kind.set(WorkloadKind::parse(&event_target_value(&ev)).unwrap_or_default())>
                        <option value="app">"App"</option>
                        <option value="model">"AI model"</option>
                    </select>
                </div>
                <div class:invisible=move || kind.get() != WorkloadKind::Model>
                    <Field label="Model format" name="model_format" value=format error=error("model_format") placeholder="onnx"/>
                </div>
                <Field label="Description" name="description" value=description error=error("description")/>
                <button type="submit" class=format!("{BUTTON} md:mt-6") disabled=move || create.pending().get() data-testid="create-app">
                    {move || if create.pending().get() { "Adding…" } else { "Add" }}
                </button>
            </form>
            {move || create.value().get().and_then(Result::err).filter(|e| !matches!(e, AppError::Invalid(_) | AppError::Validation(_))).map(|e| view! {
                <div class="mt-4"><ErrorBox error=e/></div>
            })}
        </Card>
    }
}

/// The open "add version" form and what is typed in it.
#[derive(Clone, Copy)]
struct VersionForm {
    /// The app whose form is open.
    adding: RwSignal<Option<String>>,
    add: ServerAction<api::AddAppVersion>,
    version: RwSignal<String>,
    compose: RwSignal<String>,
    touched: RwSignal<bool>,
}

impl VersionForm {
    /// Opens the form for `app` (empty), or closes it when it is open for that app.
    fn toggle(self, app: String) {
        let open = self.adding.get_untracked().as_deref() == Some(app.as_str());
        self.close();
        if !open {
            self.adding.set(Some(app));
        }
    }

    fn close(self) {
        self.adding.set(None);
        self.add.value().set(None);
        self.version.set(String::new());
        self.compose.set(String::new());
        self.touched.set(false);
    }
}

#[component]
fn NewVersion(app_id: String, form: VersionForm) -> impl IntoView {
    let VersionForm {
        add,
        version,
        compose,
        touched,
        ..
    } = form;
    let draft = move || VersionDraft {
        version: version.get(),
        compose: compose.get(),
    };
    let errors = Memo::new(move |_| {
        let local = if touched.get() {
            draft().validate().err().unwrap_or_default()
        } else {
            vec![]
        };
        if local.is_empty() {
            server_errors(add.value().get())
        } else {
            local
        }
    });
    let compose_error = move || messages(&errors.get(), "compose");
    let app_id = StoredValue::new(app_id);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        touched.set(true);
        let d = draft();
        if d.validate().is_ok() {
            add.dispatch(api::AddAppVersion {
                app_id: app_id.get_value(),
                draft: d,
            });
        }
    };
    view! {
        <form class="space-y-4" on:submit=submit data-testid="new-version-form">
            <div class="max-w-xs">
                <Field label="Version" name="version" value=version error=Signal::derive(move || messages(&errors.get(), "version")) placeholder="1.0.0"/>
            </div>
            <div class="space-y-1">
                <label for="field-compose" class="block text-sm font-medium text-slate-700">"Compose file"</label>
                <textarea id="field-compose" name="compose" rows="14" class=TEXTAREA spellcheck="false"
                    placeholder="services:\n  web:\n    image: registry.example:5000/web:1.0\n    deploy:\n      replicas: 2"
                    aria-invalid=move || compose_error().is_some().to_string()
                    prop:value=move || compose.get()
                    on:input=move |ev| { compose.set(event_target_value(&ev)); touched.set(true); }></textarea>
                {move || match compose_error() {
                    Some(m) => view! { <pre class="text-xs text-rose-700 whitespace-pre-wrap" data-testid="error-compose">{m}</pre> }.into_any(),
                    None => view! { <p class="text-xs text-slate-500">"Swarm keys only: build, container_name, depends_on… are refused by name."</p> }.into_any(),
                }}
            </div>
            <div class="flex gap-2">
                <button type="submit" class=BUTTON disabled=move || add.pending().get() data-testid="save-version">
                    {move || if add.pending().get() { "Saving…" } else { "Save version" }}
                </button>
                <button type="button" class=BUTTON_SECONDARY on:click=move |_| form.close()>"Cancel"</button>
            </div>
            {move || add.value().get().and_then(Result::err).filter(|e| !matches!(e, AppError::Invalid(_) | AppError::Validation(_))).map(|e| view! {
                <ErrorBox error=e/>
            })}
        </form>
    }
}
