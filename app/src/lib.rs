//! Flotilla's UI: routes, pages, components, and the server functions they call.
#![forbid(unsafe_code)]
// Deeply nested view types (without erase_components in release) need a higher limit.
#![recursion_limit = "256"]

pub mod api;
mod components;
mod forms;
mod lists;
mod live;
mod pages;
mod routes;
#[cfg(feature = "ssr")]
mod server;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{Lazy, SsrMode, path};

use components::Shell;
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // Without it browsers ask for /favicon.ico, which does not exist (a 404 per visit).
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body class="bg-slate-50 text-slate-900 antialiased">
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Set once the WASM took over the page, its lazily loaded route included (`routes::live`);
    // end-to-end tests wait for it.
    let hydrated = RwSignal::new(false);
    provide_context(routes::Hydrated(hydrated));
    view! {
        <Stylesheet id="leptos" href="/pkg/flotilla.css"/>
        <Title text="Flotilla"/>
        <div id="app" data-hydrated=move || hydrated.get().to_string()>
            <Router>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/login") view={Lazy::<routes::Login>::new()}/>
                    // Async SSR: the page waits for the session check, so a signed-out visitor
                    // gets a real redirect to /login instead of a flash of an empty shell.
                    <ParentRoute path=path!("") view=Shell ssr=SsrMode::Async>
                        <Route path=path!("") view={Lazy::<routes::Nodes>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/nodes") view={Lazy::<routes::Nodes>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/nodes/:id") view={Lazy::<routes::Node>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/clusters") view={Lazy::<routes::Clusters>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/clusters/new") view={Lazy::<routes::NewCluster>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/clusters/:id") view={Lazy::<routes::Cluster>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/clusters/:id/install") view={Lazy::<routes::Install>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/library") view={Lazy::<routes::Library>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/firmware") view={Lazy::<routes::Firmware>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/keys") view={Lazy::<routes::Keys>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/users") view={Lazy::<routes::Users>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/audit") view={Lazy::<routes::Audit>::new()} ssr=SsrMode::Async/>
                        <Route path=path!("/account") view={Lazy::<routes::Account>::new()} ssr=SsrMode::Async/>
                    </ParentRoute>
                </Routes>
            </Router>
        </div>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    routes::live();
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <div class="min-h-screen flex flex-col items-center justify-center gap-2">
            <h1 class="text-2xl font-semibold">"Page not found"</h1>
            <a class="text-sky-700 hover:underline" href="/nodes">"Back to nodes"</a>
        </div>
    }
}
