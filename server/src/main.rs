use std::process::ExitCode;

use clap::Parser;
use server::{Args, Settings, launch};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let leptos = match leptos::config::get_configuration(None) {
        Ok(conf) => conf.leptos_options,
        Err(e) => {
            eprintln!("flotilla-panel: invalid Leptos configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = match Settings::resolve(args, leptos.site_addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flotilla-panel: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&settings.log).unwrap_or_else(|_| "info".into()),
        )
        .init();
    tracing::info!(?settings, "starting");
    raise_file_limit(settings.max_connections);
    if let Err(e) = settings.prepare_data_dir() {
        tracing::error!(dir = %settings.data_dir.display(), error = %e, "cannot create the data directory");
        return ExitCode::FAILURE;
    }
    let listener = match tokio::net::TcpListener::bind(settings.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %settings.listen, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let agent_listener = match settings.agent_listen {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::error!(addr = %addr, error = %e, "cannot listen for agents");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    match launch(
        settings,
        leptos,
        listener,
        agent_listener,
        shutdown_signal(),
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %control::error::chain(&e), "panel failed");
            ExitCode::FAILURE
        }
    }
}

/// Every connection is a file descriptor: lift the soft limit (often 1024) towards the hard one,
/// so `max_connections` (on two listeners) can actually be reached.
fn raise_file_limit(max_connections: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let want = (2 * max_connections as u64).saturating_add(256);
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < want => {
            let new = want.min(hard);
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, new, hard) {
                tracing::warn!(error = %e, "cannot raise the open-file limit");
            } else if new < want {
                tracing::warn!(
                    limit = new,
                    max_connections,
                    "the open-file limit caps connections below max_connections"
                );
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open-file limit"),
    }
}

async fn shutdown_signal() {
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
