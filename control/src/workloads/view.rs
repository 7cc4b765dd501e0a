//! The apps installed on a cluster, as their cards show them: each service with its desired and
//! running tasks, its state and Swarm's errors, and which node runs each task.
use std::collections::HashMap;

use domain::Permission;
use domain::workload::install::{ServiceView, TaskView, WorkloadView};
use domain::workload::library::AppView;
use domain::workload::observe::ServiceObservation;

use super::Workloads;
use crate::ControlError;
use crate::auth::Actor;

/// Most tasks a service card lists (the newest).
const CARD_TASKS: usize = 8;

impl Workloads {
    /// The apps installed on a cluster, by name.
    pub async fn installed(
        &self,
        actor: &Actor,
        cluster_id: &str,
    ) -> Result<Vec<WorkloadView>, ControlError> {
        actor.require(Permission::Read)?;
        let (_, _, snapshot) = self.cluster(cluster_id).await?;
        let hostnames: HashMap<&str, &str> = snapshot
            .iter()
            .flat_map(|s| &s.nodes)
            .map(|n| (n.id.as_str(), n.hostname.as_str()))
            .collect();
        let mut out = vec![];
        for w in self.store.workloads_of(cluster_id).await? {
            let app = self
                .store
                .app_by_id(&w.app_id)
                .await?
                .ok_or_else(|| ControlError::Corrupt(format!("app of workload {}", w.id)))?;
            let version = self
                .store
                .version_by_id(&w.version_id)
                .await?
                .ok_or_else(|| ControlError::Corrupt(format!("version of workload {}", w.id)))?;
            let kind_label = AppView {
                id: app.id,
                name: app.name.clone(),
                kind: app.kind,
                model_format: app.model_format,
                description: String::new(),
                created_at_ms: 0,
                versions: vec![],
            }
            .kind_label();
            let services = snapshot
                .iter()
                .flat_map(|s| &s.services)
                .filter(|s| s.stack.as_deref() == Some(w.name.as_str()))
                .map(|s| service_view(&w.name, s, w.stopped, &hostnames))
                .collect();
            out.push(WorkloadView {
                id: w.id,
                name: w.name,
                app_id: w.app_id,
                version_id: w.version_id,
                app_name: app.name,
                kind_label,
                version: version.version,
                phase: w.phase,
                stopped: w.stopped,
                services,
            });
        }
        Ok(out)
    }
}

fn service_view(
    stack: &str,
    s: &ServiceObservation,
    stopped: bool,
    hostnames: &HashMap<&str, &str>,
) -> ServiceView {
    let update = s.update.as_ref().map(|u| {
        if u.state.is_rollback() {
            format!("The update was rolled back: {}", u.message)
        } else {
            u.message.clone()
        }
    });
    ServiceView {
        name: s
            .name
            .strip_prefix(&format!("{stack}_"))
            .unwrap_or(&s.name)
            .to_owned(),
        swarm_name: s.name.clone(),
        mode: s.mode,
        image: s.image.clone(),
        desired: s.desired,
        running: s.running,
        completed: s.completed,
        state: s.state(stopped),
        errors: s.errors(3),
        update,
        version: s.version.clone(),
        tasks: s
            .tasks
            .iter()
            .take(CARD_TASKS)
            .map(|t| TaskView {
                node: hostnames
                    .get(t.node_id.as_str())
                    .map_or_else(String::new, |h| (*h).to_owned()),
                slot: t.slot,
                state: t.state,
                desired: t.desired,
                error: t.error.clone(),
            })
            .collect(),
    }
}
