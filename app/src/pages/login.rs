use leptos::prelude::*;

use crate::api;
use crate::components::{BUTTON, ErrorBox};

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<api::Login>::new();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(_)) = login.value().get() {
            #[cfg(feature = "hydrate")]
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_href("/nodes");
            }
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        login.dispatch(api::Login {
            username: username.get_untracked(),
            password: password.get_untracked(),
        });
    };
    let input = "block w-full rounded-md border border-slate-300 px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-sky-300";
    view! {
        <div class="min-h-screen flex items-center justify-center bg-slate-100 px-4">
            <div class="w-full max-w-sm">
                <div class="flex items-center justify-center gap-2 mb-6">
                    <span class="inline-block w-3 h-3 rounded-full bg-sky-500"></span>
                    <span class="text-2xl font-semibold tracking-tight text-slate-900">"Flotilla"</span>
                </div>
                <form class="bg-white rounded-lg border border-slate-200 shadow-sm p-6 space-y-4" on:submit=submit>
                    <h1 class="text-lg font-semibold text-slate-900">"Sign in"</h1>
                    {move || login.value().get().and_then(Result::err).map(|e| view! { <ErrorBox error=e/> })}
                    <div class="space-y-1">
                        <label for="username" class="block text-sm font-medium text-slate-700">"Username"</label>
                        <input id="username" name="username" autocomplete="username" required class=input
                            prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev))/>
                    </div>
                    <div class="space-y-1">
                        <label for="password" class="block text-sm font-medium text-slate-700">"Password"</label>
                        <input id="password" name="password" type="password" autocomplete="current-password" required class=input
                            prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                    </div>
                    <button type="submit" class=format!("{BUTTON} w-full justify-center") disabled=move || login.pending().get()>
                        {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </form>
            </div>
        </div>
    }
}
