//! Shared UI pieces: the layout shell, page headers, badges, empty states, form fields, dialogs
//! and toasts.
use domain::user::Me;
use domain::{AppError, Permission};
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_location;

use crate::api;
use crate::live::{ToastKind, provide_live, use_toasts};

/// The signed-in user, loaded once by the shell and shared with every page.
#[derive(Clone, Copy)]
pub struct Session(pub Resource<Result<Me, AppError>>);

pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// The signed-in user, known to every page (the shell renders pages only once it is known).
#[derive(Clone)]
pub struct SignedIn(pub Me);

/// Whether the signed-in user's role allows `permission`.
pub fn allowed(permission: Permission) -> bool {
    use_context::<SignedIn>().is_some_and(|s| s.0.role.allows(permission))
}

/// Renders `children` only when the signed-in user's role allows `permission`. Decided once,
/// from the user the shell provides, so the server and the hydrating browser agree.
#[component]
pub fn Can(permission: Permission, children: ChildrenFn) -> impl IntoView {
    allowed(permission).then(|| children())
}

/// Renders `children` in the browser only, once the page is hydrated. For controls whose
/// server-rendered markup the hydration walker mis-steps over (the action cell of a cluster's
/// node rows): they appear a moment later instead of breaking the page.
#[component]
pub fn AfterHydration(children: ChildrenFn) -> impl IntoView {
    let ready = RwSignal::new(false);
    // Effects run only in the browser, after hydration.
    Effect::new(move |_| ready.set(true));
    move || ready.get().then(|| children())
}

/// Layout of every signed-in page: navigation, user menu, toasts and the page itself.
#[component]
pub fn Shell() -> impl IntoView {
    provide_live();
    let me = Resource::new(|| (), |_| api::current_user());
    provide_context(Session(me));
    view! {
        <Suspense fallback=|| view! { <div class="p-8 text-slate-500">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(me) => view! { <Frame me/> }.into_any(),
                    Err(AppError::Unauthorized) => view! { <Redirect path="/login"/> }.into_any(),
                    Err(e) => view! { <div class="p-8"><ErrorBox error=e/></div> }.into_any(),
                }
            })}
        </Suspense>
        <ToastStack/>
    }
}

#[component]
fn Frame(me: Me) -> impl IntoView {
    provide_context(SignedIn(me.clone()));
    let logout = ServerAction::<api::Logout>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            // A full navigation drops every client-side state of the old session.
            #[cfg(feature = "hydrate")]
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_href("/login");
            }
        }
    });
    view! {
        <div class="min-h-screen flex bg-slate-50">
            <aside class="w-60 shrink-0 bg-slate-900 text-slate-200 flex flex-col">
                <div class="px-5 py-5 flex items-center gap-2 border-b border-slate-800">
                    <span class="inline-block w-3 h-3 rounded-full bg-sky-400"></span>
                    <span class="text-lg font-semibold tracking-tight text-white">"Flotilla"</span>
                </div>
                <nav class="flex-1 px-3 py-4 space-y-1 text-sm" aria-label="Main">
                    <NavLink href="/clusters" label="Clusters"/>
                    <NavLink href="/library" label="Library"/>
                    <NavLink href="/firmware" label="Firmware"/>
                    <NavLink href="/nodes" label="Nodes"/>
                    <NavLink href="/keys" label="Enrolment keys"/>
                    <NavLink href="/users" label="Users"/>
                    <Can permission=Permission::Supervise>
                        <NavLink href="/audit" label="Audit log"/>
                    </Can>
                </nav>
                <div class="px-5 py-3 text-xs text-slate-500 border-t border-slate-800">
                    {concat!("Flotilla ", env!("CARGO_PKG_VERSION"))}
                </div>
            </aside>
            <div class="flex-1 min-w-0 flex flex-col">
                <header class="h-14 bg-white border-b border-slate-200 flex items-center justify-end gap-4 px-6">
                    <A href="/account" attr:class="text-sm text-slate-600 hover:text-slate-900" attr:title="Account">
                        <span data-testid="whoami">
                            <span class="font-medium text-slate-900">{me.username.clone()}</span>
                            " · "
                            <span data-testid="role">{me.role.label()}</span>
                        </span>
                    </A>
                    <button
                        class="text-sm px-3 py-1.5 rounded-md border border-slate-300 hover:bg-slate-100"
                        on:click=move |_| { logout.dispatch(api::Logout {}); }
                    >
                        "Sign out"
                    </button>
                </header>
                <main class="flex-1 p-6 max-w-7xl w-full mx-auto">
                    <Outlet/>
                </main>
            </div>
        </div>
    }
}

#[component]
fn NavLink(href: &'static str, label: &'static str) -> impl IntoView {
    let location = use_location();
    let active = move || {
        let path = location.pathname.get();
        path == href || path.starts_with(&format!("{href}/")) || (href == "/nodes" && path == "/")
    };
    view! {
        <A href=href attr:class=move || {
            if active() {
                "block rounded-md px-3 py-2 bg-slate-800 text-white font-medium"
            } else {
                "block rounded-md px-3 py-2 hover:bg-slate-800 hover:text-white"
            }
        }>{label}</A>
    }
}

#[component]
pub fn PageHeader(
    title: &'static str,
    #[prop(optional)] subtitle: &'static str,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="flex items-start justify-between gap-4 mb-6">
            <div>
                <h1 class="text-2xl font-semibold text-slate-900">{title}</h1>
                {(!subtitle.is_empty()).then(|| view! { <p class="mt-1 text-sm text-slate-500">{subtitle}</p> })}
            </div>
            <div class="flex items-center gap-2">{children.map(|c| c())}</div>
        </div>
    }
}

#[component]
pub fn Card(#[prop(optional)] title: &'static str, children: Children) -> impl IntoView {
    view! {
        <section class="bg-white rounded-lg border border-slate-200 shadow-sm">
            {(!title.is_empty()).then(|| view! {
                <h2 class="px-5 py-3 border-b border-slate-200 text-sm font-semibold text-slate-700">{title}</h2>
            })}
            <div class="p-5">{children()}</div>
        </section>
    }
}

#[component]
pub fn EmptyState(title: &'static str, hint: &'static str) -> impl IntoView {
    view! {
        <div class="text-center py-12 px-6 bg-white border border-dashed border-slate-300 rounded-lg" data-testid="empty-state">
            <p class="font-medium text-slate-700">{title}</p>
            <p class="mt-1 text-sm text-slate-500">{hint}</p>
        </div>
    }
}

#[component]
pub fn Badge(text: String, tone: &'static str) -> impl IntoView {
    let class = match tone {
        "green" => "bg-emerald-50 text-emerald-700 ring-emerald-600/20",
        "red" => "bg-rose-50 text-rose-700 ring-rose-600/20",
        "amber" => "bg-amber-50 text-amber-800 ring-amber-600/20",
        _ => "bg-slate-100 text-slate-600 ring-slate-500/20",
    };
    view! {
        <span class=format!("inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset {class}")>
            {text}
        </span>
    }
}

#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    view! {
        <div role="alert" class="rounded-md bg-rose-50 border border-rose-200 px-4 py-3 text-sm text-rose-800">
            {error.to_string()}
        </div>
    }
}

/// A labelled input with its inline validation message.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] hint: &'static str,
) -> impl IntoView {
    let id = format!("field-{name}");
    view! {
        <div class="space-y-1">
            <label for=id.clone() class="block text-sm font-medium text-slate-700">{label}</label>
            <input
                id=id
                name=name
                type=kind
                placeholder=placeholder
                class=move || {
                    if error.get().is_some() {
                        "block w-full rounded-md border border-rose-400 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-rose-300"
                    } else {
                        "block w-full rounded-md border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-sky-300"
                    }
                }
                aria-invalid=move || error.get().is_some().to_string()
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            {move || match error.get() {
                Some(m) => view! { <p class="text-xs text-rose-700" data-testid=format!("error-{name}")>{m}</p> }.into_any(),
                None => view! { <p class="text-xs text-slate-500">{hint}</p> }.into_any(),
            }}
        </div>
    }
}

/// A confirmation dialog for destructive actions. Open it by setting `subject`.
#[component]
pub fn ConfirmDialog(
    subject: RwSignal<Option<(String, String)>>,
    title: &'static str,
    action_label: &'static str,
    #[prop(into)] explain: Callback<String, String>,
    #[prop(into)] on_confirm: Callback<String>,
) -> impl IntoView {
    view! {
        {move || subject.get().map(|(id, name)| {
            let id = StoredValue::new(id);
            view! {
                <div class="fixed inset-0 z-40 bg-slate-900/40 flex items-center justify-center p-4" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
                    <div class="bg-white rounded-lg shadow-xl max-w-md w-full p-6">
                        <h2 id="confirm-title" class="text-lg font-semibold text-slate-900">{title}</h2>
                        <p class="mt-2 text-sm text-slate-600">{explain.run(name)}</p>
                        <div class="mt-6 flex justify-end gap-2">
                            <button class="px-3 py-2 text-sm rounded-md border border-slate-300 hover:bg-slate-50"
                                on:click=move |_| subject.set(None)>"Cancel"</button>
                            <button class="px-3 py-2 text-sm rounded-md bg-rose-600 text-white hover:bg-rose-700"
                                data-testid="confirm"
                                on:click=move |_| { on_confirm.run(id.get_value()); subject.set(None); }>{action_label}</button>
                        </div>
                    </div>
                </div>
            }
        })}
    }
}

#[component]
fn ToastStack() -> impl IntoView {
    let toasts = use_toasts();
    view! {
        <div class="fixed bottom-4 right-4 z-50 space-y-2 w-96 max-w-[calc(100vw-2rem)]" aria-live="polite">
            <For each=move || toasts.list() key=|t| t.id let:toast>
                <div
                    role="status"
                    data-testid="toast"
                    class=if toast.kind == ToastKind::Error {
                        "flex items-start gap-3 rounded-md shadow-lg px-4 py-3 text-sm bg-rose-600 text-white"
                    } else {
                        "flex items-start gap-3 rounded-md shadow-lg px-4 py-3 text-sm bg-slate-900 text-white"
                    }
                >
                    <span class="flex-1">{toast.text.clone()}</span>
                    <button class="opacity-70 hover:opacity-100" aria-label="Dismiss" on:click=move |_| toasts.dismiss(toast.id)>"×"</button>
                </div>
            </For>
        </div>
    }
}

pub const BUTTON: &str = "inline-flex items-center gap-2 rounded-md bg-sky-600 px-3 py-2 text-sm font-medium text-white shadow-sm hover:bg-sky-700 disabled:opacity-50 disabled:cursor-not-allowed";
pub const BUTTON_SECONDARY: &str = "inline-flex items-center gap-2 rounded-md border border-slate-300 bg-white px-3 py-2 text-sm font-medium text-slate-700 hover:bg-slate-50 disabled:opacity-50";
pub const TABLE: &str = "min-w-full divide-y divide-slate-200 text-sm";
pub const TH: &str =
    "px-4 py-2 text-left text-xs font-semibold uppercase tracking-wide text-slate-500 bg-slate-50";
pub const TD: &str = "px-4 py-2 text-slate-700 align-top";
