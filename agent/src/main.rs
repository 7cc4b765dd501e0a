//! flotilla-agent: enrols this node with a Flotilla panel and keeps it connected.
use std::path::PathBuf;
use std::process::ExitCode;

use agent::{Config, link};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "flotilla-agent",
    version,
    about = "The Flotilla node agent: dials out to the panel, reports this node and runs its commands.",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    helper: Option<Helper>,
    /// Panel URL the agent dials, e.g. https://panel.example:3100 (http:// only on a trusted
    /// network); several, comma-separated, for panel replicas: the agent moves to the next one
    /// when it loses the one it uses
    #[arg(long, env = "FLOTILLA_PANEL_URL")]
    panel: Option<String>,
    /// PEM file with the CA certificate(s) that signed the panel's certificate (https only);
    /// without it the system's trust store is used.
    #[arg(long, env = "FLOTILLA_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Enrolment key from the panel (only needed the first time).
    #[arg(long, env = "FLOTILLA_ENROLMENT_KEY", hide_env_values = true)]
    enrolment_key: Option<String>,
    /// Where the node identity (token, mode 0600) is kept.
    #[arg(
        long,
        env = "FLOTILLA_STATE_DIR",
        default_value = "/var/lib/flotilla-agent"
    )]
    state_dir: PathBuf,
    /// Docker Engine socket.
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    docker_host: String,
    /// File holding this machine's stable id.
    #[arg(
        long,
        env = "FLOTILLA_MACHINE_ID_FILE",
        default_value = "/etc/machine-id"
    )]
    machine_id_file: PathBuf,
    /// File holding the installed firmware version.
    #[arg(
        long,
        env = "FLOTILLA_FIRMWARE_VERSION_FILE",
        default_value = "/etc/flotilla/firmware-version"
    )]
    firmware_version_file: PathBuf,
    /// The A/B firmware installer (RAUC, SWUpdate, Mender style), called as `CMD install FILE`,
    /// `CMD reboot`, `CMD commit` and `CMD rollback`; without it firmware upgrades are refused.
    #[arg(long, env = "FLOTILLA_FIRMWARE_INSTALLER")]
    firmware_installer: Option<PathBuf>,
    /// Filesystem whose size and free space are reported.
    #[arg(long, env = "FLOTILLA_DISK_PATH", default_value = "/")]
    disk_path: PathBuf,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "FLOTILLA_LOG", default_value = "info")]
    log: String,
}

/// Helpers KeepAlived runs; not for interactive use.
#[derive(clap::Subcommand, Debug)]
enum Helper {
    /// Exit 0 when this node may hold a virtual IP (KeepAlived's track script).
    Health {
        #[arg(long, default_value = "unix:///var/run/docker.sock")]
        docker_host: String,
        /// Also require an active swarm membership.
        #[arg(long)]
        require_swarm: bool,
        /// Also require a local TCP port to accept connections.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Record a VRRP state change (KeepAlived's notify hook: TYPE NAME STATE PRIORITY).
    VipNotify {
        #[arg(long)]
        dir: PathBuf,
        #[arg(num_args = 0..)]
        event: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match args.helper {
        Some(Helper::Health {
            docker_host,
            require_swarm,
            port,
        }) => {
            return match agent::vip::healthy(&docker_host, require_swarm, port).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("unhealthy: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Helper::VipNotify { dir, event }) => {
            return match event.as_slice() {
                [_, name, state, ..] => match agent::vip::record_state(&dir, name, state) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("cannot record state: {e}");
                        ExitCode::FAILURE
                    }
                },
                _ => ExitCode::from(2),
            };
        }
        None => {}
    }
    let Some(panel_url) = args.panel else {
        eprintln!("flotilla-agent: --panel (or FLOTILLA_PANEL_URL) is required");
        return ExitCode::from(2);
    };
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log).unwrap_or_else(|_| "info".into()),
        )
        .init();
    let panel = match agent::endpoint::Panels::parse(&panel_url, args.ca_file.as_deref()) {
        Ok(p) => std::sync::Arc::new(p),
        Err(e) => {
            eprintln!("flotilla-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let config = Config {
        panel,
        enrolment_key: args.enrolment_key,
        state_dir: args.state_dir,
        docker_host: args.docker_host,
        machine_id_file: args.machine_id_file,
        firmware_version_file: args.firmware_version_file,
        firmware_installer: args.firmware_installer,
        disk_path: args.disk_path,
    };
    tracing::info!(version = agent::facts::AGENT_VERSION, panel = ?config.panel, state_dir = %config.state_dir.display(), "starting");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping");
        let _ = stop.send(true);
    });
    match link::run(&config, stopped).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "agent stopped");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
