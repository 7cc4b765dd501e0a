//! Registry credentials of a cluster: saved (one by one or from CSV) with the password sealed,
//! never shown again; every save runs a workflow that logs in to the registry on every member node
//! (a real `docker login` there, status per node) and then re-applies the credential to the
//! services that pull from that registry, so no node keeps a stale token.
use std::collections::HashMap;

use domain::Permission;
use domain::cluster::ClusterPhase;
use domain::event::UiEvent;
use domain::workflow::WorkflowKind;
use domain::workload::compose;
use domain::workload::registry::{
    self, Credential, CredentialDraft, CredentialView, MAX_CREDENTIALS, NodeCheck,
};
use domain::workload::spec;

use super::Workloads;
use super::specs::credential_context;
use super::steps::WorkloadStep;
use crate::ControlError;
use crate::auth::Actor;
use crate::store::CredentialRow;
use crate::workflow::{self, Planned};

impl Workloads {
    /// A cluster's credentials with each node's check, without passwords.
    pub async fn credentials(
        &self,
        actor: &Actor,
        cluster_id: &str,
    ) -> Result<Vec<CredentialView>, ControlError> {
        actor.require(Permission::Read)?;
        let (_, members, _) = self.cluster(cluster_id).await?;
        let mut hostnames: HashMap<String, String> = HashMap::new();
        for m in &members {
            if let Some(n) = self.store.node_by_id(&m.node_id).await? {
                hostnames.insert(m.node_id.clone(), n.hostname);
            }
        }
        let checks = self.store.credential_checks(cluster_id).await?;
        Ok(self
            .store
            .credentials_of(cluster_id)
            .await?
            .into_iter()
            .map(|c| {
                let mut mine: Vec<NodeCheck> = checks
                    .iter()
                    .filter(|k| k.credential_id == c.id)
                    .map(|k| NodeCheck {
                        node: hostnames
                            .get(&k.node_id)
                            .cloned()
                            .unwrap_or_else(|| k.node_id.clone()),
                        status: k.status,
                        message: k.message.clone(),
                    })
                    .collect();
                mine.sort_by(|a, b| a.node.cmp(&b.node));
                CredentialView {
                    id: c.id,
                    registry: c.registry,
                    username: c.username,
                    updated_at_ms: c.updated_at,
                    checks: mine,
                }
            })
            .collect())
    }

    /// Adds a credential, or replaces the one of that registry.
    pub async fn save_credential(
        &self,
        actor: &Actor,
        cluster_id: &str,
        draft: CredentialDraft,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Operate)?;
        let credential = draft.validate().map_err(ControlError::Invalid)?;
        self.save(actor, cluster_id, vec![credential]).await
    }

    /// Imports `registry,username,password` lines: all of them, or none when any is refused.
    pub async fn import_credentials(
        &self,
        actor: &Actor,
        cluster_id: &str,
        csv: &str,
    ) -> Result<usize, ControlError> {
        actor.require(Permission::Operate)?;
        let all = registry::parse_csv(csv).map_err(ControlError::Invalid)?;
        let n = all.len();
        if n > 0 {
            self.save(actor, cluster_id, all).await?;
        }
        Ok(n)
    }

    /// `registry,username` lines, without passwords.
    pub async fn export_credentials(
        &self,
        actor: &Actor,
        cluster_id: &str,
    ) -> Result<String, ControlError> {
        let list = self.credentials(actor, cluster_id).await?;
        Ok(registry::export_csv(&list))
    }

    /// Forgets a credential (Supervisors). Services keep what Swarm stored with them.
    pub async fn delete_credential(
        &self,
        actor: &Actor,
        cluster_id: &str,
        id: &str,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        if !self.store.delete_credential(cluster_id, id).await? {
            return Err(ControlError::NotFound("Credential"));
        }
        self.changed(
            actor,
            "registry.delete",
            id,
            None,
            UiEvent::Cluster {
                id: cluster_id.to_owned(),
            },
        )
        .await
    }

    async fn save(
        &self,
        actor: &Actor,
        cluster_id: &str,
        credentials: Vec<Credential>,
    ) -> Result<(), ControlError> {
        let (cluster, members, _) = self.cluster(cluster_id).await?;
        if cluster.phase != ClusterPhase::Active {
            return Err(ControlError::Conflict(
                "Registry credentials are kept for active clusters only.".into(),
            ));
        }
        let existing = self.store.credentials_of(cluster_id).await?;
        let new = credentials
            .iter()
            .filter(|c| !existing.iter().any(|e| e.registry == c.registry))
            .count();
        if existing.len() + new > MAX_CREDENTIALS {
            return Err(ControlError::Conflict(format!(
                "A cluster keeps at most {MAX_CREDENTIALS} registry credentials."
            )));
        }
        let rows: Vec<CredentialRow> = credentials
            .iter()
            .map(|c| {
                Ok(CredentialRow {
                    id: existing
                        .iter()
                        .find(|e| e.registry == c.registry)
                        .map_or_else(|| uuid::Uuid::new_v4().to_string(), |e| e.id.clone()),
                    cluster_id: cluster_id.to_owned(),
                    registry: c.registry.clone(),
                    username: c.username.clone(),
                    password: self
                        .vault
                        .seal(&c.password, &credential_context(cluster_id, &c.registry))?,
                    updated_at: 0,
                })
            })
            .collect::<Result<_, ControlError>>()?;
        let nodes: Vec<String> = members.iter().map(|m| m.node_id.clone()).collect();
        let mut steps = vec![];
        for c in &rows {
            for m in &members {
                let host = self
                    .store
                    .node_by_id(&m.node_id)
                    .await?
                    .map_or_else(|| m.node_id.clone(), |n| n.hostname);
                steps.push(Planned::safe(
                    WorkloadStep::Check {
                        credential: c.id.clone(),
                        node: m.node_id.clone(),
                    },
                    format!("docker login {} on {host}", c.registry),
                    Some(&m.node_id),
                ));
            }
        }
        // Services that pull from a saved registry get the new credential.
        for w in self.store.workloads_of(cluster_id).await? {
            let Some(version) = self.store.version_by_id(&w.version_id).await? else {
                continue;
            };
            let Ok(c) = compose::parse(&version.compose) else {
                continue;
            };
            for s in &c.services {
                let from = spec::registry_of(&s.image).unwrap_or(spec::DOCKER_HUB);
                if rows.iter().any(|r| r.registry == from) {
                    steps.push(Planned::safe(
                        WorkloadStep::Service {
                            workload: w.id.clone(),
                            service: s.name.clone(),
                        },
                        format!("Give {}_{} the new credential", w.name, s.name),
                        None,
                    ));
                }
            }
        }
        let flow = workflow::plan(cluster_id, WorkflowKind::ApplyCredentials, &steps)?;
        self.store
            .save_credentials(&rows, &actor.username, &nodes, &flow)
            .await?;
        let detail = rows
            .iter()
            .map(|r| r.registry.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        self.changed(
            actor,
            "registry.save",
            cluster_id,
            Some(&detail),
            UiEvent::Cluster {
                id: cluster_id.to_owned(),
            },
        )
        .await?;
        self.engine.spawn(flow.id);
        Ok(())
    }
}
