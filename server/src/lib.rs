//! The Flotilla panel's composition root: settings, tracing, the store, the router (Leptos pages
//! and server functions, the agent endpoints, server-sent events, `/healthz`) and graceful
//! shutdown. [`launch`] takes already-bound listeners and a shutdown future, so tests run the real
//! server on port 0.
#![forbid(unsafe_code)]

mod agents;
mod firmware;
mod guard;
mod limit;
mod serve;
pub mod settings;
mod sse;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use app::{App, shell};
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use control::{Panel, PanelConfig};
use leptos::config::LeptosOptions;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub use guard::TrustedProxies;
pub use settings::{Args, Settings};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub panel: Panel,
    /// Turns true when the panel is shutting down; long-lived streams end on it.
    pub stopping: watch::Receiver<bool>,
    pub agent_limits: Arc<limit::AgentLimits>,
    pub proxies: TrustedProxies,
    pub tls: guard::Tls,
}

/// Largest request body the UI accepts (server-function arguments are small).
const BODY_LIMIT: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the store: {0}")]
    Store(#[source] control::ControlError),
    #[error("cannot create the first Administrator: {0}")]
    Bootstrap(#[source] control::ControlError),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("server I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The UI router: pages, server functions, events, health and (also here) the agent endpoints.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let panel = state.panel.clone();
    let context = move || {
        provide_context(panel.clone());
        provide_csp_nonce();
    };
    let options = state.leptos_options.clone();
    // The WASM, JS and CSS, as `./dev build` pre-compressed them (brotli, gzip) when the browser
    // takes them, else as they are; revalidated by their modification time.
    let pkg = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let static_files = ServeDir::new(pkg).precompressed_br().precompressed_gzip();
    Router::new()
        .route("/healthz", get(healthz))
        .nest_service(&format!("/{}", options.site_pkg_dir), static_files)
        .route(domain::event::UiEvent::SSE_PATH, get(sse::events))
        .route(firmware::UPLOAD_PATH, axum::routing::post(firmware::upload))
        .merge(agents::routes())
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn(guard::client_errors))
        .layer(from_fn(guard::same_origin))
        .layer(from_fn_with_state(state.tls, guard::security_headers))
        .layer(from_fn_with_state(
            state.proxies.clone(),
            guard::client_addr,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The agent-only router for a separate listener (e.g. on the edge network).
pub fn agent_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(agents::routes())
        .layer(from_fn_with_state(
            state.proxies.clone(),
            guard::client_addr,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Hands the response's CSP nonce (made by [`guard::security_headers`]) to Leptos, so the
/// hydration scripts it renders carry the nonce the header allows.
fn provide_csp_nonce() {
    if let Some(parts) = use_context::<http::request::Parts>()
        && let Some(guard::CspNonce(nonce)) = parts.extensions.get::<guard::CspNonce>()
    {
        provide_context(leptos::nonce::Nonce::from_value(nonce.clone()));
    }
}

async fn healthz(State(panel): State<Panel>) -> impl IntoResponse {
    match panel.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!(error = %control::error::chain(&e), "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "store unavailable" })),
            )
        }
    }
}

/// Opens the store, bootstraps the first Administrator, serves until `shutdown` resolves, then
/// closes agent sessions and event streams, drains requests and flushes state.
pub async fn launch(
    settings: Settings,
    leptos_options: LeptosOptions,
    listener: TcpListener,
    agent_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let tls = settings.tls.as_ref().map(tls::acceptor).transpose()?;
    let panel = Panel::open(&PanelConfig {
        database_url: settings.database_url.clone(),
        heartbeat: settings.heartbeat,
        session_ttl: settings.session_ttl,
        secure_cookies: settings.secure_cookies,
        agent_url: settings.agent_url.clone(),
        key_file: settings.key_file.clone(),
        workflow: control::workflow::Timing::default(),
        firmware_dir: settings.data_dir.join("firmware"),
        firmware_max_bytes: settings.firmware_max_bytes,
    })
    .await
    .map_err(ServerError::Store)?;
    if let Some(password) = panel
        .auth
        .bootstrap_admin(settings.admin_password.as_deref())
        .await
        .map_err(ServerError::Bootstrap)?
    {
        // Printed once, to the console only (not through the log pipeline).
        println!(
            "\n  First start: created the Administrator \"admin\" with password: {password}\n  Change it after signing in; it is not shown again.\n"
        );
    }
    let background = panel.spawn_background();
    match panel.engine.start().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(workflows = n, "resumed interrupted workflows"),
        Err(e) => tracing::error!(error = %control::error::chain(&e), "cannot resume workflows"),
    }
    let (stop, stopping) = watch::channel(false);
    let state = AppState {
        leptos_options,
        panel: panel.clone(),
        stopping: stopping.clone(),
        agent_limits: Arc::default(),
        proxies: TrustedProxies(settings.trusted_proxies.clone()),
        tls: guard::Tls(tls.is_some()),
    };
    let limits = serve::Limits {
        max_connections: settings.max_connections,
        header_read_timeout: serve::HEADER_READ_TIMEOUT,
    };

    let gateway = panel.gateway.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: closing agent sessions and event streams");
        let _ = stop.send(true);
        gateway.close_all();
    });

    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %listener.local_addr()?, scheme, "panel listening");
    let listener = tls::PanelListener::new(listener, tls.clone())?;
    let ui = serve::serve(listener, router(state.clone()), limits, stopping.clone());
    let result = match agent_listener {
        Some(agent_listener) => {
            tracing::info!(addr = %agent_listener.local_addr()?, scheme, "agent endpoint listening");
            let agent_listener = tls::PanelListener::new(agent_listener, tls)?;
            let agents = serve::serve(agent_listener, agent_router(state), limits, stopping);
            tokio::try_join!(ui, agents).map(|_| ())
        }
        None => ui.await,
    };
    for task in background {
        task.abort();
    }
    panel.shutdown().await;
    tracing::info!("stopped");
    result.map_err(ServerError::Io)
}
