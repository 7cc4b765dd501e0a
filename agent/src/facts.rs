//! What the node is. Everything is read through namespace-aware calls (`getifaddrs` uses netlink,
//! `gethostname` the UTS namespace), so an agent in a lab namespace reports its own node, not the
//! host. `/proc` and `/sys` are read only for values that are machine-wide anyway.
use std::collections::BTreeMap;
use std::path::Path;

use domain::node::{EngineFacts, NetInterface, NodeFacts};
use domain::storage::StorageFacts;
use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;

use crate::{AgentError, Config};

pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Collects every fact; what the engine says of itself (`engine`) comes from the Docker adapter,
/// what the node offers for cluster volumes (`storage`) from [`crate::storage::facts`].
pub fn collect(
    config: &Config,
    engine: EngineFacts,
    storage: StorageFacts,
) -> Result<NodeFacts, AgentError> {
    let uname = nix::sys::utsname::uname().map_err(|e| io("uname", e))?;
    let (memory_total_bytes, memory_available_bytes) =
        memory(&read("/proc/meminfo", "/proc/meminfo")?);
    let disk = nix::sys::statvfs::statvfs(&config.disk_path).map_err(|e| io("disk usage", e))?;
    let fragment = disk.fragment_size() as u64;
    Ok(NodeFacts {
        hostname: hostname()?,
        machine_id: machine_id(&config.machine_id_file)?,
        os: os_name(&std::fs::read_to_string("/etc/os-release").unwrap_or_default()),
        kernel: uname.release().to_string_lossy().into_owned(),
        arch: uname.machine().to_string_lossy().into_owned(),
        cpu_model: cpu_model(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()),
        cpu_count: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        memory_total_bytes,
        memory_available_bytes,
        disk_path: config.disk_path.display().to_string(),
        disk_total_bytes: disk.blocks() as u64 * fragment,
        disk_available_bytes: disk.blocks_available() as u64 * fragment,
        interfaces: interfaces()?,
        engine,
        agent_version: AGENT_VERSION.to_owned(),
        firmware_version: firmware_version(&config.firmware_version_file),
        uptime_secs: uptime(&std::fs::read_to_string("/proc/uptime").unwrap_or_default()),
        // Per network namespace, present once the ip_vs module is loaded.
        ipvs: Path::new("/proc/net/ip_vs").exists(),
        board: board(),
        firmware: crate::firmware::state_of(&config.state_dir),
        global_config: crate::appconfig::held(&config.state_dir),
        storage,
    })
}

/// The facts with the always-changing values (free memory and disk, uptime) zeroed, so that
/// "did anything change?" ignores them.
pub fn stable(facts: &NodeFacts) -> NodeFacts {
    NodeFacts {
        memory_available_bytes: 0,
        disk_available_bytes: 0,
        uptime_secs: 0,
        storage: facts.storage.stable(),
        ..facts.clone()
    }
}

fn io(what: &'static str, e: nix::Error) -> AgentError {
    AgentError::Facts {
        what,
        source: std::io::Error::from(e),
    }
}

fn read(path: &str, what: &'static str) -> Result<String, AgentError> {
    std::fs::read_to_string(path).map_err(|source| AgentError::Facts { what, source })
}

pub fn hostname() -> Result<String, AgentError> {
    Ok(nix::unistd::gethostname()
        .map_err(|e| io("hostname", e))?
        .to_string_lossy()
        .into_owned())
}

pub fn machine_id(path: &Path) -> Result<String, AgentError> {
    let id = std::fs::read_to_string(path)
        .map_err(|source| AgentError::Facts {
            what: "machine id",
            source,
        })?
        .trim()
        .to_owned();
    if id.is_empty() {
        return Err(AgentError::Facts {
            what: "machine id",
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is empty", path.display()),
            ),
        });
    }
    Ok(id)
}

pub fn firmware_version(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The board name firmware targets: DMI's on x86, the device tree's model elsewhere.
fn board() -> String {
    ["/sys/class/dmi/id/board_name", "/proc/device-tree/model"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| {
            s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                .to_owned()
        })
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

fn os_name(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".into())
}

fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn memory(meminfo: &str) -> (u64, u64) {
    let field = |name: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| {
                r.trim_start_matches(':')
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
            .unwrap_or(0)
    };
    (field("MemTotal"), field("MemAvailable"))
}

fn uptime(proc_uptime: &str) -> u64 {
    proc_uptime
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .map(|f| f as u64)
        .unwrap_or(0)
}

/// Interfaces of this network namespace with their MAC and addresses (CIDR), sorted by name.
/// The IPv4 address of `interface` in this node's network namespace.
pub fn interface_address(interface: &str) -> Result<String, String> {
    let ifs = interfaces().map_err(|e| e.to_string())?;
    ifs.iter()
        .find(|i| i.name == interface)
        .and_then(|i| i.addresses.iter().find(|a| !a.contains(':')))
        .and_then(|a| a.split('/').next())
        .map(str::to_owned)
        .ok_or_else(|| format!("interface {interface} has no IPv4 address on this node"))
}

pub fn interfaces() -> Result<Vec<NetInterface>, AgentError> {
    let mut by_name: BTreeMap<String, NetInterface> = BTreeMap::new();
    for ifa in getifaddrs().map_err(|e| io("network interfaces", e))? {
        let entry = by_name
            .entry(ifa.interface_name.clone())
            .or_insert_with(|| NetInterface {
                name: ifa.interface_name.clone(),
                mac: None,
                up: false,
                addresses: vec![],
            });
        entry.up |= ifa.flags.contains(InterfaceFlags::IFF_UP);
        let Some(addr) = ifa.address else { continue };
        if let Some(link) = addr.as_link_addr() {
            if let Some(mac) = link.addr().filter(|m| m.iter().any(|b| *b != 0)) {
                entry.mac = Some(
                    mac.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                );
            }
        } else if let Some(v4) = addr.as_sockaddr_in() {
            let prefix = ifa
                .netmask
                .and_then(|m| m.as_sockaddr_in().map(|m| m.ip().to_bits().count_ones()))
                .unwrap_or(32);
            entry.addresses.push(format!("{}/{prefix}", v4.ip()));
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            let prefix = ifa
                .netmask
                .and_then(|m| m.as_sockaddr_in6().map(|m| m.ip().to_bits().count_ones()))
                .unwrap_or(128);
            entry.addresses.push(format!("{}/{prefix}", v6.ip()));
        }
    }
    Ok(by_name.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            os_name("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
        assert_eq!(os_name(""), "Linux");
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: Intel(R) Atom(TM)\n"),
            "Intel(R) Atom(TM)"
        );
        assert_eq!(
            memory("MemTotal:       16000 kB\nMemFree: 1 kB\nMemAvailable:    8000 kB\n"),
            (16000 * 1024, 8000 * 1024)
        );
        assert_eq!(uptime("12345.67 999.0\n"), 12345);
    }

    #[test]
    fn loopback_is_reported_with_its_address() {
        let ifs = interfaces().expect("getifaddrs works");
        let lo = ifs
            .iter()
            .find(|i| i.name == "lo")
            .expect("every namespace has lo");
        assert!(lo.up);
        assert!(
            lo.addresses.iter().any(|a| a == "127.0.0.1/8"),
            "{:?}",
            lo.addresses
        );
    }

    #[test]
    fn machine_id_must_not_be_empty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("machine-id");
        std::fs::write(&p, "  \n").expect("write");
        assert!(machine_id(&p).is_err());
        std::fs::write(&p, "abc123\n").expect("write");
        assert_eq!(machine_id(&p).expect("reads"), "abc123");
    }

    #[test]
    fn stable_ignores_volatile_values() {
        let mut a = domain_facts();
        let mut b = a.clone();
        b.uptime_secs += 5;
        b.memory_available_bytes += 1;
        assert_eq!(stable(&a), stable(&b));
        a.hostname = "other".into();
        assert_ne!(stable(&a), stable(&b));
    }

    fn domain_facts() -> NodeFacts {
        NodeFacts {
            hostname: "h".into(),
            machine_id: "m".into(),
            os: "o".into(),
            kernel: "k".into(),
            arch: "a".into(),
            cpu_model: "c".into(),
            cpu_count: 1,
            memory_total_bytes: 1,
            memory_available_bytes: 1,
            disk_path: "/".into(),
            disk_total_bytes: 1,
            disk_available_bytes: 1,
            interfaces: vec![],
            engine: domain::node::EngineFacts::Unreachable { reason: "x".into() },
            agent_version: "v".into(),
            firmware_version: "f".into(),
            uptime_secs: 1,
            ipvs: false,
            global_config: None,
            board: String::new(),
            firmware: Default::default(),
            storage: Default::default(),
        }
    }
}
