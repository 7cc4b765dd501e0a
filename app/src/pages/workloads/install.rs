//! The install wizard: 1 version, 2 app secrets, 3 ports and volumes, 4 mode and replicas,
//! 5 placement, 6 review (the exact specs sent to Swarm) and deploy. "Skip and send" deploys the
//! compose file's defaults. Every step is checked as you type by `domain`'s install check, the
//! same one the server runs; the placement builder offers the cluster's real nodes and labels.
use domain::AppError;
use domain::ValidationError;
use domain::cluster::problem;
use domain::workload::compose::{self, Compose, MountKind, Protocol, PublishMode, ServiceMode};
use domain::workload::install::{InstallContext, InstallDraft};
use domain::workload::library::AppView;
use domain::workload::placement::{self, Constraint};
use domain::workload::spec;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api;
use crate::components::{BUTTON, BUTTON_SECONDARY, Card, ErrorBox, PageHeader};

const INPUT: &str = "block w-full rounded-md border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-sky-300";
const AREA: &str = "block w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-xs focus:outline-none focus:ring-2 focus:ring-sky-300";
const STEPS: [&str; 6] = [
    "Version",
    "App secrets",
    "Ports and volumes",
    "Mode and replicas",
    "Placement",
    "Review",
];

/// Which step a field belongs to.
fn step_of(field: &str) -> usize {
    if field == "name" || field == "version_id" {
        1
    } else if field.starts_with("secret.") {
        2
    } else if field.ends_with(".ports") {
        3
    } else if field.ends_with(".replicas") {
        4
    } else {
        5
    }
}

/// A workload name from an app's name: lowercase letters, digits and '-'.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(20).collect();
    out.trim_end_matches('-').to_owned()
}

fn problems_of(e: &AppError) -> Vec<ValidationError> {
    match e {
        AppError::Invalid(all) => all.clone(),
        AppError::Validation(v) => vec![v.clone()],
        _ => vec![],
    }
}

#[component]
pub fn InstallPage() -> impl IntoView {
    let params = use_params_map();
    let cluster_id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let library = Resource::new(|| (), |_| api::library());
    let context = Resource::new(move || cluster_id.get(), api::cluster_install_context);
    view! {
        <div class="mb-4 text-sm">
            <A href=move || format!("/clusters/{}", cluster_id.get()) attr:class="text-sky-700 hover:underline">"← Cluster"</A>
        </div>
        <PageHeader title="Install app" subtitle="Deploys a library version on this cluster as Swarm services, grouped as one stack."/>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (library.await, context.await) {
                    (Err(e), _) | (_, Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                    (Ok(lib), Ok(ctx)) => view! {
                        <Wizard cluster_id=cluster_id.get_untracked() apps=lib.data ctx/>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Wizard(cluster_id: String, apps: Vec<AppView>, ctx: InstallContext) -> impl IntoView {
    let apps = StoredValue::new(apps);
    let ctx = StoredValue::new(ctx);
    let cluster = StoredValue::new(cluster_id);
    let step = RwSignal::new(1usize);
    let app_id = RwSignal::new(String::new());
    let version_id = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let draft = RwSignal::new(InstallDraft::default());
    let tried = RwSignal::new(false);
    let deploy = ServerAction::<api::InstallApp>::new();
    let text = Resource::new(
        move || version_id.get(),
        |id| async move {
            if id.is_empty() {
                Ok(None)
            } else {
                api::version_compose(id).await.map(Some)
            }
        },
    );
    let compose = Memo::new(move |_| {
        text.get()
            .and_then(Result::ok)
            .flatten()
            .and_then(|t| compose::parse(&t).ok())
    });
    // A new version starts from its compose file's defaults.
    Effect::new(move |_| {
        if let Some(c) = compose.get() {
            draft.set(InstallDraft::defaults(
                &version_id.get_untracked(),
                &name.get_untracked(),
                &c,
            ));
        }
    });
    let current = move || {
        let mut d = draft.get();
        d.name = name.get();
        d.version_id = version_id.get();
        d
    };
    let problems = Memo::new(move |_| {
        let server = deploy
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| problems_of(&e))
            .unwrap_or_default();
        let local = match compose.get() {
            Some(c) if tried.get() => {
                ctx.with_value(|x| current().validate(&c, x).err().unwrap_or_default())
            }
            None if tried.get() => vec![ValidationError::new(
                "version_id",
                "Choose an app and one of its versions",
            )],
            _ => vec![],
        };
        if local.is_empty() { server } else { local }
    });
    let err = move |field: String| {
        Signal::derive(move || problem(&problems.get(), &field).map(str::to_owned))
    };
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = deploy.value().get() {
            navigate(
                &format!("/clusters/{}", cluster.get_value()),
                Default::default(),
            );
        }
    });
    // A step's problems send the operator back to the first step that has some.
    Effect::new(move |_| {
        if let Some(Err(_)) = deploy.value().get()
            && let Some(first) = problems
                .get_untracked()
                .iter()
                .map(|p| step_of(&p.field))
                .min()
        {
            step.set(first);
        }
    });
    let send = move || {
        tried.set(true);
        deploy.dispatch(api::InstallApp {
            cluster_id: cluster.get_value(),
            draft: current(),
        });
    };
    let next = move |_| {
        tried.set(true);
        let here = step.get_untracked();
        if !problems
            .get_untracked()
            .iter()
            .any(|p| step_of(&p.field) <= here)
        {
            step.set(here + 1);
        }
    };

    let version_step = view! {
        <div class="grid gap-4 md:grid-cols-3">
            <div class="space-y-1">
                <label for="field-app" class="block text-sm font-medium text-slate-700">"App"</label>
                <select id="field-app" class=INPUT on:change=move |ev| {
                    let id = event_target_value(&ev);
                    app_id.set(id.clone());
                    version_id.set(String::new());
                    if let Some(a) = apps.with_value(|all| all.iter().find(|a| a.id == id).cloned()) {
                        name.set(slug(&a.name));
                        if let Some(v) = a.versions.first() {
                            version_id.set(v.id.clone());
                        }
                    }
                }>
                    <option value="">"Choose…"</option>
                    {apps.with_value(|all| all.iter().map(|a| view! {
                        <option value=a.id.clone()>{format!("{} ({})", a.name, a.kind_label())}</option>
                    }).collect_view())}
                </select>
            </div>
            <div class="space-y-1">
                <label for="field-version" class="block text-sm font-medium text-slate-700">"Version"</label>
                <select id="field-version" class=INPUT prop:value=move || version_id.get()
                    on:change=move |ev| version_id.set(event_target_value(&ev))>
                    {move || apps.with_value(|all| all.iter().find(|a| a.id == app_id.get()).map(|a| a.versions.iter().map(|v| view! {
                        <option value=v.id.clone()>{v.version.clone()}</option>
                    }).collect_view()))}
                </select>
                {move || err("version_id".into()).get().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-version_id">{m}</p> })}
            </div>
            <div class="space-y-1">
                <label for="field-name" class="block text-sm font-medium text-slate-700">"Name on the cluster"</label>
                <input id="field-name" class=INPUT prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                {move || err("name".into()).get().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-name">{m}</p> })}
            </div>
        </div>
        {move || compose.get().map(|c| view! {
            <p class="mt-3 text-sm text-slate-600" data-testid="version-services">
                {format!("Services: {}", c.services.iter().map(|s| format!("{} ({})", s.name, s.deploy.mode.as_str())).collect::<Vec<_>>().join(", "))}
            </p>
        })}
    }
    .into_any();

    let secrets_step = view! {
        {move || {
            let names: Vec<String> = compose.get().map(|c| c.app_secrets().map(|s| s.name.clone()).collect()).unwrap_or_default();
            if names.is_empty() {
                view! { <p class="text-sm text-slate-500">"This app declares no secrets of its own."</p> }.into_any()
            } else {
                names.into_iter().map(|n| {
                    let field = format!("secret.{n}");
                    let key = n.clone();
                    view! {
                        <div class="space-y-1 max-w-md">
                            <label for=field.clone() class="block text-sm font-medium text-slate-700">{n.clone()}</label>
                            <input id=field.clone() type="password" autocomplete="new-password" class=INPUT
                                on:input=move |ev| {
                                    let v = event_target_value(&ev);
                                    draft.update(|d| match d.secrets.iter_mut().find(|(k, _)| *k == key) {
                                        Some(slot) => slot.1 = v,
                                        None => d.secrets.push((key.clone(), v)),
                                    });
                                }/>
                            {move || err(field.clone()).get().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-secret">{m}</p> })}
                        </div>
                    }
                }).collect_view().into_any()
            }
        }}
        <p class="mt-3 text-xs text-slate-500">"Secrets are sealed at rest in the panel and sent to Swarm only; they are never shown again."</p>
    }
    .into_any();

    let ports_step = view! {
        {move || compose.get().map(|c| c.services.iter().enumerate().map(|(i, s)| {
            let mounts = s.mounts.iter().map(|m| format!("{} {} → {}{}",
                match m.kind { MountKind::Volume => "volume", MountKind::Bind => "bind", MountKind::Tmpfs => "tmpfs" },
                m.source.clone().unwrap_or_else(|| "(anonymous)".into()), m.target, if m.read_only { " (read-only)" } else { "" })).collect::<Vec<_>>();
            let ports = draft.with(|d| d.services.get(i).map(|s| s.ports.clone()).unwrap_or_default());
            let field = format!("service.{}.ports", s.name);
            view! {
                <fieldset class="border border-slate-200 rounded-md p-4 mb-4" data-testid=format!("ports-{}", s.name)>
                    <legend class="px-1 text-sm font-semibold">{s.name.clone()}</legend>
                    {if ports.is_empty() {
                        view! { <p class="text-sm text-slate-500">"Publishes no port."</p> }.into_any()
                    } else {
                        ports.into_iter().enumerate().map(|(j, p)| view! {
                            <div class="flex items-center gap-3 mb-2 text-sm">
                                <span class="w-28">{format!("{}/{}", p.target, match p.protocol { Protocol::Tcp => "tcp", Protocol::Udp => "udp" })}</span>
                                <label class="flex items-center gap-2">"Published"
                                    <input class="w-24 rounded-md border border-slate-300 px-2 py-1" prop:value=p.published.clone()
                                        on:input=move |ev| { let v = event_target_value(&ev); draft.update(|d| if let Some(x) = d.services.get_mut(i).and_then(|s| s.ports.get_mut(j)) { x.published = v; }); }/>
                                </label>
                                <select class="rounded-md border border-slate-300 px-2 py-1" aria-label="Publish mode"
                                    on:change=move |ev| { let host = event_target_value(&ev) == "host"; draft.update(|d| if let Some(x) = d.services.get_mut(i).and_then(|s| s.ports.get_mut(j)) { x.mode = if host { PublishMode::Host } else { PublishMode::Ingress }; }); }>
                                    <option value="ingress" selected=p.mode == PublishMode::Ingress>"Ingress (every node)"</option>
                                    <option value="host" selected=p.mode == PublishMode::Host>"Host (the task's node)"</option>
                                </select>
                            </div>
                        }).collect_view().into_any()
                    }}
                    {(!mounts.is_empty()).then(|| view! { <p class="text-xs text-slate-500">{format!("Volumes: {}", mounts.join("; "))}</p> })}
                    {move || err(field.clone()).get().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-ports">{m}</p> })}
                </fieldset>
            }
        }).collect_view())}
    }
    .into_any();

    let modes_step = view! {
        {move || compose.get().map(|c| c.services.iter().enumerate().map(|(i, s)| {
            let d = draft.with(|d| d.services.get(i).cloned().unwrap_or_default());
            let field = format!("service.{}.replicas", s.name);
            view! {
                <fieldset class="border border-slate-200 rounded-md p-4 mb-4 flex flex-wrap items-end gap-4" data-testid=format!("mode-{}", s.name)>
                    <legend class="px-1 text-sm font-semibold">{s.name.clone()}</legend>
                    <label class="text-sm">"Mode"
                        <select class="block rounded-md border border-slate-300 px-2 py-1"
                            on:change=move |ev| { let m = ServiceMode::parse(&event_target_value(&ev)).unwrap_or_default(); draft.update(|d| if let Some(x) = d.services.get_mut(i) { x.mode = m; }); }>
                            {[ServiceMode::Replicated, ServiceMode::Global, ServiceMode::ReplicatedJob, ServiceMode::GlobalJob].into_iter().map(|m| view! {
                                <option value=m.as_str() selected=d.mode == m>{m.as_str()}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label class="text-sm">"Replicas"
                        <input class="block w-24 rounded-md border border-slate-300 px-2 py-1" prop:value=d.replicas.clone()
                            disabled=!d.mode.has_replicas()
                            on:input=move |ev| { let v = event_target_value(&ev); draft.update(|d| if let Some(x) = d.services.get_mut(i) { x.replicas = v; }); }/>
                    </label>
                    {s.deploy.placement.max_replicas_per_node.map(|m| view! { <span class="text-xs text-slate-500">{format!("at most {m} per node")}</span> })}
                    {move || err(field.clone()).get().map(|m| view! { <p class="w-full text-xs text-rose-700" data-testid="error-replicas">{m}</p> })}
                </fieldset>
            }
        }).collect_view())}
    }
    .into_any();

    let placement_step = view! {
        {move || compose.get().map(|c| c.services.iter().enumerate().map(|(i, s)| view! {
            <PlacementEditor index=i service=s.name.clone() draft ctx err/>
        }).collect_view())}
    }
    .into_any();

    let version_label = move || {
        apps.with_value(|all| {
            all.iter()
                .flat_map(|a| &a.versions)
                .find(|v| v.id == version_id.get())
                .map(|v| v.version.clone())
                .unwrap_or_default()
        })
    };
    let review_step = view! {
        {move || compose.get().map(|c| review(&c, &current(), &version_label(), &ctx.get_value()))}
    }
    .into_any();

    let steps = [
        version_step,
        secrets_step,
        ports_step,
        modes_step,
        placement_step,
        review_step,
    ];
    view! {
        <ol class="flex flex-wrap gap-4 mb-6 text-sm" aria-label="Steps">
            {STEPS.iter().enumerate().map(|(i, title)| view! {
                <li class=move || if step.get() == i + 1 { "font-semibold text-sky-700" } else { "text-slate-500" }>
                    <button on:click=move |_| step.set(i + 1)>{format!("{} · {title}", i + 1)}</button>
                    {move || { let n = problems.get().iter().filter(|p| step_of(&p.field) == i + 1).count(); (n > 0).then(|| view! { <span class="ml-1 text-rose-700">{format!("({n})")}</span> }) }}
                </li>
            }).collect_view()}
        </ol>
        <Card>
            <div data-testid="wizard-step" data-step=move || step.get().to_string()>
                {steps.into_iter().enumerate().map(|(i, body)| view! {
                    <div class:hidden=move || step.get() != i + 1>{body}</div>
                }).collect_view()}
            </div>
            {move || deploy.value().get().and_then(Result::err).filter(|e| problems_of(e).is_empty()).map(|e| view! {
                <div class="mt-4"><ErrorBox error=e/></div>
            })}
            <div class="mt-6 flex items-center gap-2">
                <button class=BUTTON_SECONDARY disabled=move || step.get() == 1 on:click=move |_| step.update(|s| *s = s.saturating_sub(1).max(1))>"Back"</button>
                <Show when=move || step.get() < 6 fallback=move || view! {
                    <button class=BUTTON data-testid="deploy" disabled=move || deploy.pending().get() on:click=move |_| send()>
                        {move || if deploy.pending().get() { "Deploying…" } else { "Deploy" }}
                    </button>
                }>
                    <button class=BUTTON data-testid="next" on:click=next>"Next"</button>
                </Show>
                <Show when=move || step.get() == 1>
                    <button class=BUTTON_SECONDARY data-testid="skip-send" title="Deploy with the compose file's defaults"
                        disabled=move || deploy.pending().get() on:click=move |_| send()>"Skip and send"</button>
                </Show>
            </div>
        </Card>
    }
}

/// The attributes the placement builder offers, from the cluster's real nodes.
fn attributes(ctx: &InstallContext) -> Vec<(String, Vec<String>)> {
    let values = |f: &dyn Fn(&placement::PlacementNode) -> Vec<String>| {
        let mut v: Vec<String> = ctx.nodes.iter().flat_map(f).collect();
        v.sort();
        v.dedup();
        v
    };
    let mut out = vec![
        (
            "node.hostname".to_string(),
            values(&|n| vec![n.hostname.clone()]),
        ),
        (
            "node.role".to_string(),
            vec!["manager".into(), "worker".into()],
        ),
        (
            "node.platform.os".to_string(),
            values(&|n| vec![n.os.clone()]),
        ),
        (
            "node.platform.arch".to_string(),
            values(&|n| vec![n.arch.clone()]),
        ),
    ];
    let mut keys: Vec<String> = ctx
        .nodes
        .iter()
        .flat_map(|n| n.labels.iter().map(|(k, _)| k.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let vals = values(&|n| {
            n.labels
                .iter()
                .filter(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
                .collect()
        });
        out.push((format!("node.labels.{k}"), vals));
    }
    out
}

#[component]
fn PlacementEditor(
    index: usize,
    service: String,
    draft: RwSignal<InstallDraft>,
    ctx: StoredValue<InstallContext>,
    err: impl Fn(String) -> Signal<Option<String>> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let options = StoredValue::new(ctx.with_value(attributes));
    let attribute = RwSignal::new("node.hostname".to_string());
    let operator = RwSignal::new("==".to_string());
    let value = RwSignal::new(String::new());
    let constraints = move || {
        draft.with(|d| {
            d.services
                .get(index)
                .map(|s| s.constraints.clone())
                .unwrap_or_default()
        })
    };
    let eligible = move || {
        placement::parse_constraints(&constraints()).map(|c| {
            ctx.with_value(|x| {
                placement::eligible(&c, &x.nodes)
                    .iter()
                    .map(|n| n.hostname.clone())
                    .collect::<Vec<_>>()
            })
        })
    };
    let add = move |_| {
        let v = value.get_untracked();
        let v = if v.is_empty() {
            options.with_value(|o| {
                o.iter()
                    .find(|(a, _)| *a == attribute.get_untracked())
                    .and_then(|(_, vals)| vals.first().cloned())
                    .unwrap_or_default()
            })
        } else {
            v
        };
        let line = format!(
            "{} {} {}",
            attribute.get_untracked(),
            operator.get_untracked(),
            v
        );
        if Constraint::parse(&line).is_ok() {
            draft.update(|d| {
                if let Some(s) = d.services.get_mut(index) {
                    if !s.constraints.trim().is_empty() {
                        s.constraints.push('\n');
                    }
                    s.constraints.push_str(&line);
                }
            });
        }
    };
    let (c_field, s_field) = (
        format!("service.{service}.constraints"),
        format!("service.{service}.spread"),
    );
    view! {
        <fieldset class="border border-slate-200 rounded-md p-4 mb-4 space-y-3" data-testid=format!("placement-{service}")>
            <legend class="px-1 text-sm font-semibold">{service.clone()}</legend>
            <div class="flex flex-wrap items-end gap-2 text-sm">
                <label>"Attribute"
                    <select class="block rounded-md border border-slate-300 px-2 py-1" aria-label="Attribute"
                        on:change=move |ev| { attribute.set(event_target_value(&ev)); value.set(String::new()); }>
                        {options.with_value(|o| o.iter().map(|(a, _)| view! { <option value=a.clone()>{a.clone()}</option> }).collect_view())}
                    </select>
                </label>
                <select class="rounded-md border border-slate-300 px-2 py-1" aria-label="Operator" on:change=move |ev| operator.set(event_target_value(&ev))>
                    <option value="==">"=="</option>
                    <option value="!=">"!="</option>
                </select>
                <label>"Value"
                    <select class="block rounded-md border border-slate-300 px-2 py-1" aria-label="Value" on:change=move |ev| value.set(event_target_value(&ev))>
                        {move || options.with_value(|o| o.iter().find(|(a, _)| *a == attribute.get()).map(|(_, vals)| vals.iter().map(|v| view! { <option value=v.clone()>{v.clone()}</option> }).collect_view()))}
                    </select>
                </label>
                <button class=BUTTON_SECONDARY data-testid="add-constraint" on:click=add>"Add constraint"</button>
            </div>
            <label class="block text-sm font-medium text-slate-700">"Constraints (one per line)"
                <textarea class=AREA rows="3" aria-label="Constraints" prop:value=constraints
                    on:input=move |ev| { let v = event_target_value(&ev); draft.update(|d| if let Some(s) = d.services.get_mut(index) { s.constraints = v; }); }></textarea>
            </label>
            {move || err(c_field.clone()).get().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-constraints">{m}</p> })}
            <p class="text-xs text-slate-600" data-testid="eligible">{move || match eligible() {
                Ok(v) if v.is_empty() => "No node satisfies these constraints now: Swarm keeps the tasks pending until one does.".to_string(),
                Ok(v) => format!("Eligible now: {}", v.join(", ")),
                Err(_) => String::new(),
            }}</p>
            <label class="block text-sm font-medium text-slate-700">"Spread over (one per line, e.g. spread=node.labels.zone)"
                <textarea class=AREA rows="2" aria-label="Spread"
                    prop:value=move || draft.with(|d| d.services.get(index).map(|s| s.spread.clone()).unwrap_or_default())
                    on:input=move |ev| { let v = event_target_value(&ev); draft.update(|d| if let Some(s) = d.services.get_mut(index) { s.spread = v; }); }></textarea>
            </label>
            {move || err(s_field.clone()).get().map(|m| view! { <p class="text-xs text-rose-700" data-testid="error-spread">{m}</p> })}
        </fieldset>
    }
}

/// The specs that will be sent, as JSON (secret values masked), or what still needs fixing.
fn review(c: &Compose, d: &InstallDraft, version: &str, ctx: &InstallContext) -> AnyView {
    match d.validate(c, ctx) {
        Err(problems) => view! {
            <div class="text-sm text-rose-700" data-testid="review-problems">
                <p class="font-medium">"Fix these first:"</p>
                <ul class="list-disc ml-5">{problems.into_iter().map(|p| view! { <li>{p.message}</li> }).collect_view()}</ul>
            </div>
        }
        .into_any(),
        Ok(install) => {
            let masked: Vec<(String, String)> = install.secrets.iter().map(|(k, _)| (k.clone(), "•••".into())).collect();
            let (objects, services) = spec::build(&install.name, version, c, &install.choices, &masked, &[]);
            let text = serde_json::to_string_pretty(&serde_json::json!({
                "stack": objects.stack,
                "networks": objects.networks,
                "secrets": objects.secrets.iter().map(|s| &s.name).collect::<Vec<_>>(),
                "configs": objects.configs.iter().map(|s| &s.name).collect::<Vec<_>>(),
                "services": services,
            }))
            .unwrap_or_default();
            view! {
                <p class="text-sm text-slate-600 mb-2">"Swarm receives exactly this (registry credentials are added on the server)."</p>
                <pre class="max-h-[32rem] overflow-auto rounded bg-slate-900 p-3 text-xs text-slate-100" data-testid="review-spec">{text}</pre>
            }
            .into_any()
        }
    }
}
