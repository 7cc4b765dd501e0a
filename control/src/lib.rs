//! Flotilla's control plane (native only).
//!
//! * [`store`]: sqlx persistence and migrations.
//! * [`auth`]: users, roles, sessions, password hashing, login throttling.
//! * [`enrolment`]: enrolment keys and the key → node identity exchange.
//! * [`gateway`]: agent sessions, presence, command dispatch and what agents observe.
//! * [`nodes`]: node queries and commands for the UI.
//! * [`workflow`]: the engine every long operation runs on.
//! * [`clusters`]: Docker Swarm clusters with virtual IPs (a capability on the engine).
//! * [`config`]: a cluster's Global Config (versioned, kept on every member node) and Global
//!   Secrets (sealed at rest).
//! * [`workloads`]: the library of apps and models, installed on clusters as Swarm services.
//! * [`audit`]: the audit log, paged and searched.
//! * [`replicas`]: several panel processes on one PostgreSQL (presence, observations, commands
//!   and browser events shared through it).
//! * [`events`]: change notifications for open browsers.
//!
//! [`Panel`] bundles them; the server builds one and hands it to every request.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod clusters;
pub mod config;
pub mod enrolment;
pub mod error;
pub mod events;
pub mod firmware;
pub mod gateway;
pub mod nodes;
pub mod replicas;
pub mod secret;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod vault;
pub mod volumes;
pub mod workflow;
pub mod workloads;

use std::time::Duration;

pub use error::ControlError;

/// How long a shutdown waits for the agent sessions to end before it writes the last-seen times
/// and closes the store.
const SESSIONS_END: Duration = Duration::from_secs(10);

/// Tunables of the control plane.
#[derive(Clone, Debug)]
pub struct PanelConfig {
    pub database_url: String,
    pub heartbeat: Duration,
    pub session_ttl: Duration,
    /// The master key for secrets at rest (created on first start, mode 0600).
    pub key_file: std::path::PathBuf,
    /// Mark session cookies Secure (the panel is served over HTTPS).
    pub secure_cookies: bool,
    /// The panel as agents reach it, e.g. `https://panel.example:3100`.
    pub agent_url: String,
    /// The workflow engine's lease and retry timing.
    pub workflow: workflow::Timing,
    /// Where firmware artifacts are kept, and the largest one accepted.
    pub firmware_dir: std::path::PathBuf,
    pub firmware_max_bytes: u64,
}

#[derive(Clone)]
pub struct Panel {
    pub store: store::Store,
    pub events: events::Events,
    pub audit: audit::Audit,
    pub auth: auth::Auth,
    pub enrolment: enrolment::Enrolment,
    pub gateway: gateway::Gateway,
    pub nodes: nodes::Nodes,
    pub clusters: clusters::Clusters,
    pub engine: workflow::Engine,
    pub workloads: workloads::Workloads,
    pub firmware: firmware::Firmware,
    pub configs: config::Configs,
    /// The other panel processes on the same PostgreSQL (`None` on SQLite).
    pub replicas: Option<replicas::Replicas>,
}

impl Panel {
    /// Opens the store (applying migrations) and wires the services.
    pub async fn open(config: &PanelConfig) -> Result<Self, ControlError> {
        let store = store::Store::open(&config.database_url).await?;
        let events = events::Events::new();
        let vault = vault::Vault::open_or_create(&config.key_file)?;
        let replicas = replicas::Replicas::join(&store, &vault, &config.database_url).await?;
        let observed = gateway::Observed::default();
        let gateway = gateway::Gateway::new(
            store.clone(),
            events.clone(),
            observed.clone(),
            config.heartbeat,
            replicas.clone(),
        );
        let engine = workflow::Engine::new(store.clone(), events.clone(), config.workflow);
        let firmware = firmware::Firmware::open(
            store.clone(),
            events.clone(),
            (gateway.clone(), observed.clone()),
            engine.clone(),
            &vault,
            (config.firmware_dir.clone(), config.firmware_max_bytes),
        )
        .await?;
        let clusters = clusters::Clusters::new(
            store.clone(),
            gateway.clone(),
            observed.clone(),
            engine.clone(),
            events.clone(),
            vault.clone(),
        );
        let configs = config::Configs::new(
            store.clone(),
            (gateway.clone(), observed.clone()),
            events.clone(),
            vault.clone(),
            engine.clone(),
        );
        if let Some(r) = &replicas {
            r.start(&gateway, &observed, &events);
        }
        Ok(Self {
            configs,
            replicas,
            workloads: workloads::Workloads::new(
                store.clone(),
                events.clone(),
                gateway.clone(),
                observed,
                engine.clone(),
                vault,
            ),
            clusters,
            engine,
            audit: audit::Audit::new(store.clone()),
            auth: auth::Auth::new(
                store.clone(),
                events.clone(),
                config.session_ttl.as_millis() as i64,
                config.secure_cookies,
            ),
            enrolment: enrolment::Enrolment::new(
                store.clone(),
                events.clone(),
                gateway.clone(),
                config.agent_url.clone(),
                firmware.public_key(),
            ),
            firmware,
            nodes: nodes::Nodes::new(store.clone(), gateway.clone(), events.clone()),
            gateway,
            events,
            store,
        })
    }

    /// Starts presence sweeping, last-seen flushing, hourly session purging, the takeover of
    /// workflows whose driver died, the Global Config's delivery to nodes and the async
    /// volumes' failover.
    pub fn spawn_background(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let auth = self.auth.clone();
        let purge = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                match auth.purge_expired_sessions().await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "expired sessions purged"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %error::chain(&e), "session purge failed"),
                }
            }
        });
        vec![
            self.gateway.spawn_maintenance(),
            purge,
            self.engine.spawn_takeover(),
            self.configs.spawn_sync(),
            volumes::failover::Failover::new(
                self.store.clone(),
                self.gateway.clone(),
                self.engine.clone(),
            )
            .spawn(),
        ]
    }

    /// Persists in-memory state and closes the store (graceful shutdown).
    /// Stops in order: agent sessions end (their last-seen times kept), workflows are
    /// released, every last-seen time is written in one transaction, then the store closes.
    pub async fn shutdown(&self) {
        self.gateway.close_all();
        let left = self.gateway.sessions_ended(SESSIONS_END).await;
        if left > 0 {
            tracing::warn!(sessions = left, "agent sessions still open at shutdown");
        }
        self.engine.release_all().await;
        if let Err(e) = self.gateway.flush().await {
            tracing::error!(error = %error::chain(&e), "final last-seen flush failed");
        }
        if let Some(r) = &self.replicas {
            r.leave().await;
        }
        self.store.close().await;
    }
}
