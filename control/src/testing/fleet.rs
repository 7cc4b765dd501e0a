//! A scripted fleet for cluster scenarios: every agent answers like a healthy node would (init,
//! join, leave, node changes, KeepAlived, networks, stacks and services), records what it was
//! asked, and can send the swarm reports a manager would.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::cluster::{ClusterDraft, DefinitionDraft, MemberDraft};
use domain::protocol::{AgentMessage, Command, JoinTokens, Outcome, Reply, SwarmMember};
use domain::swarm::SwarmRole;
use domain::workflow::WorkflowStatus;

use super::{AgentLink, TestPanel, facts, wait_for};

/// A test panel and its scripted agents.
pub struct Fleet {
    pub h: TestPanel,
    nodes: Vec<FleetNode>,
}

pub struct FleetNode {
    host: &'static str,
    pub node_id: String,
    log: Arc<Mutex<Vec<String>>>,
    report: tokio::sync::mpsc::Sender<AgentMessage>,
    /// The agent's task: aborting it takes the node offline.
    pub task: tokio::task::JoinHandle<()>,
    /// While set, the agent fails to write the Global Config ("no space left on device").
    pub refuse_config: Arc<AtomicBool>,
}

impl FleetNode {
    /// What the panel asked this node, in order.
    pub fn asked(&self) -> Vec<String> {
        self.log.lock().expect("lock").clone()
    }

    /// Sends a frame as this node's agent (e.g. its facts again).
    pub async fn say(&self, msg: AgentMessage) {
        self.report.send(msg).await.expect("agent running");
    }

    /// Reports the node's facts again, with `storage`.
    pub async fn report_storage(&self, storage: domain::storage::StorageFacts) {
        let mut now = facts(self.host, Some(&ip_of(self.host)));
        now.storage = storage;
        self.say(AgentMessage::Facts(Box::new(now))).await;
    }
}

fn ip_of(host: &str) -> String {
    format!(
        "10.9.0.{}",
        10 + host.trim_start_matches("edge-").parse::<u8>().unwrap_or(0)
    )
}

impl Fleet {
    /// A test panel with one scripted agent per host, every one online.
    pub async fn new(hosts: &[&'static str]) -> Fleet {
        let h = TestPanel::open(Duration::from_secs(5)).await;
        let mut nodes = vec![];
        for &host in hosts {
            let e = h.enrol(host).await;
            let (report, mut reports) = tokio::sync::mpsc::channel(8);
            let log = Arc::new(Mutex::new(vec![]));
            let seen = log.clone();
            let panel = h.panel.clone();
            let token = e.token.clone();
            let refuse_config = Arc::new(AtomicBool::new(false));
            let refuse = refuse_config.clone();
            let task = tokio::spawn(async move {
                let ip = ip_of(host);
                let mut now = facts(host, Some(&ip));
                let mut link = AgentLink::connect(&panel, &token, now.clone()).await;
                loop {
                    let (id, cmd) = tokio::select! {
                        next = link.next_command() => match next { Some(c) => c, None => return },
                        Some(msg) = reports.recv() => { link.send(msg).await; continue; }
                    };
                    let member = |tokens| {
                        Reply::Member(SwarmMember {
                            swarm_node_id: format!("swarm-{host}"),
                            cluster_id: "swarm-1".into(),
                            address: ip.clone(),
                            tokens,
                        })
                    };
                    let tokens = || JoinTokens {
                        worker: "SWMTKN-w".into(),
                        manager: "SWMTKN-m".into(),
                    };
                    let (kind, reply) = match &cmd {
                        Command::SwarmInit(_) => ("init".to_string(), member(Some(tokens()))),
                        Command::SwarmJoin(j) => (format!("join:{}", j.token), member(None)),
                        Command::SwarmLeave { force } => (format!("leave:{force}"), Reply::None),
                        Command::NodeUpdate(u) => {
                            let labels = u.labels.as_ref().map_or_else(String::new, |l| {
                                let kv: Vec<String> =
                                    l.iter().map(|l| format!("{}={}", l.key, l.value)).collect();
                                format!(":labels={}", kv.join(","))
                            });
                            let availability = u
                                .availability
                                .map_or_else(String::new, |a| format!(":{}", a.as_str()));
                            (
                                format!("update:{}{labels}{availability}", u.swarm_node_id),
                                Reply::None,
                            )
                        }
                        Command::NodeRemove { swarm_node_id } => {
                            (format!("remove:{swarm_node_id}"), Reply::None)
                        }
                        Command::NetworkCreate(n) => {
                            (format!("network-create:{}", n.name), Reply::None)
                        }
                        Command::NetworkRemove { name } => {
                            (format!("network-remove:{name}"), Reply::None)
                        }
                        Command::Vips(v) => (format!("vips:{}", v.instances.len()), Reply::None),
                        Command::VipOffset { value } => {
                            (format!("vip-offset:{value}"), Reply::None)
                        }
                        Command::JoinTokens { .. } => ("tokens".into(), Reply::Tokens(tokens())),
                        Command::RefreshFacts => ("refresh".into(), Reply::None),
                        Command::StackObjects(o) => {
                            seen.lock().expect("lock").extend(
                                o.global_secrets
                                    .iter()
                                    .map(|g| format!("global-secret:{}", g.object)),
                            );
                            (format!("stack-objects:{}", o.stack), Reply::None)
                        }
                        Command::ServiceApply(s) => {
                            (format!("service-apply:{}", s.name), Reply::None)
                        }
                        Command::RegistryLogin(a) => (format!("login:{}", a.server), Reply::None),
                        Command::ServiceRemove { name } => {
                            (format!("service-remove:{name}"), Reply::None)
                        }
                        Command::StackRemove { stack } => {
                            (format!("stack-remove:{stack}"), Reply::None)
                        }
                        Command::SwarmObjectRemove { kind, name } => {
                            (format!("{}-remove:{name}", kind.as_str()), Reply::None)
                        }
                        Command::SecretsPrune { keep } => {
                            (format!("secrets-prune:{}", keep.join(",")), Reply::None)
                        }
                        Command::FirmwareInstall(s) => (
                            format!("firmware-install:{}", s.manifest.version),
                            Reply::None,
                        ),
                        Command::FirmwareReboot { .. } => ("firmware-reboot".into(), Reply::None),
                        Command::FirmwareCommit => ("firmware-commit".into(), Reply::None),
                        Command::FirmwareRollback { .. } => {
                            ("firmware-rollback".into(), Reply::None)
                        }
                        Command::HttpCheck { url, .. } => {
                            (format!("http-check:{url}"), Reply::None)
                        }
                        Command::GlobalConfig {
                            cluster_id,
                            version,
                            ..
                        } => {
                            seen.lock()
                                .expect("lock")
                                .push(format!("global-config:{version}"));
                            // Like the real agent: the facts with the new version, then the
                            // result; or the failure.
                            if refuse.load(Ordering::SeqCst) {
                                let message = "no space left on device".to_string();
                                link.answer(&id, Outcome::Failed { message }).await;
                            } else {
                                now.global_config = Some(domain::config::global::HeldConfig {
                                    cluster_id: cluster_id.clone(),
                                    version: *version,
                                });
                                link.send(AgentMessage::Facts(Box::new(now.clone()))).await;
                                link.answer(&id, Outcome::DONE).await;
                            }
                            continue;
                        }
                        Command::Storage(c) => (storage_kind(c), Reply::None),
                        Command::SwarmHeartbeat { secs } => {
                            (format!("heartbeat:{secs}"), Reply::None)
                        }
                        Command::ServiceLogs { name, .. } => (
                            format!("logs:{name}"),
                            Reply::Logs {
                                lines: vec![format!("hello from {name}")],
                            },
                        ),
                    };
                    seen.lock().expect("lock").push(kind);
                    link.answer(&id, Outcome::Done { reply }).await;
                }
            });
            nodes.push(FleetNode {
                host,
                node_id: e.node_id().to_owned(),
                log,
                report,
                task,
                refuse_config,
            });
        }
        let n = nodes.len();
        let panel = h.panel.clone();
        wait_for("every agent online", async || {
            panel.gateway.presence().len() == n
        })
        .await;
        Fleet { h, nodes }
    }

    pub fn node(&self, host: &str) -> &FleetNode {
        self.nodes
            .iter()
            .find(|n| n.host == host)
            .expect("a fleet node")
    }

    pub fn member(&self, host: &str, role: SwarmRole) -> MemberDraft {
        MemberDraft {
            node_id: self.node(host).node_id.clone(),
            role,
            labels: String::new(),
            interface: "eth0".into(),
            vip: false,
        }
    }

    /// Builds a cluster ("line-1") of `members` and waits until it is active.
    pub async fn cluster(&self, members: Vec<MemberDraft>) -> String {
        self.cluster_named("line-1", members).await
    }

    /// Builds a cluster called `name` of `members` and waits until it is active.
    pub async fn cluster_named(&self, name: &str, members: Vec<MemberDraft>) -> String {
        let draft = ClusterDraft {
            definition: DefinitionDraft {
                name: name.into(),
                ..Default::default()
            },
            members,
        };
        let id = self
            .h
            .panel
            .clusters
            .create(&self.h.admin, draft)
            .await
            .expect("created");
        self.settled(&id).await;
        id
    }

    /// Waits until the cluster's newest workflow is done.
    pub async fn settled(&self, id: &str) {
        wait_for("the workflow to finish", async || {
            self.h
                .panel
                .clusters
                .get(&self.h.admin, id)
                .await
                .ok()
                .and_then(|d| d.workflow)
                .is_some_and(|w| w.status == WorkflowStatus::Done)
        })
        .await;
    }

    /// Every manager reports the swarm: `up` lists the hosts that are ready and reachable.
    pub async fn report(
        &self,
        managers: &[&str],
        workers: &[&str],
        up: &[&str],
        networks: Vec<domain::network::NetworkView>,
    ) {
        self.report_with(managers, workers, up, networks, vec![])
            .await;
    }

    /// Every manager reports the swarm, with these services running on it.
    pub async fn report_with(
        &self,
        managers: &[&str],
        workers: &[&str],
        up: &[&str],
        networks: Vec<domain::network::NetworkView>,
        services: Vec<domain::workload::observe::ServiceObservation>,
    ) {
        self.report_swarm(managers, workers, up, |s| {
            s.networks = networks;
            s.services = services;
        })
        .await;
    }

    /// Every manager reports the swarm, as `edit` makes it.
    pub async fn report_swarm(
        &self,
        managers: &[&str],
        workers: &[&str],
        up: &[&str],
        edit: impl FnOnce(&mut domain::swarm::SwarmSnapshot),
    ) {
        let view = |host: &str, role: SwarmRole| domain::swarm::SwarmNodeView {
            id: format!("swarm-{host}"),
            hostname: host.into(),
            role,
            availability: domain::swarm::Availability::Active,
            state: if up.contains(&host) {
                domain::swarm::SwarmNodeState::Ready
            } else {
                domain::swarm::SwarmNodeState::Down
            },
            leader: host == managers[0],
            reachability: (role == SwarmRole::Manager).then_some(if up.contains(&host) {
                domain::swarm::Reachability::Reachable
            } else {
                domain::swarm::Reachability::Unreachable
            }),
            address: ip_of(host),
            engine_version: "20.10".into(),
            labels: vec![],
            os: "linux".into(),
            arch: "x86_64".into(),
        };
        let mut snapshot = domain::swarm::SwarmSnapshot {
            cluster_id: "swarm-1".into(),
            nodes: managers
                .iter()
                .map(|m| view(m, SwarmRole::Manager))
                .chain(workers.iter().map(|w| view(w, SwarmRole::Worker)))
                .collect(),
            default_addr_pool: vec!["10.200.0.0/16".into()],
            subnet_size: 24,
            data_path_port: 4789,
            networks: vec![],
            services: vec![],
            secrets: vec![],
            configs: vec![],
        };
        edit(&mut snapshot);
        for m in managers.iter().filter(|m| up.contains(m)) {
            let _ = self
                .node(m)
                .report
                .send(AgentMessage::Swarm(snapshot.clone()))
                .await;
        }
        let (panel, admin) = (self.h.panel.clone(), self.h.admin.clone());
        wait_for("the report", async || {
            panel
                .clusters
                .page(&admin, &Default::default())
                .await
                .is_ok_and(|l| {
                    l.page
                        .rows
                        .iter()
                        .all(|c| c.members == 0 || c.available > 0)
                })
        })
        .await;
    }
}

/// How the fleet's log names a storage command: `storage:<op>` (`storage:mount`…).
fn storage_kind(command: &domain::storage::StorageCommand) -> String {
    use domain::storage::StorageCommand as S;
    let op = match command {
        S::Peers { addresses } => format!("peers:{}", addresses.join(",")),
        S::CreateVolume { bricks, .. } => format!("create:{}", bricks.len()),
        S::Mount { servers, .. } => format!("mount:{}", servers.len()),
        S::Unmount => "unmount".into(),
        S::DeleteVolume { peers, .. } => format!("delete:{}", peers.len()),
        S::ClearBrick { .. } => "clear".into(),
        S::MoveCopy { from, to, .. } => format!("move:{from}>{to}"),
        S::Primary {
            epoch,
            peer,
            sync_secs,
            ..
        } => format!("primary:{epoch}:{peer}:{sync_secs}"),
        S::Standby { epoch, .. } => format!("standby:{epoch}"),
        S::StandbyOff => "standby-off".into(),
        S::Handover => "handover".into(),
        S::MakeDirs { dirs } => format!("dirs:{}", dirs.join(",")),
    };
    format!("storage:{op}")
}
