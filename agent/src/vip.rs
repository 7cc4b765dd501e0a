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
        prepare_network(config, self.desired_config().as_ref());
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
                for (dev, _) in held
                    .iter()
                    .filter(|(d, a)| *a == inst.address && *d == inst.interface)
                {
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
            if let Some(config) = self.desired_config() {
                prepare_network(
                    &VipConfig {
                        instances: vec![],
                        ..config.clone()
                    },
                    Some(&config),
                );
            }
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

    /// Sets this node's VRRP offset, KeepAlived's track file: 0 normally, +50 to make this node
    /// the hand-off target (it preempts the holder, make-before-break), −254 to fence it (FAULT:
    /// it cannot become master). The file outlives restarts and reboots; KeepAlived notices the
    /// change by itself (no reload).
    pub fn set_offset(&self, value: i16) -> Result<(), String> {
        if !(-254..=254).contains(&value) {
            return Err(format!("offset {value} is outside -254..254"));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let path = self.dir.join(OFFSET_FILE);
        // Written in place: KeepAlived watches the file itself.
        std::fs::write(&path, format!("{value}\n")).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The offset in force (0 when never set).
    pub fn offset(&self) -> i16 {
        std::fs::read_to_string(self.dir.join(OFFSET_FILE))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    /// What KeepAlived says of each VIP and whether this node holds it right now.
    pub fn observe(&self) -> Vec<VipObservation> {
        let Some(config) = self.desired_config() else {
            return vec![];
        };
        let running = self.running_pid().is_some();
        let offset = self.offset();
        let held: Vec<(String, String)> = crate::facts::interfaces()
            .map(|ifs| {
                ifs.into_iter()
                    .flat_map(|i| i.addresses.into_iter().map(move |a| (i.name.clone(), a)))
                    .collect()
            })
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
                    // On its interface: every node also has it on `lo` (see prepare_network).
                    holds: held
                        .iter()
                        .any(|(dev, a)| *dev == i.interface && *a == i.address),
                    offset,
                }
            })
            .collect()
    }
}

/// The track file KeepAlived adds to every instance's priority (see [`Keepalived::set_offset`]).
const OFFSET_FILE: &str = "vip-offset";

/// Puts every VIP of `config` on `lo` as a /32, with `arp_ignore=1` and `arp_announce=2`, and takes
/// those of `previous` that are gone off again. Only the VRRP master answers ARP for a VIP (it
/// has it on its interface), but every node accepts what reaches it for the VIP, so packets that
/// still reach the previous holder during a hand-off are served instead of dropped.
fn prepare_network(config: &VipConfig, previous: Option<&VipConfig>) {
    let host = |i: &VipInstance| {
        let ip = i.address.split('/').next().unwrap_or_default();
        format!("{ip}/32")
    };
    let wanted: Vec<String> = config.instances.iter().map(host).collect();
    for gone in previous
        .map(|p| p.instances.iter().map(host).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|a| !wanted.contains(a))
    {
        let _ = std::process::Command::new("ip")
            .args(["addr", "del", &gone, "dev", "lo"])
            .output();
    }
    if config.instances.is_empty() {
        return;
    }
    let mut interfaces = vec!["all".to_string()];
    interfaces.extend(config.instances.iter().map(|i| i.interface.clone()));
    interfaces.dedup();
    for i in &interfaces {
        for (key, value) in [("arp_ignore", "1"), ("arp_announce", "2")] {
            let path = format!("/proc/sys/net/ipv4/conf/{i}/{key}");
            if let Err(e) = std::fs::write(&path, value) {
                tracing::warn!(%path, error = %e, "cannot set an ARP setting for the VIPs");
            }
        }
    }
    for a in &wanted {
        let out = std::process::Command::new("ip")
            .args(["addr", "replace", a, "dev", "lo"])
            .output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            tracing::warn!(address = %a, "cannot put the VIP on lo");
        }
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
    // The agent's steering value (0, +50 hand-off target, -254 fenced); created at 0 once, an
    // existing value survives restarts and reboots.
    let _ = writeln!(
        out,
        "track_file flotilla_offset {{\n  file \"{}\"\n  weight 1\n  init_file 0\n}}",
        dir.join(OFFSET_FILE).display()
    );
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
        let _ = writeln!(out, "  track_file {{\n    flotilla_offset\n  }}");
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
            "track_file flotilla_offset {\n  file \"/var/lib/fa/keepalived/vip-offset\"\n  weight 1\n  init_file 0\n}",
            "  track_file {\n    flotilla_offset\n  }",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("unicast_peer"));
    }

    #[test]
    fn the_offset_is_a_file_keepalived_tracks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let k = Keepalived::new(dir.path(), "unix:///run/docker.sock", "edge-1");
        assert_eq!(k.offset(), 0, "never set");
        k.set_offset(50).expect("boost");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("keepalived").join(OFFSET_FILE)).expect("file"),
            "50\n"
        );
        k.set_offset(-254).expect("fence");
        assert_eq!(k.offset(), -254);
        assert!(k.set_offset(300).is_err());
        assert_eq!(k.offset(), -254, "a refused value changes nothing");
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
