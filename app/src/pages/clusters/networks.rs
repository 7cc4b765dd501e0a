//! The overlay networks card of a cluster.
use domain::net::Cidr;
use domain::network::{NetworkDraft, NetworkView};
use domain::{AppError, Permission, ValidationError};
use leptos::prelude::*;

use crate::api;
use crate::components::{BUTTON, Can, ConfirmDialog, Field, TABLE, TD, TH};
use crate::live::{report_done, use_live, use_toasts};

/// The card's actions and form, kept above the part of the page that live refreshes re-render.
#[derive(Clone, Copy)]
pub struct NetworkState {
    create: ServerAction<api::CreateNetwork>,
    delete: ServerAction<api::DeleteNetwork>,
    confirm: RwSignal<Option<(String, String)>>,
    name: RwSignal<String>,
    subnet: RwSignal<String>,
    attachable: RwSignal<bool>,
    encrypted: RwSignal<bool>,
    touched: RwSignal<bool>,
}

impl NetworkState {
    pub fn new() -> Self {
        let toasts = use_toasts();
        let live = use_live();
        let state = Self {
            create: ServerAction::new(),
            delete: ServerAction::new(),
            confirm: RwSignal::new(None),
            name: RwSignal::new(String::new()),
            subnet: RwSignal::new(String::new()),
            attachable: RwSignal::new(true),
            encrypted: RwSignal::new(false),
            touched: RwSignal::new(false),
        };
        report_done(
            move || state.delete.value().get(),
            "Network deleted.",
            live.clusters,
        );
        Effect::new(move |_| match state.create.value().get() {
            Some(Ok(())) => {
                toasts.success("Network created.");
                state.name.set(String::new());
                state.subnet.set(String::new());
                state.encrypted.set(false);
                state.touched.set(false);
                live.clusters.update(|n| *n += 1);
            }
            Some(Err(e)) if !matches!(e, AppError::Invalid(_) | AppError::Validation(_)) => {
                toasts.error(&e)
            }
            _ => {}
        });
        state
    }
}

/// The card: the table re-renders when the networks change; the form below it stays in place (a
/// refresh does not replace what the operator is typing or clicking).
#[component]
pub fn Networks(
    cluster_id: String,
    /// The networks a manager reported, and whether one has reported yet.
    networks: Memo<Option<(Vec<NetworkView>, bool)>>,
    pools: Memo<Option<Vec<Cidr>>>,
    state: NetworkState,
) -> impl IntoView {
    let id = StoredValue::new(cluster_id);
    let (delete, confirm) = (state.delete, state.confirm);
    let reported = move || networks.with(|n| n.as_ref().is_some_and(|(_, r)| *r));
    let existing = Signal::derive(move || {
        networks.with(|n| n.as_ref().map(|(l, _)| l.clone()).unwrap_or_default())
    });
    let pools = Signal::derive(move || pools.get().unwrap_or_default());
    view! {
        <Show
            when=reported
            fallback=|| view! { <p class="text-sm text-slate-500">"Waiting for a manager to report the swarm…"</p> }
        >
            <table class=TABLE>
                <thead><tr>
                    <th class=TH>"Name"</th><th class=TH>"Subnet"</th><th class=TH>"Attachable"</th>
                    <th class=TH>"Encrypted"</th><th class=TH>"Services"</th><th class=TH></th>
                </tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {move || existing.get().into_iter().map(|n| network_row(n, confirm)).collect_view()}
                </tbody>
            </table>
            <Can permission=Permission::Operate>
                <NewNetwork id=id.get_value() pools existing state/>
            </Can>
        </Show>
        <ConfirmDialog
            subject=confirm
            title="Delete this network?"
            action_label="Delete network"
            explain=|name: String| format!("The overlay network {name} is removed from the swarm.")
            on_confirm=move |name: String| { delete.dispatch(api::DeleteNetwork { id: id.get_value(), name }); }
        />
    }
}

fn network_row(n: NetworkView, confirm: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let subject = (n.name.clone(), n.name.clone());
    let deletable = !n.ingress && n.services == 0;
    view! {
        <tr data-testid="network" data-name=n.name.clone()>
            <td class=TD><span class="font-medium">{n.name.clone()}</span>
                {n.ingress.then(|| view! { <span class="ml-2 text-xs text-slate-500">"routing mesh"</span> })}</td>
            <td class=TD><span class="font-mono text-xs" data-testid="network-subnet">{n.subnets.join(", ")}</span></td>
            <td class=TD>{if n.attachable { "yes" } else { "no" }}</td>
            <td class=TD>{if n.encrypted { "yes" } else { "no" }}</td>
            <td class=TD data-testid="network-services">{n.services}</td>
            <td class=format!("{TD} text-right")>
                {(!n.ingress).then(|| view! {
                    <Can permission=Permission::Supervise>
                        {
                            let subject = subject.clone();
                            view! {
                                <button class="text-sm text-rose-700 hover:underline disabled:text-slate-400 disabled:no-underline"
                                    disabled=!deletable
                                    title=if deletable { "" } else { "In use by a service" }
                                    on:click=move |_| confirm.set(Some(subject.clone()))>"Delete"</button>
                            }
                        }
                    </Can>
                })}
            </td>
        </tr>
    }
}

#[component]
fn NewNetwork(
    id: String,
    pools: Signal<Vec<Cidr>>,
    existing: Signal<Vec<NetworkView>>,
    state: NetworkState,
) -> impl IntoView {
    let NetworkState {
        create,
        name,
        subnet,
        attachable,
        encrypted,
        touched,
        ..
    } = state;
    let id = StoredValue::new(id);
    let draft = move || NetworkDraft {
        name: name.get(),
        subnet: subnet.get(),
        attachable: attachable.get(),
        encrypted: encrypted.get(),
    };
    let problems = Memo::new(move |_| {
        let server: Vec<ValidationError> = match create.value().get() {
            Some(Err(AppError::Invalid(v))) => v,
            Some(Err(AppError::Validation(v))) => vec![v],
            _ => vec![],
        };
        if touched.get() {
            pools
                .with(|pools| existing.with(|existing| draft().validate(pools, existing).err()))
                .unwrap_or(server)
        } else {
            server
        }
    });
    let err = move |f: &'static str| {
        Signal::derive(move || domain::cluster::problem(&problems.get(), f).map(str::to_owned))
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        touched.set(true);
        let ok = pools.with_untracked(|pools| {
            existing.with_untracked(|existing| draft().validate(pools, existing).is_ok())
        });
        if ok {
            create.dispatch(api::CreateNetwork {
                id: id.get_value(),
                draft: draft(),
            });
        }
    };
    view! {
        <form class="mt-4 grid gap-3 md:grid-cols-[1fr_1fr_auto_auto_auto] items-start" on:submit=submit data-testid="create-network-form">
            <Field label="Network name" name="network_name" value=name error=err("name")/>
            <Field label="Subnet (optional)" name="network_subnet" value=subnet error=err("subnet") placeholder="from the pools" hint="Empty: the next free subnet of the pools."/>
            <label class="mt-7 flex items-center gap-1 text-sm text-slate-700">
                <input type="checkbox" prop:checked=move || attachable.get() on:change=move |_| attachable.update(|a| *a = !*a)/>"Attachable"
            </label>
            <label class="mt-7 flex items-center gap-1 text-sm text-slate-700" title="IPsec between nodes; needs ESP support in the nodes' kernels">
                <input type="checkbox" prop:checked=move || encrypted.get() on:change=move |_| encrypted.update(|a| *a = !*a)/>"Encrypted"
            </label>
            <button type="submit" class=format!("{BUTTON} mt-6") disabled=move || create.pending().get()>"Create network"</button>
        </form>
    }
}
