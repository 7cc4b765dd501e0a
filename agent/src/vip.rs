//! Virtual IPs: renders KeepAlived's configuration, runs and supervises KeepAlived in this node's
//! network namespace, and observes which VIPs this node holds.
//!
//! Files live in `<state dir>/keepalived/`: `keepalived.conf`, `desired.json` (the last applied
//! [`VipConfig`], so a restarted agent keeps supervising without the panel), pid files, the log,
//! and `<instance>.state` written by the notify hook (`flotilla-agent vip-notify`). The health
//! check is `flotilla-agent health`: the engine answers and this node is an active swarm member
//! (and, optionally, a local TCP port accepts connections).
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::protocol::{VipConfig, VipInstance, VipObservation, VrrpState};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub struct Keepalived {
    /// Serialises starts, reloads and stops between `apply` and the supervisor.
    lifecycle: std::sync::Mutex<()>,
    dir: PathBuf,
    agent_exe: PathBuf,
    docker_host: String,
    router_id: String,
}

impl Keepalived {
    pub fn new(state_dir: &Path, docker_host: &str, router_id: &str) -> Self {
        let agent_exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("flotilla-agent"));
        Self {
            lifecycle: std::sync::Mutex::new(()),
            dir: state_dir.join("keepalived"),
            agent_exe,
            docker_host: docker_host.to_owned(),
            router_id: router_id.to_owned(),
        }
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("keepalived.conf")
    }
    fn desired(&self) -> PathBuf {
        self.dir.join("desired.json")
    }
    fn pidfile(&self) -> PathBuf {
        self.dir.join("keepalived.pid")
    }

    /// The configuration last applied, if any.
    pub fn desired_config(&self) -> Option<VipConfig> {
        std::fs::read_to_string(self.desired())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    }

    /// Applies `config`: validates it with `keepalived -t`, writes it, and starts KeepAlived or
    /// reloads it (SIGHUP) when it changed. An empty config stops KeepAlived.
    pub async fn apply(&self, config: &VipConfig) -> Result<(), String> {
        if config.instances.is_empty() {
            return self.stop().await;
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let text = render(
            config,
            &self.router_id,
            &self.agent_exe,
            &self.docker_host,
            &self.dir,
        );
        let candidate = self.dir.join("keepalived.conf.new");
        std::fs::write(&candidate, &text).map_err(|e| e.to_string())?;
        let test = tokio::process::Command::new("keepalived")
            .arg("-t")
            .arg("-f")
            .arg(&candidate)
            .output()
            .await
            .map_err(|e| format!("cannot run keepalived: {e}"))?;
        if !test.status.success() {
            let detail = String::from_utf8_lossy(&test.stderr);
            return Err(format!(
                "KeepAlived refused the configuration: {}",
                detail.trim()
            ));
        }
        let _guard = self.lock();
        let changed = std::fs::read_to_string(self.conf()).ok().as_deref() != Some(text.as_str());
        std::fs::rename(&candidate, self.conf()).map_err(|e| e.to_string())?;
        std::fs::write(
            self.desired(),
            serde_json::to_vec(config).unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        match self.running_pid() {
            Some(pid) if changed => {
                kill(pid, Signal::SIGHUP).map_err(|e| format!("reload keepalived: {e}"))
            }
            Some(_) => Ok(()),
            None => self.start(),
        }
    }

    /// Starts KeepAlived if a configuration exists and it is not running (supervision). A
    /// KeepAlived that died without cleaning up may have left a VIP on an interface: it is
    /// removed first, so two nodes never answer for the same address.
    pub fn ensure_running(&self) -> Result<(), String> {
        let _guard = self.lock();
        if !self.conf().exists() || self.running_pid().is_some() {
            return Ok(());
        }
        tracing::warn!("keepalived is not running; starting it");
        if let Some(config) = self.desired_config() {
            let held: Vec<(String, String)> = crate::facts::interfaces()
                .map(|ifs| {
                    ifs.into_iter()
                        .flat_map(|i| i.addresses.into_iter().map(move |a| (i.name.clone(), a)))
                        .collect()
                })
                .unwrap_or_default();
            for inst in &config.instances {
                for (dev, _) in held.iter().filter(|(_, a)| *a == inst.address) {
                    let removed = std::process::Command::new("ip")
                        .args(["addr", "del", &inst.address, "dev", dev])
                        .status();
                    tracing::warn!(address = %inst.address, dev = %dev, ok = removed.map(|s| s.success()).unwrap_or(false), "removed a VIP left behind");
                }
            }
        }
        self.start()
    }

    fn start(&self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("keepalived.log"))
            .map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        // -n: stay in the foreground (we hold the pid); -P: VRRP only; -l -G: log to our file.
        // tokio reaps the child when it exits (no zombie keeps its pid "alive").
        tokio::process::Command::new("keepalived")
            .args(["-n", "-P", "-l", "-D", "-G", "-f"])
            .arg(self.conf())
            .arg("-p")
            .arg(self.pidfile())
            .arg("-r")
            .arg(self.dir.join("vrrp.pid"))
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start keepalived: {e}"))?;
        tracing::info!(conf = %self.conf().display(), "keepalived started");
        Ok(())
    }

    /// Stops KeepAlived (it releases its VIPs) and forgets the configuration.
    pub async fn stop(&self) -> Result<(), String> {
        // Without a configuration the supervisor no longer restarts it.
        let pid = {
            let _guard = self.lock();
            let _ = std::fs::remove_file(self.conf());
            self.running_pid()
        };
        if let Some(pid) = pid {
            let _ = kill(pid, Signal::SIGTERM);
            for _ in 0..50 {
                if kill(pid, None).is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if kill(pid, None).is_ok() {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("{}: {e}", self.dir.display()))
            }
            _ => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lifecycle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn running_pid(&self) -> Option<Pid> {
        let pid: i32 = std::fs::read_to_string(self.pidfile())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let pid = Pid::from_raw(pid);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // "<pid> (comm) <state> …": a zombie (Z) or another program is not our KeepAlived.
        let alive = stat.contains("(keepalived) ") && !stat.contains("(keepalived) Z");
        (kill(pid, None).is_ok() && alive).then_some(pid)
    }

    /// What KeepAlived says of each VIP and whether this node holds it right now.
    pub fn observe(&self) -> Vec<VipObservation> {
        let Some(config) = self.desired_config() else {
            return vec![];
        };
        let running = self.running_pid().is_some();
        let held: Vec<String> = crate::facts::interfaces()
            .map(|ifs| ifs.into_iter().flat_map(|i| i.addresses).collect())
            .unwrap_or_default();
        config
            .instances
            .iter()
            .map(|i| {
                let state = if running {
                    std::fs::read_to_string(self.dir.join(format!("{}.state", instance_name(i))))
                        .map(|s| parse_state(s.trim()))
                        .unwrap_or(VrrpState::Unknown)
                } else {
                    VrrpState::Stopped
                };
                VipObservation {
                    address: i.address.clone(),
                    vrid: i.vrid,
                    state,
                    holds: held.contains(&i.address),
                }
            })
            .collect()
    }
}

pub fn instance_name(i: &VipInstance) -> String {
    format!("flotilla_vrid_{}", i.vrid)
}

pub fn parse_state(s: &str) -> VrrpState {
    match s {
        "MASTER" => VrrpState::Master,
        "BACKUP" => VrrpState::Backup,
        "FAULT" => VrrpState::Fault,
        "STOP" => VrrpState::Stopped,
        _ => VrrpState::Unknown,
    }
}

/// The notify hook: `flotilla-agent vip-notify --dir DIR TYPE NAME STATE PRIORITY`.
pub fn record_state(dir: &Path, name: &str, state: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.state.tmp"));
    std::fs::write(&tmp, state)?;
    std::fs::rename(tmp, dir.join(format!("{name}.state")))
}

/// Renders keepalived.conf: VRRPv3, sub-second adverts, equal base priorities (the panel can
/// steer later), a health script with `init_fail` so a booting node never grabs a VIP early, and
/// the notify hook.
pub fn render(
    config: &VipConfig,
    router_id: &str,
    agent_exe: &Path,
    docker_host: &str,
    dir: &Path,
) -> String {
    let mut out = String::new();
    let exe = agent_exe.display();
    let advert = format!("{}.{:02}", config.advert_cs / 100, config.advert_cs % 100);
    let _ = writeln!(out, "# Written by flotilla-agent; changes are overwritten.");
    let _ = writeln!(out, "global_defs {{");
    let _ = writeln!(out, "  router_id {router_id}");
    let _ = writeln!(out, "  vrrp_version 3");
    let _ = writeln!(out, "  script_user root");
    // Scripts run as root only from paths no other user can write (install the agent accordingly).
    let _ = writeln!(out, "  enable_script_security");
    let _ = writeln!(out, "  vrrp_garp_master_delay 1");
    let _ = writeln!(out, "  vrrp_garp_master_repeat 3");
    let _ = writeln!(out, "  vrrp_higher_prio_send_advert true");
    let _ = writeln!(out, "}}");
    let mut ports: Vec<Option<u16>> = config.instances.iter().map(|i| i.track_port).collect();
    ports.sort();
    ports.dedup();
    for port in &ports {
        let mut script = format!("{exe} health --docker-host {docker_host}");
        if config.require_swarm {
            script.push_str(" --require-swarm");
        }
        if let Some(p) = port {
            let _ = write!(script, " --port {p}");
        }
        let _ = writeln!(out, "vrrp_script {} {{", script_name(*port));
        let _ = writeln!(out, "  script \"{script}\"");
        let _ = writeln!(
            out,
            "  interval 1\n  timeout 1\n  fall 2\n  rise 2\n  init_fail"
        );
        let _ = writeln!(out, "}}");
    }
    for i in &config.instances {
        let _ = writeln!(out, "vrrp_instance {} {{", instance_name(i));
        let _ = writeln!(out, "  state BACKUP");
        let _ = writeln!(out, "  interface {}", i.interface);
        let _ = writeln!(out, "  virtual_router_id {}", i.vrid);
        let _ = writeln!(out, "  priority {}", i.priority);
        let _ = writeln!(out, "  advert_int {advert}");
        if !i.unicast_peers.is_empty() {
            let _ = writeln!(out, "  unicast_peer {{");
            for p in &i.unicast_peers {
                let _ = writeln!(out, "    {p}");
            }
            let _ = writeln!(out, "  }}");
            let _ = writeln!(out, "  unicast_fault_no_peer");
        }
        let _ = writeln!(
            out,
            "  virtual_ipaddress {{\n    {} dev {}\n  }}",
            i.address, i.interface
        );
        let _ = writeln!(
            out,
            "  track_script {{\n    {}\n  }}",
            script_name(i.track_port)
        );
        let _ = writeln!(out, "  notify \"{exe} vip-notify --dir {}\"", dir.display());
        let _ = writeln!(out, "}}");
    }
    out
}

fn script_name(port: Option<u16>) -> String {
    match port {
        Some(p) => format!("flotilla_health_port_{p}"),
        None => "flotilla_health".into(),
    }
}

/// The health check behind the track script.
pub async fn healthy(
    docker_host: &str,
    require_swarm: bool,
    port: Option<u16>,
) -> Result<(), String> {
    crate::docker::vip_health(docker_host, require_swarm).await?;
    if let Some(p) = port {
        let connect = tokio::net::TcpStream::connect(("127.0.0.1", p));
        tokio::time::timeout(Duration::from_millis(300), connect)
            .await
            .map_err(|_| format!("port {p} did not answer in time"))?
            .map_err(|e| format!("port {p}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> VipConfig {
        VipConfig {
            instances: vec![VipInstance {
                address: "10.77.0.100/24".into(),
                interface: "eth0".into(),
                vrid: 51,
                priority: 100,
                unicast_peers: vec![],
                track_port: None,
            }],
            advert_cs: 10,
            require_swarm: true,
        }
    }

    #[test]
    fn renders_a_vrrp3_instance_with_health_and_notify() {
        let text = render(
            &config(),
            "edge-1",
            Path::new("/usr/bin/flotilla-agent"),
            "unix:///run/docker.sock",
            Path::new("/var/lib/fa/keepalived"),
        );
        for want in [
            "vrrp_version 3",
            "vrrp_instance flotilla_vrid_51 {",
            "virtual_router_id 51",
            "advert_int 0.10",
            "10.77.0.100/24 dev eth0",
            "script \"/usr/bin/flotilla-agent health --docker-host unix:///run/docker.sock --require-swarm\"",
            "init_fail",
            "notify \"/usr/bin/flotilla-agent vip-notify --dir /var/lib/fa/keepalived\"",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("unicast_peer"));
    }

    #[test]
    fn unicast_peers_and_track_ports() {
        let mut c = config();
        c.instances[0].unicast_peers = vec!["10.77.0.12".into(), "10.77.0.13".into()];
        c.instances[0].track_port = Some(8080);
        c.advert_cs = 150;
        let text = render(&c, "edge-1", Path::new("/a"), "unix:///s", Path::new("/d"));
        assert!(
            text.contains("unicast_peer {\n    10.77.0.12\n    10.77.0.13\n  }"),
            "{text}"
        );
        assert!(text.contains("--port 8080") && text.contains("flotilla_health_port_8080"));
        assert!(text.contains("advert_int 1.50"));
    }

    #[test]
    fn notify_states_round_trip() {
        let dir = tempfile::tempdir().expect("dir");
        record_state(dir.path(), "flotilla_vrid_51", "MASTER").expect("write");
        let s = std::fs::read_to_string(dir.path().join("flotilla_vrid_51.state")).expect("read");
        assert_eq!(parse_state(&s), VrrpState::Master);
        assert_eq!(parse_state("weird"), VrrpState::Unknown);
    }
}
