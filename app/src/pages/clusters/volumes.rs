//! The cluster's Volumes card: the cluster volume's mode and state, each app's volume on it with
//! its size and the services that mount it, and each node's volume disk. Read-only: volumes are turned on and
//! off with the cluster (Edit), and an app's volume comes and goes with the app.
use domain::cluster::ClusterDetail;
use domain::standby::StandbyRole;
use domain::storage::{DiskFacts, VolumeMode};
use leptos::prelude::*;

use super::cards::volumes as state_line;
use crate::components::{TABLE, TD, TH};

const MIB: u64 = 1024 * 1024;

/// "40 MiB of 512 MiB used (xfs)".
fn usage(disk: &DiskFacts) -> String {
    let used = disk.total_bytes.saturating_sub(disk.available_bytes);
    format!(
        "{} MiB of {} MiB used ({})",
        used / MIB,
        disk.total_bytes / MIB,
        disk.fs
    )
}

/// "12.5 MiB": a volume's size, to one decimal.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Where an app's volume lives, for the cluster's mode.
fn placement(d: &ClusterDetail) -> String {
    match VolumeMode::for_nodes(d.members.len()) {
        Ok(VolumeMode::Replicated) => format!(
            "on every node; copies on {}",
            d.members
                .iter()
                .take(domain::storage::REPLICAS)
                .map(|m| m.hostname.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Ok(VolumeMode::AsyncStandby) => {
            let role = |r: StandbyRole| {
                d.members
                    .iter()
                    .find(|m| m.standby.as_ref().is_some_and(|s| s.role == r))
                    .map_or("—", |m| m.hostname.as_str())
            };
            format!(
                "live on {}, snapshots on {}",
                role(StandbyRole::Primary),
                role(StandbyRole::Standby)
            )
        }
        Err(_) => "—".into(),
    }
}

pub fn volumes_card(d: &ClusterDetail) -> AnyView {
    if !d.definition.volumes {
        return view! {
            <p class="text-sm text-slate-500" data-testid="volumes-off">
                "Cluster volumes are off for this cluster (Edit turns them on)."
            </p>
        }
        .into_any();
    }
    let placement = placement(d);
    let rows = d.volumes_in_use.clone();
    let disks: Vec<(String, Option<DiskFacts>)> = d
        .members
        .iter()
        .map(|m| (m.hostname.clone(), m.volume_disk.clone()))
        .collect();
    view! {
        <p class="text-sm text-slate-700" data-testid="volumes-state">{state_line(d)}</p>
        {if rows.is_empty() {
            view! {
                <p class="mt-3 text-sm text-slate-500" data-testid="volumes-none">
                    "No app keeps data on the cluster volume yet (a compose volume with driver flotilla-cluster)."
                </p>
            }.into_any()
        } else {
            view! {
                <div class="mt-3 overflow-x-auto">
                    <table class=TABLE>
                        <thead><tr>
                            <th class=TH>"Volume"</th><th class=TH>"Path on the nodes"</th>
                            <th class=TH>"Where"</th><th class=TH>"Size"</th><th class=TH>"Used by"</th>
                        </tr></thead>
                        <tbody class="divide-y divide-slate-100">
                            {rows.into_iter().map(|v| view! {
                                <tr data-testid="volume-row" data-volume=format!("{}/{}", v.app, v.volume)>
                                    <td class=TD>{format!("{} / {}", v.app, v.volume)}</td>
                                    <td class=format!("{TD} font-mono text-xs")>{v.path}</td>
                                    <td class=TD data-testid="volume-where">{placement.clone()}</td>
                                    <td class=TD data-testid="volume-size">{v.bytes.map_or_else(|| "—".to_owned(), size)}</td>
                                    <td class=TD data-testid="volume-services">{v.services.join(", ")}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
        <ul class="mt-3 text-xs text-slate-600 space-y-0.5" data-testid="volume-disks">
            {disks.into_iter().map(|(host, disk)| view! {
                <li data-testid="volume-disk" data-hostname=host.clone()>
                    {format!("{host}: {}", disk.as_ref().map_or_else(|| "no volume disk reported".to_owned(), usage))}
                </li>
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_the_largest_unit_below_1024() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(4096), "4.0 KiB");
        assert_eq!(size(12 * 1024 * 1024 + 512 * 1024), "12.5 MiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
