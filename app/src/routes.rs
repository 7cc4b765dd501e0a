//! The lazy routes: each page is a route whose code is its own WASM chunk, loaded the first time
//! the page is opened (and preloaded by the server for the page it renders). The first load needs
//! the main module and the chunks of one page, not every page of the panel.
//!
//! `./dev build` splits the WASM at these points (tools/wasm-split); on the server a lazy view is
//! an ordinary function that names the modules to preload for the page it renders.
use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

use crate::pages;

/// Whether the page is live: the WASM hydrated it, its route included.
#[derive(Clone, Copy)]
pub struct Hydrated(pub RwSignal<bool>);

/// Marks the page live once the view being built has hydrated (effects run after it). A route's
/// code arrives after the main module's, so `App` alone cannot tell.
pub fn live() {
    if let Some(Hydrated(flag)) = use_context::<Hydrated>() {
        Effect::new(move |_| flag.set(true));
    }
}

/// A route type for a page component, loaded lazily.
macro_rules! lazy_page {
    ($route:ident => $page:path) => {
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                let page = $page().into_any();
                live();
                page
            }
        }
    };
}

lazy_page!(Login => pages::login::LoginPage);
lazy_page!(Nodes => pages::nodes::NodesPage);
lazy_page!(Node => pages::nodes::detail::NodePage);
lazy_page!(Clusters => pages::clusters::ClustersPage);
lazy_page!(NewCluster => pages::clusters::new::NewClusterPage);
lazy_page!(Cluster => pages::clusters::detail::ClusterPage);
lazy_page!(Install => pages::workloads::install::InstallPage);
lazy_page!(Library => pages::workloads::library::LibraryPage);
lazy_page!(Firmware => pages::firmware::FirmwarePage);
lazy_page!(Keys => pages::keys::KeysPage);
lazy_page!(Users => pages::users::UsersPage);
lazy_page!(Audit => pages::audit::AuditPage);
lazy_page!(Account => pages::account::AccountPage);
