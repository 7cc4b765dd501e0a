//! The cluster page's cards that only show: the swarm's facts, the virtual IPs, the topology and
//! how services can publish ports.
use domain::cluster::{ClusterDetail, MemberView, VipView};
use domain::health::{self, VolumeState};
use domain::protocol::VrrpState;
use domain::standby::StandbyRole;
use domain::storage::{CopiesFacts, VolumeMode};
use domain::swarm::SwarmNodeState;
use leptos::prelude::*;

/// The cluster's volumes: off, or their mode (from the number of nodes); for the replicated
/// volume on how many nodes it is mounted and answers, for async standby which node is primary
/// and how old the standby's copy is (the RPO).
pub fn volumes(d: &ClusterDetail) -> String {
    if !d.definition.volumes {
        return "disabled".into();
    }
    match VolumeMode::for_nodes(d.members.len()) {
        Ok(VolumeMode::AsyncStandby) => {
            let every = d.definition.volume_sync_secs;
            let primary = d.members.iter().find(|m| {
                m.standby
                    .as_ref()
                    .is_some_and(|s| s.role == StandbyRole::Primary)
            });
            let Some(primary) = primary else {
                return format!("async standby, synced every {every} s (being set up)");
            };
            let rpo = d.volume_rpo_secs.map_or_else(
                || "no complete sync yet".to_owned(),
                |secs| format!("last good sync {secs} s ago"),
            );
            // What an old primary wrote alone, kept apart (never merged).
            let conflicts: Vec<String> = d
                .members
                .iter()
                .filter_map(|m| {
                    let kept = &m.standby.as_ref()?.conflicts;
                    (!kept.is_empty()).then(|| format!("{} on {}", kept.join(", "), m.hostname))
                })
                .collect();
            let conflicts = if conflicts.is_empty() {
                String::new()
            } else {
                format!("; conflict snapshots kept: {}", conflicts.join("; "))
            };
            format!(
                "async standby: {} is primary, {rpo} (every {every} s){conflicts}",
                primary.hostname
            )
        }
        Ok(VolumeMode::Replicated) => {
            if d.members
                .iter()
                .all(|m| m.volume == VolumeState::NotExpected)
            {
                return "replicated (being set up or changed)".into();
            }
            let live = d
                .members
                .iter()
                .filter(|m| m.volume == VolumeState::Live)
                .count();
            let mounted = format!(
                "replicated: mounted and answering on {live} of {} nodes",
                d.members.len()
            );
            // The copies as the nodes that hold one and answer see them (the worst view).
            let copies = CopiesFacts::worst(
                d.members
                    .iter()
                    .filter(|m| m.online && m.volume != VolumeState::NotExpected)
                    .filter_map(|m| m.copies),
            );
            match copies {
                Some(c) => format!("{mounted}; {}", c.describe()),
                None => mounted,
            }
        }
        Err(why) => why,
    }
}

/// The Swarm card's facts: (label, value, test id).
pub fn swarm_facts(d: &ClusterDetail) -> Vec<(&'static str, String, &'static str)> {
    let s = &d.summary;
    let pools = if d.swarm_pools.is_empty() {
        d.definition
            .pools
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        d.swarm_pools.join(", ")
    };
    vec![
        (
            "Leader",
            d.leader.clone().unwrap_or_else(|| "—".into()),
            "leader",
        ),
        (
            "Managers",
            format!(
                "{} (tolerates {} down)",
                s.managers,
                health::tolerated_failures(s.managers)
            ),
            "managers",
        ),
        ("Online", format!("{}/{}", s.online, s.members), "online"),
        (
            "Available",
            format!("{}/{}", s.available, s.members),
            "available",
        ),
        ("Address pools", pools, "pools"),
        (
            "Subnet size",
            format!(
                "/{}",
                d.swarm_subnet_size
                    .unwrap_or(u32::from(d.definition.subnet_size))
            ),
            "subnet-size",
        ),
        (
            "Data-path port",
            d.swarm_data_path_port
                .unwrap_or(u32::from(d.definition.data_path_port))
                .to_string(),
            "data-path-port",
        ),
        (
            "Listen port",
            d.definition.listen_port.to_string(),
            "listen-port",
        ),
        ("Cluster volumes", volumes(d), "volumes"),
    ]
}

pub fn vip_list(vips: Vec<VipView>, synctime_cs: u16) -> AnyView {
    if vips.is_empty() {
        return view! { <p class="text-sm text-slate-500">"Virtual IPs are off for this cluster."</p> }.into_any();
    }
    view! {
        <ul class="text-sm space-y-2">
            {vips.into_iter().map(|v| view! {
                <li data-testid="vip" data-address=v.address.clone()>
                    <span class="font-mono">{v.address.clone()}</span>
                    <span class="text-slate-500">{format!(" · VRID {}", v.vrid)}</span>
                    {v.track_port.map(|p| view! { <span class="text-slate-500">{format!(" · needs local port {p}")}</span> })}
                    <p class="text-slate-700">"Held by: " <span data-testid="vip-owner">{if v.owners.is_empty() { "nobody".to_string() } else { v.owners.join(", ") }}</span></p>
                    {(!v.stale_owners.is_empty()).then(|| view! {
                        <p class="text-xs text-amber-700" data-testid="vip-stale">{format!("Last claimed by {} (silent or not heard from since): not counted.", v.stale_owners.join(", "))}</p>
                    })}
                </li>
            }).collect_view()}
        </ul>
        <p class="mt-3 text-xs text-slate-500" data-testid="vip-interval">{format!("VRRPv3, advertisement every {} s.", f64::from(synctime_cs) / 100.0)}</p>
    }.into_any()
}

pub fn publishing(without_ipvs: Vec<String>) -> AnyView {
    if without_ipvs.is_empty() {
        view! {
            <p class="text-sm text-slate-700" data-testid="publishing">
                "Every node has IPVS: Swarm's ingress routing mesh works, so a published port answers on every node and a VIP reaches the service from any node."
            </p>
        }.into_any()
    } else {
        view! {
            <p class="text-sm text-slate-700" data-testid="publishing">
                {format!("No IPVS on {}: the ingress routing mesh cannot carry traffic there. ", without_ipvs.join(", "))}
                "Publish services in host mode with endpoint mode dnsrr, and give the VIP the published port (\"Require local port\") so that only nodes running a healthy task hold it."
            </p>
        }.into_any()
    }
}

pub fn fact(label: &'static str, value: String, testid: &'static str) -> impl IntoView {
    view! {
        <div class="flex justify-between gap-4">
            <dt class="text-slate-500">{label}</dt>
            <dd class="text-slate-900 text-right" data-testid=format!("swarm-{testid}")>{value}</dd>
        </div>
    }
}

/// A picture of the cluster: one card per node with its role, leadership, VIPs and health.
#[component]
pub fn Topology(members: Vec<MemberView>, vips: Vec<String>) -> impl IntoView {
    view! {
        <div class="flex flex-wrap items-stretch gap-4" data-testid="topology">
            {vips.into_iter().map(|v| view! {
                <div class="flex flex-col items-center justify-center rounded-full border-2 border-dashed border-sky-400 px-5 py-3 text-sm text-sky-800">
                    <span class="text-xs uppercase tracking-wide">"VIP"</span>
                    <span class="font-mono">{v}</span>
                </div>
            }).collect_view()}
            {members.into_iter().map(|m| {
                let leader = m.swarm.as_ref().is_some_and(|s| s.leader);
                let up = m.online && m.swarm.as_ref().is_some_and(|s| s.state == SwarmNodeState::Ready);
                let holds: Vec<String> = m.vip_states.iter().filter(|v| v.holds).map(|v| v.address.clone()).collect();
                let border = if up { "border-emerald-400" } else { "border-rose-400" };
                let fault = m.vip_states.iter().any(|v| v.state == VrrpState::Fault);
                view! {
                    <div class=format!("w-48 rounded-lg border-2 {border} bg-white p-3 text-sm shadow-sm") data-testid="topology-node" data-hostname=m.hostname.clone()>
                        <div class="flex items-center justify-between">
                            <span class="font-semibold text-slate-900">{m.hostname.clone()}</span>
                            {leader.then(|| view! { <span title="Raft leader" class="text-amber-500">"★"</span> })}
                        </div>
                        <p class="text-slate-600">{m.role.as_str()}
                            {m.swarm.as_ref().map(|s| format!(" · {}", s.availability.as_str()))}</p>
                        <p class="text-xs text-slate-500">{if up { "up" } else if m.online { "agent up, not in swarm" } else { "offline" }}</p>
                        {(!holds.is_empty()).then(|| view! {
                            <p class="mt-1 rounded bg-sky-100 px-2 py-0.5 text-xs text-sky-800" data-testid="holds-vip">{format!("holds {}", holds.join(", "))}</p>
                        })}
                        {fault.then(|| view! { <p class="mt-1 text-xs text-rose-700">"VRRP FAULT"</p> })}
                    </div>
                }
            }).collect_view()}
        </div>
    }
}
