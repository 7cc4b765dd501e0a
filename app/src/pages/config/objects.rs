//! The Swarm objects card of a cluster page: every Swarm secret and config its managers report,
//! with where it came from (an app, a Global Secret's version, or made outside the panel), the
//! services that use it and when it was created. Supervisors delete one that no service uses.
use domain::config::objects::{ObjectKind, ObjectView};
use domain::time::ago;
use domain::{AppError, Permission};
use leptos::prelude::*;

use crate::api;
use crate::components::{Can, ConfirmDialog, ErrorBox, TD, TH};
use crate::live::{report_done, use_live};

/// What the confirmation carries: `kind:name`.
fn subject(o: &ObjectView) -> String {
    format!("{}:{}", o.kind.as_str(), o.name)
}

fn parse_subject(s: &str) -> Option<(ObjectKind, String)> {
    let (kind, name) = s.split_once(':')?;
    let kind = match kind {
        "secret" => ObjectKind::Secret,
        "config" => ObjectKind::Config,
        _ => return None,
    };
    Some((kind, name.to_owned()))
}

#[component]
pub fn SwarmObjects(cluster_id: String) -> impl IntoView {
    let live = use_live();
    let id = StoredValue::new(cluster_id);
    let list = Resource::new(
        move || live.clusters.get(),
        move |_| api::swarm_objects(id.get_value()),
    );
    let delete = ServerAction::<api::DeleteSwarmObject>::new();
    let confirm = RwSignal::new(None::<(String, String)>);
    report_done(
        move || delete.value().get(),
        "Deleted from the swarm.",
        live.clusters,
    );
    let table = move |title: &'static str, all: Vec<ObjectView>, now: i64| {
        view! {
            <h3 class="mt-4 mb-1 text-sm font-medium text-slate-600">{title}</h3>
            {if all.is_empty() {
                view! { <p class="text-sm text-slate-500">"None."</p> }.into_any()
            } else {
                view! {
                    <table class="min-w-full divide-y divide-slate-200 text-sm">
                        <thead><tr>
                            <th class=TH>"Name"</th><th class=TH>"From"</th><th class=TH>"Used by"</th>
                            <th class=TH>"Created"</th><th class=TH></th>
                        </tr></thead>
                        <tbody class="divide-y divide-slate-100">
                            {all.into_iter().map(|o| {
                                let (origin, origin_attr) = (o.origin.label(), o.origin.label());
                                let used = if o.services.is_empty() { "—".to_string() } else { o.services.join(", ") };
                                let created = o.created_at_ms.map(|t| ago(now, t)).unwrap_or_else(|| "—".into());
                                let deletable = o.deletable();
                                let (what, name) = (subject(&o), o.name.clone());
                                view! {
                                    <tr data-testid="swarm-object" data-kind=o.kind.as_str() data-name=o.name.clone() data-origin=origin_attr>
                                        <td class=TD><span class="font-mono">{o.name.clone()}</span></td>
                                        <td class=TD>{origin}</td>
                                        <td class=TD data-testid="object-services">{used}</td>
                                        <td class=TD>{created}</td>
                                        <td class=TD>
                                            {deletable.then(|| view! {
                                                <Can permission=Permission::Supervise>
                                                    {
                                                        let (what, name) = (what.clone(), name.clone());
                                                        view! {
                                                            <button class="text-rose-700 hover:underline" data-testid="delete-object"
                                                                on:click=move |_| confirm.set(Some((what.clone(), name.clone())))>"Delete"</button>
                                                        }
                                                    }
                                                </Can>
                                            })}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        }
        .into_any()
    };
    view! {
        <section class="mt-6 bg-white rounded-lg border border-slate-200 shadow-sm p-5" data-testid="swarm-objects">
            <h2 class="text-sm font-semibold text-slate-700 mb-2">"Swarm secrets and configs"</h2>
            <p class="text-sm text-slate-500">"Every secret and config on the swarm, as its managers report them. One that a service uses cannot be deleted."</p>
            <Transition fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(AppError::NotFound(_)) => ().into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(s) if !s.data.reported => view! {
                            <p class="mt-3 text-sm text-slate-500">"Waiting for a manager to report the swarm…"</p>
                        }.into_any(),
                        Ok(s) => view! {
                            {table("Secrets", s.data.secrets, s.now_ms)}
                            {table("Configs", s.data.configs, s.now_ms)}
                        }.into_any(),
                    }
                })}
            </Transition>
            <ConfirmDialog
                subject=confirm
                title="Delete from the swarm?"
                action_label="Delete"
                explain=|name: String| format!("{name} is removed from the swarm. No service uses it now; an app that declares it creates it again when it is deployed.")
                on_confirm=move |what: String| {
                    if let Some((kind, name)) = parse_subject(&what) {
                        delete.dispatch(api::DeleteSwarmObject { cluster_id: id.get_value(), kind, name });
                    }
                }
            />
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::config::objects::Origin;

    #[test]
    fn the_confirmation_carries_kind_and_name() {
        let o = ObjectView {
            kind: ObjectKind::Config,
            name: "shop_conf:x".into(),
            created_at_ms: None,
            origin: Origin::Outside,
            services: vec![],
        };
        assert_eq!(
            parse_subject(&subject(&o)),
            Some((ObjectKind::Config, "shop_conf:x".into()))
        );
        assert_eq!(parse_subject("volume:x"), None);
    }
}
