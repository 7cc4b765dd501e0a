//! What the agent does for each command of the panel: the one place where a command meets the
//! node's adapters (Docker engine, KeepAlived, firmware installer, HTTP checks, the Global
//! Config file, cluster volumes).
use std::path::Path;
use std::time::Duration;

use domain::protocol::{Command, MAX_LOG_LINES, Outcome, Reply};

use crate::docker::{Engine, EngineError};
use crate::facts;
use crate::firmware::Firmware;
use crate::vip::Keepalived;

fn firmware_outcome(r: Result<domain::firmware::FirmwareState, String>) -> Outcome {
    match r {
        Ok(state) => Outcome::Done {
            reply: Reply::Firmware(state),
        },
        Err(message) => Outcome::Failed { message },
    }
}

/// Runs one command. Returns its outcome and whether the node's facts may have changed.
pub async fn execute(
    engine: &Engine,
    vips: &Keepalived,
    firmware: &Firmware,
    state_dir: &Path,
    command: &Command,
) -> (Outcome, bool) {
    let failed = |message: String| Outcome::Failed { message };
    let member = |r: Result<domain::protocol::SwarmMember, EngineError>| match r {
        Ok(m) => Outcome::Done {
            reply: Reply::Member(m),
        },
        Err(e) => failed(e.to_string()),
    };
    let done = |r: Result<(), EngineError>| match r {
        Ok(()) => Outcome::DONE,
        Err(e) => failed(e.to_string()),
    };
    match command {
        Command::RefreshFacts => (Outcome::DONE, true),
        Command::FirmwareInstall(signed) => {
            (firmware_outcome(firmware.install(signed).await), true)
        }
        Command::FirmwareReboot { trial_secs } => {
            (firmware_outcome(firmware.reboot(*trial_secs).await), true)
        }
        Command::FirmwareCommit => (firmware_outcome(firmware.commit().await), true),
        Command::FirmwareRollback { reason } => {
            (firmware_outcome(firmware.rollback(reason).await), true)
        }
        Command::SwarmInit(req) => match facts::interface_address(&req.interface) {
            Ok(ip) => (member(engine.init(req, ip).await), true),
            Err(e) => (failed(e), false),
        },
        Command::SwarmJoin(req) => match facts::interface_address(&req.interface) {
            Ok(ip) => (member(engine.join(req, ip).await), true),
            Err(e) => (failed(e), false),
        },
        Command::SwarmLeave { force } => (done(engine.leave(*force).await), true),
        Command::NodeUpdate(req) => (done(engine.update_node(req).await), false),
        Command::SwarmHeartbeat { secs } => (done(engine.set_heartbeat(*secs).await), false),
        Command::NodeRemove { swarm_node_id } => {
            (done(engine.remove_node(swarm_node_id).await), false)
        }
        Command::JoinTokens { rotate } => match engine.join_tokens(*rotate).await {
            Ok(t) => (
                Outcome::Done {
                    reply: Reply::Tokens(t),
                },
                false,
            ),
            Err(e) => (failed(e.to_string()), false),
        },
        Command::VipOffset { value } => match vips.set_offset(*value) {
            Ok(()) => (Outcome::DONE, false),
            Err(message) => (failed(message), false),
        },
        Command::Vips(cfg) => match vips.apply(cfg).await {
            Ok(()) => (Outcome::DONE, false),
            Err(message) => (failed(message), false),
        },
        Command::NetworkCreate(req) => (done(engine.create_network(req).await), true),
        Command::NetworkRemove { name } => (done(engine.remove_network(name).await), true),
        Command::StackObjects(objects) => {
            match crate::storage::make_dirs(&objects.volume_dirs).await {
                Ok(()) => (done(engine.stack_objects(objects).await), true),
                Err(message) => (failed(message), false),
            }
        }
        Command::ServiceApply(spec) => (done(engine.apply_service(spec).await), true),
        Command::RegistryLogin(auth) => (done(engine.login(auth).await), false),
        Command::StackRemove { stack } => (done(engine.remove_stack(stack).await), true),
        Command::ServiceRemove { name } => (done(engine.remove_service(name).await), true),
        Command::SwarmObjectRemove { kind, name } => {
            (done(engine.remove_object(*kind, name).await), true)
        }
        Command::SecretsPrune { keep } => (
            done(engine.prune_global_secrets(keep).await.map(|removed| {
                if !removed.is_empty() {
                    tracing::info!(?removed, "removed unused Global Secret versions");
                }
            })),
            true,
        ),
        Command::HttpCheck {
            url,
            status,
            timeout_secs,
        } => {
            let timeout = Duration::from_secs(u64::from(*timeout_secs));
            match crate::firmware::gate::http_check(url, *status, timeout).await {
                Ok(()) => (Outcome::DONE, false),
                Err(message) => (failed(message), false),
            }
        }
        Command::GlobalConfig {
            cluster_id,
            version,
            document,
        } => {
            let held = domain::config::global::HeldConfig {
                cluster_id: cluster_id.clone(),
                version: *version,
            };
            match crate::appconfig::write(engine, state_dir, &held, document).await {
                Ok(()) => (Outcome::DONE, true),
                Err(message) => (failed(message), false),
            }
        }
        Command::Storage(command) => {
            match crate::storage::execute(command, state_dir, engine).await {
                Ok(()) => (Outcome::DONE, true),
                Err(message) => (failed(message), true),
            }
        }
        Command::ServiceLogs { name, tail } => {
            match engine.service_logs(name, (*tail).min(MAX_LOG_LINES)).await {
                Ok(lines) => (
                    Outcome::Done {
                        reply: Reply::Logs { lines },
                    },
                    false,
                ),
                Err(e) => (failed(e.to_string()), false),
            }
        }
    }
}
