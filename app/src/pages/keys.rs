use domain::enrolment::{self, CreatedEnrolmentKey, KeyState};
use domain::{Permission, time};
use leptos::prelude::*;

use crate::api;
use crate::components::{
    BUTTON, Badge, Can, Card, ConfirmDialog, EmptyState, ErrorBox, Field, PageHeader, TABLE, TD, TH,
};
use crate::live::{report_done, use_live};

const EXPIRY_CHOICES: [(&str, &str); 5] = [
    ("1", "1 hour"),
    ("24", "1 day"),
    ("168", "7 days"),
    ("720", "30 days"),
    ("8760", "1 year"),
];

#[component]
pub fn KeysPage() -> impl IntoView {
    let live = use_live();
    let keys = Resource::new(move || live.keys.get(), |_| api::list_keys());
    let revoke = ServerAction::<api::RevokeKey>::new();
    report_done(move || revoke.value().get(), "Key revoked.", live.keys);
    let confirm = RwSignal::new(None::<(String, String)>);
    view! {
        <PageHeader title="Enrolment keys" subtitle="A node enrols once with a key; it then holds its own token. A key enrols as many nodes as its limit allows."/>
        <Can permission=Permission::Administer>
            <div class="mb-6"><CreateKey/></div>
        </Can>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading keys…"</p> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(s) if s.data.is_empty() => view! {
                        <EmptyState title="No enrolment keys" hint="An Administrator creates one to enrol nodes."/>
                    }.into_any(),
                    Ok(s) => {
                        let now = s.now_ms;
                        view! {
                            <div class="overflow-x-auto bg-white rounded-lg border border-slate-200 shadow-sm">
                                <table class=TABLE>
                                    <thead><tr>
                                        <th class=TH>"Name"</th><th class=TH>"State"</th><th class=TH>"Created"</th>
                                        <th class=TH>"Expires"</th><th class=TH>"Uses"</th><th class=TH></th>
                                    </tr></thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {s.data.into_iter().map(|k| {
                                            let state = k.state(now);
                                            let tone = match state { KeyState::Active => "green", KeyState::UsedUp | KeyState::Expired => "amber", KeyState::Revoked => "red" };
                                            let subject = (k.id.clone(), k.label.clone());
                                            view! {
                                                <tr data-testid="key-row" data-label=k.label.clone() data-state=state.label()>
                                                    <td class=TD><span class="font-medium text-slate-900">{k.label.clone()}</span></td>
                                                    <td class=TD><Badge text=state.label().to_string() tone/></td>
                                                    <td class=TD>{format!("{} by {}", time::ago(now, k.created_at_ms), k.created_by)}</td>
                                                    <td class=TD>{time::until(now, k.expires_at_ms)}</td>
                                                    <td class=TD data-testid="key-uses">{k.uses_label()}</td>
                                                    <td class=format!("{TD} text-right")>
                                                        {(state == KeyState::Active).then(|| view! {
                                                            <Can permission=Permission::Administer>
                                                                {
                                                                    let subject = subject.clone();
                                                                    view! {
                                                                        <button class="text-sm text-rose-700 hover:underline"
                                                                            on:click=move |_| confirm.set(Some(subject.clone()))>"Revoke"</button>
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
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Transition>
        <ConfirmDialog
            subject=confirm
            title="Revoke enrolment key?"
            action_label="Revoke"
            explain=|name: String| format!("Nodes can no longer enrol with \"{name}\". Nodes that already enrolled keep working.")
            on_confirm=move |id: String| { revoke.dispatch(api::RevokeKey { id }); }
        />
    }
}

#[component]
fn CreateKey() -> impl IntoView {
    let live = use_live();
    let create = ServerAction::<api::CreateKey>::new();
    let label = RwSignal::new(String::new());
    let expiry = RwSignal::new("24".to_string());
    let max_uses = RwSignal::new(enrolment::DEFAULT_USES.to_string());
    let touched = RwSignal::new(false);
    // The same validation the server runs, inline.
    let label_error = Signal::derive(move || {
        let server = create
            .value()
            .get()
            .and_then(Result::err)
            .and_then(|e| e.field_error("label").map(str::to_owned));
        if touched.get() {
            enrolment::parse_label(&label.get())
                .err()
                .map(|e| e.message)
                .or(server)
        } else {
            server
        }
    });
    let uses_error = Signal::derive(move || {
        let server = create
            .value()
            .get()
            .and_then(Result::err)
            .and_then(|e| e.field_error("max_uses").map(str::to_owned));
        if touched.get() {
            enrolment::parse_max_uses(&max_uses.get())
                .err()
                .map(|e| e.message)
                .or(server)
        } else {
            server
        }
    });
    let created = RwSignal::new(None::<CreatedEnrolmentKey>);
    Effect::new(move |_| {
        if let Some(Ok(k)) = create.value().get() {
            created.set(Some(k));
            label.set(String::new());
            max_uses.set(enrolment::DEFAULT_USES.to_string());
            touched.set(false);
            live.keys.update(|n| *n += 1);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        touched.set(true);
        if enrolment::NewEnrolmentKey::parse(
            &label.get_untracked(),
            &expiry.get_untracked(),
            Some(&max_uses.get_untracked()),
        )
        .is_ok()
        {
            create.dispatch(api::CreateKey {
                label: label.get_untracked(),
                expires_in_hours: expiry.get_untracked(),
                max_uses: Some(max_uses.get_untracked()),
            });
        }
    };
    view! {
        <Card title="New enrolment key">
            <form class="grid gap-4 md:grid-cols-[1fr_12rem_10rem_auto] items-start" on:submit=submit data-testid="create-key-form">
                <Field label="Name" name="label" value=label error=label_error placeholder="e.g. line 3 gateways"
                    hint="Shown in the list and the audit log."/>
                <div class="space-y-1">
                    <label for="field-expiry" class="block text-sm font-medium text-slate-700">"Expires in"</label>
                    <select id="field-expiry" name="expires_in_hours" class="block w-full rounded-md border border-slate-300 px-3 py-2 text-sm"
                        on:change=move |ev| expiry.set(event_target_value(&ev))>
                        {EXPIRY_CHOICES.into_iter().map(|(v, l)| view! { <option value=v selected=v == "24">{l}</option> }).collect_view()}
                    </select>
                </div>
                <Field label="Nodes it may enrol" name="max_uses" value=max_uses error=uses_error
                    hint="0 for no limit."/>
                <button type="submit" class=format!("{BUTTON} md:mt-6") disabled=move || create.pending().get() data-testid="create-key">
                    {move || if create.pending().get() { "Creating…" } else { "Create key" }}
                </button>
            </form>
            {move || create.value().get().and_then(Result::err).filter(|e| e.field_error("label").is_none() && e.field_error("max_uses").is_none()).map(|e| view! {
                <div class="mt-4"><ErrorBox error=e/></div>
            })}
            {move || created.get().map(|k| view! {
                <div class="mt-4 rounded-md border border-emerald-300 bg-emerald-50 p-4 text-sm space-y-2" data-testid="created-key">
                    <p class="font-medium text-emerald-900">
                        {format!("Key \"{}\" created. Copy it now: it is shown only once.", k.key.label)}
                    </p>
                    <code class="block break-all rounded bg-white border border-emerald-200 px-3 py-2 font-mono text-slate-900 select-all"
                        data-testid="enrolment-secret">{k.secret.clone()}</code>
                    <p class="text-emerald-900">"On the node:"</p>
                    <code class="block break-all rounded bg-slate-900 text-slate-100 px-3 py-2 font-mono text-xs select-all"
                        data-testid="agent-command">{k.agent_command.clone()}</code>
                    {k.agent_command.contains("--panel https://").then(|| view! {
                        <p class="text-emerald-900">"Add --ca-file with the CA certificate when the panel's certificate comes from a private CA."</p>
                    })}
                </div>
            })}
        </Card>
    }
}
