use domain::user::{Password, UserAction, Username};
use domain::{Permission, Role, time};
use leptos::prelude::*;

use crate::api;
use crate::components::{
    BUTTON, BUTTON_SECONDARY, Badge, Can, Card, ConfirmDialog, EmptyState, ErrorBox, Field,
    PageHeader, TABLE, TD, TH, use_session,
};
use crate::live::{use_live, use_toasts};

#[component]
pub fn UsersPage() -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let session = use_session();
    let users = Resource::new(move || live.users.get(), |_| api::list_users());
    let set_role = ServerAction::<api::SetRole>::new();
    Effect::new(move |_| match set_role.value().get() {
        Some(Ok(())) => toasts.success("Role changed."),
        Some(Err(e)) => {
            toasts.error(&e);
            live.users.update(|n| *n += 1);
        }
        None => {}
    });
    let act = ServerAction::<api::UserAction>::new();
    Effect::new(move |_| match act.value().get() {
        Some(Ok(())) => {
            toasts.success("Account changed.");
            live.users.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    let confirm_delete = RwSignal::new(None::<(String, String)>);
    let confirm_disable = RwSignal::new(None::<(String, String)>);
    let resetting = RwSignal::new(None::<(String, String)>);
    view! {
        <PageHeader title="Users" subtitle="Administrators manage users and roles. Viewers can read everything and change nothing."/>
        // The form stays outside the list's Transition: a live refresh of the list must not
        // re-create it (and lose what is being typed).
        <Can permission=Permission::Administer>
            <div class="mb-6"><CreateUser/></div>
        </Can>
        <Transition fallback=|| view! { <p class="text-slate-500">"Loading users…"</p> }>
            {move || Suspend::new(async move {
                let can_admin = session.0.await.map(|me| me.role.allows(Permission::Administer)).unwrap_or(false);
                match users.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <EmptyState title="No users" hint=""/> }.into_any(),
                    Ok(list) => {
                        let now = list.iter().map(|u| u.created_at_ms).max().unwrap_or_default();
                        view! {
                            <div class="overflow-x-auto bg-white rounded-lg border border-slate-200 shadow-sm">
                                <table class=TABLE>
                                    <thead><tr><th class=TH>"Username"</th><th class=TH>"Role"</th><th class=TH>"State"</th><th class=TH>"Created"</th><th class=TH></th></tr></thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {list.into_iter().map(|u| {
                                            let id = u.id.clone();
                                            let role_cell = if can_admin {
                                                view! {
                                                    <select class="rounded-md border border-slate-300 px-2 py-1 text-sm" aria-label=format!("Role of {}", u.username)
                                                        on:change=move |ev| { set_role.dispatch(api::SetRole { id: id.clone(), role: event_target_value(&ev) }); }>
                                                        {Role::ALL.into_iter().map(|r| view! {
                                                            <option value=r.as_str() selected=r == u.role>{r.label()}</option>
                                                        }).collect_view()}
                                                    </select>
                                                }.into_any()
                                            } else {
                                                view! { <span>{u.role.label()}</span> }.into_any()
                                            };
                                            let subject = (u.id.clone(), u.username.clone());
                                            let disabled = u.disabled;
                                            let actions = can_admin.then(|| {
                                                let (s1, s2, s3) = (subject.clone(), subject.clone(), subject.clone());
                                                view! {
                                                    <div class="flex justify-end gap-3 text-sm">
                                                        <button class="text-sky-700 hover:underline"
                                                            on:click=move |_| resetting.set(Some(s1.clone()))>"Reset password"</button>
                                                        {if disabled {
                                                            view! {
                                                                <button class="text-sky-700 hover:underline"
                                                                    on:click=move |_| { act.dispatch(api::UserAction { id: s2.0.clone(), action: UserAction::Enable }); }>"Enable"</button>
                                                            }.into_any()
                                                        } else {
                                                            view! {
                                                                <button class="text-rose-700 hover:underline"
                                                                    on:click=move |_| confirm_disable.set(Some(s2.clone()))>"Disable"</button>
                                                            }.into_any()
                                                        }}
                                                        <button class="text-rose-700 hover:underline"
                                                            on:click=move |_| confirm_delete.set(Some(s3.clone()))>"Delete"</button>
                                                    </div>
                                                }
                                            });
                                            view! {
                                                <tr data-testid="user-row" data-username=u.username.clone() data-state=if disabled { "disabled" } else { "active" }>
                                                    <td class=TD><span class="font-medium text-slate-900">{u.username.clone()}</span></td>
                                                    <td class=TD>{role_cell}</td>
                                                    <td class=TD>{if disabled {
                                                        view! { <Badge text="Disabled".to_string() tone="amber"/> }.into_any()
                                                    } else {
                                                        view! { <Badge text="Active".to_string() tone="green"/> }.into_any()
                                                    }}</td>
                                                    <td class=TD>{time::ago(now.max(u.created_at_ms), u.created_at_ms)}</td>
                                                    <td class=TD>{actions}</td>
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
        {move || resetting.get().map(|(id, name)| view! { <div class="mt-6"><ResetPassword id name resetting/></div> })}
        <ConfirmDialog
            subject=confirm_disable
            title="Disable the account?"
            action_label="Disable"
            explain=|name: String| format!("{name} is signed out everywhere and cannot sign in until enabled again.")
            on_confirm=move |id: String| { act.dispatch(api::UserAction { id, action: UserAction::Disable }); }
        />
        <ConfirmDialog
            subject=confirm_delete
            title="Delete the account?"
            action_label="Delete"
            explain=|name: String| format!("{name} is signed out everywhere and removed. The audit log keeps what they did.")
            on_confirm=move |id: String| { act.dispatch(api::UserAction { id, action: UserAction::Delete }); }
        />
    }
}

/// An Administrator sets another user's password; that user's sessions end.
#[component]
fn ResetPassword(
    id: String,
    name: String,
    resetting: RwSignal<Option<(String, String)>>,
) -> impl IntoView {
    let toasts = use_toasts();
    let reset = ServerAction::<api::ResetPassword>::new();
    let password = RwSignal::new(String::new());
    let touched = RwSignal::new(false);
    let error = Signal::derive(move || {
        let server = reset
            .value()
            .get()
            .and_then(Result::err)
            .and_then(|e| e.field_error("password").map(str::to_owned));
        if touched.get() {
            Password::parse(&password.get())
                .err()
                .map(|e| e.message)
                .or(server)
        } else {
            server
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = reset.value().get() {
            toasts.success("Password reset; the user was signed out everywhere.");
            resetting.set(None);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        touched.set(true);
        if Password::parse(&password.get_untracked()).is_ok() {
            reset.dispatch(api::ResetPassword {
                id: id.clone(),
                password: password.get_untracked(),
            });
        }
    };
    view! {
        <Card title="Reset password">
            <form class="grid gap-4 md:grid-cols-[1fr_auto_auto] items-start" on:submit=submit data-testid="reset-password-form">
                <Field label="New password" name="new_password" kind="password" value=password error
                    hint="At least 10 characters. Tell the user through another channel."/>
                <button type="submit" class=format!("{BUTTON} md:mt-6") disabled=move || reset.pending().get()>
                    {format!("Set {name}'s password")}
                </button>
                <button type="button" class=format!("{BUTTON_SECONDARY} md:mt-6") on:click=move |_| resetting.set(None)>"Cancel"</button>
            </form>
            {move || reset.value().get().and_then(Result::err)
                .filter(|e| e.field_error("password").is_none())
                .map(|e| view! { <div class="mt-4"><ErrorBox error=e/></div> })}
        </Card>
    }
}

#[component]
fn CreateUser() -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let create = ServerAction::<api::CreateUser>::new();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer.as_str().to_string());
    let touched = RwSignal::new(false);
    let server_error = move |field: &str| {
        create
            .value()
            .get()
            .and_then(Result::err)
            .and_then(|e| e.field_error(field).map(str::to_owned))
    };
    let username_error = Signal::derive(move || {
        if touched.get() {
            Username::parse(&username.get())
                .err()
                .map(|e| e.message)
                .or_else(|| server_error("username"))
        } else {
            server_error("username")
        }
    });
    let password_error = Signal::derive(move || {
        if touched.get() {
            Password::parse(&password.get())
                .err()
                .map(|e| e.message)
                .or_else(|| server_error("password"))
        } else {
            server_error("password")
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(u)) = create.value().get() {
            toasts.success(format!("User {} created.", u.username));
            username.set(String::new());
            password.set(String::new());
            touched.set(false);
            live.users.update(|n| *n += 1);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        touched.set(true);
        if Username::parse(&username.get_untracked()).is_ok()
            && Password::parse(&password.get_untracked()).is_ok()
        {
            create.dispatch(api::CreateUser {
                username: username.get_untracked(),
                password: password.get_untracked(),
                role: role.get_untracked(),
            });
        }
    };
    view! {
        <Card title="Add a user">
            <form class="grid gap-4 md:grid-cols-[1fr_1fr_12rem_auto] items-start" on:submit=submit data-testid="create-user-form">
                <Field label="Username" name="username" value=username error=username_error hint="Lowercase letters, digits, . _ -"/>
                <Field label="Initial password" name="password" kind="password" value=password error=password_error hint="At least 10 characters."/>
                <div class="space-y-1">
                    <label for="field-role" class="block text-sm font-medium text-slate-700">"Role"</label>
                    <select id="field-role" name="role" class="block w-full rounded-md border border-slate-300 px-3 py-2 text-sm"
                        on:change=move |ev| role.set(event_target_value(&ev))>
                        {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == Role::Viewer>{r.label()}</option> }).collect_view()}
                    </select>
                </div>
                <button type="submit" class=format!("{BUTTON} md:mt-6") disabled=move || create.pending().get()>"Add user"</button>
            </form>
            {move || create.value().get().and_then(Result::err)
                .filter(|e| e.field_error("username").is_none() && e.field_error("password").is_none())
                .map(|e| view! { <div class="mt-4"><ErrorBox error=e/></div> })}
        </Card>
    }
}
