use domain::user::Password;
use leptos::prelude::*;

use crate::api;
use crate::components::{BUTTON, Card, ErrorBox, Field, PageHeader};
use crate::live::use_toasts;

#[component]
pub fn AccountPage() -> impl IntoView {
    let toasts = use_toasts();
    let change = ServerAction::<api::ChangePassword>::new();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let touched = RwSignal::new(false);
    let server_error = move |field: &str| {
        change
            .value()
            .get()
            .and_then(Result::err)
            .and_then(|e| e.field_error(field).map(str::to_owned))
    };
    let current_error = Signal::derive(move || {
        if touched.get() && current.get().is_empty() {
            Some("Enter your current password.".to_string())
        } else {
            server_error("current")
        }
    });
    let new_error = Signal::derive(move || {
        if touched.get() {
            Password::parse(&new.get())
                .err()
                .map(|e| e.message)
                .or_else(|| server_error("new"))
        } else {
            server_error("new")
        }
    });
    let repeat_error = Signal::derive(move || {
        (touched.get() && repeat.get() != new.get())
            .then(|| "The two new passwords differ.".to_string())
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = change.value().get() {
            toasts.success("Password changed. Your other sessions were signed out.");
            for s in [current, new, repeat] {
                s.set(String::new());
            }
            touched.set(false);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        touched.set(true);
        let ok = !current.get_untracked().is_empty()
            && Password::parse(&new.get_untracked()).is_ok()
            && new.get_untracked() == repeat.get_untracked();
        if ok {
            change.dispatch(api::ChangePassword {
                current: current.get_untracked(),
                new: new.get_untracked(),
            });
        }
    };
    view! {
        <PageHeader title="Account" subtitle="Your sign-in."/>
        <div class="max-w-lg">
            <Card title="Change password">
                <form class="space-y-4" on:submit=submit data-testid="change-password-form">
                    <Field label="Current password" name="current" kind="password" value=current error=current_error/>
                    <Field label="New password" name="new" kind="password" value=new error=new_error hint="At least 10 characters."/>
                    <Field label="Repeat the new password" name="repeat" kind="password" value=repeat error=repeat_error/>
                    {move || change.value().get().and_then(Result::err)
                        .filter(|e| e.field_error("current").is_none() && e.field_error("new").is_none())
                        .map(|e| view! { <ErrorBox error=e/> })}
                    <button type="submit" class=BUTTON disabled=move || change.pending().get()>"Change password"</button>
                </form>
            </Card>
        </div>
    }
}
