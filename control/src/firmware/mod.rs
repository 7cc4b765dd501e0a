//! Firmware: artifacts uploaded by Supervisors and Administrators, signed by the panel, and
//! served to agents.
//!
//! An upload streams to a temporary file in the firmware directory while its SHA-256 is computed
//! and its size checked against the limit; nothing is kept whole in memory. When the file is
//! complete the panel signs its manifest (artifact id, version, target, size, SHA-256) with its
//! Ed25519 key ([`signing`]), moves the file to `<dir>/<id>` and records the artifact. Agents
//! learn the public key at enrolment and refuse any artifact whose signature or checksum does
//! not match.
mod gates;
mod rollout;
mod signing;
mod upgrade;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use domain::event::UiEvent;
use domain::firmware::{
    ClusterRollout, FirmwareDraft, FirmwareNode, FirmwareView, Manifest, RolloutDraft,
    SignedManifest, Target, UpgradeDraft, hex,
};
use domain::workflow::{WorkflowAction, WorkflowKind, WorkflowView};
use domain::{Permission, ValidationError};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

pub use signing::Signer;

use crate::ControlError;
use crate::auth::Actor;
use crate::events::Events;
use crate::gateway::Gateway;
use crate::store::{ArtifactRow, Store};
use crate::vault::Vault;
use crate::workflow::{Capability, Engine};

/// Workflows on standalone nodes (firmware upgrades) belong to no cluster: their cluster id is
/// empty.
const FLEET: &str = "";

#[derive(Clone)]
pub struct Firmware {
    store: Store,
    events: Events,
    gateway: Gateway,
    observed: crate::gateway::Observed,
    engine: Engine,
    signer: Arc<Signer>,
    dir: PathBuf,
    max_bytes: u64,
}

/// An upload in progress: the checked metadata, the temporary file and the running digest.
pub struct Upload {
    id: String,
    meta: domain::firmware::FirmwareMeta,
    uploaded_by: String,
    tmp: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    size: u64,
    max_bytes: u64,
}

fn io(path: &Path, e: std::io::Error) -> ControlError {
    ControlError::Config(format!("firmware file {}: {e}", path.display()))
}

fn too_large(max: u64) -> ControlError {
    ControlError::Invalid(vec![ValidationError::new(
        "file",
        format!(
            "The file is larger than the panel's limit of {} MiB",
            max / (1024 * 1024)
        ),
    )])
}

impl Firmware {
    /// Opens the firmware directory and the panel's signing key (made on first use, sealed by
    /// the vault in the database).
    pub async fn open(
        store: Store,
        events: Events,
        (gateway, observed): (Gateway, crate::gateway::Observed),
        engine: Engine,
        vault: &Vault,
        (dir, max_bytes): (PathBuf, u64),
    ) -> Result<Firmware, ControlError> {
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io(&dir, e))?;
        let signer = Signer::load_or_create(&store, vault).await?;
        engine.register(
            Capability::Firmware,
            Arc::new(upgrade::UpgradeSteps {
                store: store.clone(),
                gateway: gateway.clone(),
                events: events.clone(),
                observed: observed.clone(),
            }),
        );
        Ok(Firmware {
            store,
            events,
            gateway,
            observed,
            engine,
            signer: Arc::new(signer),
            dir,
            max_bytes,
        })
    }

    /// The panel's public key (base64) that agents learn at enrolment.
    pub fn public_key(&self) -> String {
        self.signer.public_key()
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Starts an upload after the role and the metadata checks; `declared` is the body's
    /// announced length, refused at once when it is over the limit.
    pub async fn begin_upload(
        &self,
        actor: &Actor,
        draft: &FirmwareDraft,
        declared: Option<u64>,
    ) -> Result<Upload, ControlError> {
        actor.require(Permission::Supervise)?;
        let meta = draft.validate().map_err(ControlError::Invalid)?;
        if declared.is_some_and(|n| n > self.max_bytes) {
            return Err(too_large(self.max_bytes));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let tmp = self.dir.join(format!(".upload-{id}"));
        let file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io(&tmp, e))?;
        Ok(Upload {
            id,
            meta,
            uploaded_by: actor.username.clone(),
            tmp,
            file,
            hasher: Sha256::new(),
            size: 0,
            max_bytes: self.max_bytes,
        })
    }

    /// Completes an upload: signs the manifest, moves the file in place and records the
    /// artifact. The temporary file is removed on every error.
    pub async fn finish(&self, mut upload: Upload) -> Result<FirmwareView, ControlError> {
        let result = async {
            upload
                .file
                .flush()
                .await
                .map_err(|e| io(&upload.tmp, e))?;
            if upload.size == 0 {
                return Err(ControlError::Invalid(vec![ValidationError::new(
                    "file",
                    "The file is empty",
                )]));
            }
            let manifest = Manifest {
                artifact_id: upload.id.clone(),
                version: upload.meta.version.clone(),
                target: upload.meta.target.to_string(),
                size: upload.size,
                sha256: hex(&upload.hasher.clone().finalize()),
            };
            let row = ArtifactRow {
                id: upload.id.clone(),
                version: manifest.version.clone(),
                target: manifest.target.clone(),
                notes: upload.meta.notes.clone(),
                size: manifest.size,
                sha256: manifest.sha256.clone(),
                signature: self.signer.sign(&manifest.signed_bytes()),
                uploaded_by: upload.uploaded_by.clone(),
                uploaded_at: crate::secret::now_ms(),
            };
            let path = self.path_of(&row.id);
            tokio::fs::rename(&upload.tmp, &path)
                .await
                .map_err(|e| io(&path, e))?;
            if !self.store.insert_artifact(&row).await? {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(ControlError::Conflict(format!(
                    "Firmware {} for {} exists already: delete it first or give another version",
                    row.version, row.target
                )));
            }
            tracing::info!(id = %row.id, version = %row.version, target = %row.target, size = row.size, by = %row.uploaded_by, "firmware uploaded");
            self.events.publish(UiEvent::Firmware);
            Ok(view(row))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&upload.tmp).await;
        }
        result
    }

    /// Drops an unfinished upload (the client went away or sent too much).
    pub async fn abandon(&self, upload: Upload) {
        let _ = tokio::fs::remove_file(&upload.tmp).await;
    }

    pub async fn list(&self, actor: &Actor) -> Result<Vec<FirmwareView>, ControlError> {
        actor.require(Permission::Read)?;
        Ok(self
            .store
            .artifacts()
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        if !self.store.delete_artifact(id).await? {
            return Err(ControlError::NotFound("firmware artifact"));
        }
        let path = self.path_of(id);
        if let Err(e) = tokio::fs::remove_file(&path).await {
            tracing::warn!(path = %path.display(), error = %e, "firmware file already gone");
        }
        tracing::info!(%id, by = %actor.username, "firmware deleted");
        self.events.publish(UiEvent::Firmware);
        Ok(())
    }

    /// Every node with what an upgrade needs to know of it.
    pub async fn nodes(&self, actor: &Actor) -> Result<Vec<FirmwareNode>, ControlError> {
        actor.require(Permission::Read)?;
        let mut out = vec![];
        for row in self.store.list_nodes().await? {
            let facts = row.facts();
            out.push(FirmwareNode {
                online: self.gateway.is_online(&row.id).is_some(),
                arch: facts.as_ref().map(|f| f.arch.clone()).unwrap_or_default(),
                board: facts.as_ref().map(|f| f.board.clone()).unwrap_or_default(),
                version: facts
                    .as_ref()
                    .map(|f| f.firmware_version.clone())
                    .unwrap_or_default(),
                state: facts
                    .as_ref()
                    .map(|f| f.firmware.label())
                    .unwrap_or_default(),
                cluster: self.store.cluster_name_of_node(&row.id).await?,
                hostname: row.hostname,
                id: row.id,
            });
        }
        Ok(out)
    }

    /// Starts the upgrade of standalone nodes; the workflow's id.
    pub async fn upgrade(
        &self,
        actor: &Actor,
        draft: &UpgradeDraft,
    ) -> Result<String, ControlError> {
        actor.require(Permission::Supervise)?;
        let u = draft.validate().map_err(ControlError::Invalid)?;
        let artifact = self.store.artifact(&u.artifact_id).await?.ok_or_else(|| {
            ControlError::Invalid(vec![ValidationError::new(
                "artifact",
                "That firmware does not exist (deleted?)",
            )])
        })?;
        let target = Target::parse(&artifact.target).map_err(ControlError::Corrupt)?;
        let known = self.nodes(actor).await?;
        let busy = self.busy_nodes().await?;
        let mut chosen = vec![];
        let mut errors = vec![];
        for id in &u.node_ids {
            let Some(n) = known.iter().find(|n| n.id == *id) else {
                errors.push(format!("{id} is not an enrolled node"));
                continue;
            };
            let why = if let Some(c) = &n.cluster {
                Some(format!(
                    "is in cluster {c}: upgrade it with the cluster's rollout"
                ))
            } else if !n.online {
                Some("is offline".into())
            } else if !target.matches(&n.arch, &n.board) {
                Some(format!(
                    "is {}{}, the firmware is for {target}",
                    n.arch,
                    if n.board.is_empty() {
                        String::new()
                    } else {
                        format!("/{}", n.board)
                    }
                ))
            } else if n.version == artifact.version {
                Some(format!("runs {} already", artifact.version))
            } else if busy.contains(id) {
                Some("is being upgraded already".into())
            } else {
                None
            };
            match why {
                Some(w) => errors.push(format!("{} {w}", n.hostname)),
                None => chosen.push((n.id.clone(), n.hostname.clone())),
            }
        }
        if !errors.is_empty() {
            return Err(ControlError::Invalid(vec![ValidationError::new(
                "nodes",
                errors.join("; "),
            )]));
        }
        let steps = upgrade::plan(
            &chosen,
            &artifact.id,
            &artifact.version,
            u.concurrency,
            u.gate_secs,
        );
        let workflow = crate::workflow::plan(FLEET, WorkflowKind::FirmwareUpgrade, &steps)?;
        self.store.add_workflow(&workflow).await?;
        tracing::info!(workflow = %workflow.id, version = %artifact.version, nodes = chosen.len(), by = %actor.username, "firmware upgrade started");
        self.engine.spawn(workflow.id.clone());
        self.events.publish(UiEvent::Firmware);
        Ok(workflow.id)
    }

    /// Starts the rolling upgrade of a cluster; the workflow's id.
    pub async fn rollout(
        &self,
        actor: &Actor,
        draft: &RolloutDraft,
    ) -> Result<String, ControlError> {
        actor.require(Permission::Supervise)?;
        let (cluster_id, artifact_id, gate_secs) =
            draft.validate().map_err(ControlError::Invalid)?;
        let invalid =
            |field: &str, m: String| ControlError::Invalid(vec![ValidationError::new(field, m)]);
        let artifact =
            self.store.artifact(&artifact_id).await?.ok_or_else(|| {
                invalid("artifact", "That firmware does not exist (deleted?)".into())
            })?;
        let target = Target::parse(&artifact.target).map_err(ControlError::Corrupt)?;
        let cluster = self
            .store
            .cluster(&cluster_id)
            .await?
            .ok_or_else(|| invalid("cluster", "That cluster does not exist".into()))?;
        if cluster.phase != domain::cluster::ClusterPhase::Active {
            return Err(ControlError::Conflict(format!(
                "{} is not active: finish or delete its creation first",
                cluster.name
            )));
        }
        if let Some(w) = self
            .store
            .latest_workflow(&cluster_id)
            .await?
            .filter(|w| w.status.is_open())
        {
            return Err(ControlError::Conflict(format!(
                "Wait for \"{}\" on {} to finish (or abort it).",
                w.kind.label(),
                cluster.name
            )));
        }
        let members = self.store.members(&cluster_id).await?;
        let mut problems = vec![];
        let mut upgrade = vec![];
        for m in &members {
            let row = self
                .store
                .node_by_id(&m.node_id)
                .await?
                .ok_or(ControlError::NotFound("node"))?;
            let facts = row.facts();
            let (arch, board, version) = facts
                .as_ref()
                .map(|f| (f.arch.clone(), f.board.clone(), f.firmware_version.clone()))
                .unwrap_or_default();
            if self.gateway.is_online(&m.node_id).is_none() {
                problems.push(format!("{} is offline", row.hostname));
            } else if !target.matches(&arch, &board) {
                problems.push(format!(
                    "{} is {arch}, the firmware is for {target}",
                    row.hostname
                ));
            } else if version != artifact.version {
                upgrade.push((m.clone(), row.hostname.clone()));
            }
        }
        // Every manager goes down once: the swarm must keep quorum without any one of them.
        let managers = members
            .iter()
            .filter(|m| m.role == domain::swarm::SwarmRole::Manager)
            .count();
        if upgrade
            .iter()
            .any(|(m, _)| m.role == domain::swarm::SwarmRole::Manager)
            && let Err(e) = domain::health::check_manager_down(managers, managers, true)
        {
            problems.push(format!(
                "{} cannot take its managers down one at a time: {e}",
                cluster.name
            ));
        }
        if !problems.is_empty() {
            return Err(invalid("cluster", problems.join("; ")));
        }
        if upgrade.is_empty() {
            return Err(invalid(
                "artifact",
                format!(
                    "Every node of {} runs {} already",
                    cluster.name, artifact.version
                ),
            ));
        }
        // Workers first, then managers; a node holding a VIP as late as possible.
        let holders: Vec<String> = self
            .store
            .vips(&cluster_id)
            .await?
            .iter()
            .flat_map(|v| {
                members
                    .iter()
                    .filter(|m| {
                        self.observed
                            .vips_of(&m.node_id)
                            .iter()
                            .any(|o| o.address == v.address && o.holds)
                    })
                    .map(|m| m.node_id.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        upgrade.sort_by_key(|(m, _)| {
            (
                m.role == domain::swarm::SwarmRole::Manager,
                holders.contains(&m.node_id),
                m.position,
            )
        });
        let order: Vec<(String, String)> =
            upgrade.into_iter().map(|(m, h)| (m.node_id, h)).collect();
        let gates = self.store.gates(&cluster_id).await?;
        let gates_secs = gates.iter().map(|g| g.timeout_secs).sum();
        let steps = rollout::plan(
            &order,
            (&artifact.id, &artifact.version),
            gate_secs,
            (gates.len(), gates_secs),
            crate::volumes::replicated(&cluster.definition, members.len()),
        );
        let workflow = crate::workflow::plan(&cluster_id, WorkflowKind::FirmwareRollout, &steps)?;
        self.store.add_workflow(&workflow).await?;
        tracing::info!(workflow = %workflow.id, cluster = %cluster.name, version = %artifact.version, nodes = order.len(), by = %actor.username, "firmware rollout started");
        self.engine.spawn(workflow.id.clone());
        self.events.publish(UiEvent::Cluster { id: cluster_id });
        self.events.publish(UiEvent::Firmware);
        Ok(workflow.id)
    }

    /// Nodes named by a step of an open firmware upgrade.
    async fn busy_nodes(&self) -> Result<Vec<String>, ControlError> {
        let mut out = vec![];
        for w in self.store.workflows_of(FLEET, 50).await? {
            if w.kind != WorkflowKind::FirmwareUpgrade || !w.status.is_open() {
                continue;
            }
            for s in self.store.steps(&w.id).await? {
                if let Ok(step) = serde_json::from_str::<upgrade::UpgradeStep>(&s.step) {
                    out.extend(step.nodes().iter().cloned());
                }
            }
        }
        Ok(out)
    }

    /// Every cluster's newest firmware rollout with its timeline, clusters by name.
    pub async fn rollouts(&self, actor: &Actor) -> Result<Vec<ClusterRollout>, ControlError> {
        actor.require(Permission::Read)?;
        let mut out = vec![];
        for c in self.store.clusters().await? {
            if let Some(workflow) = self
                .engine
                .newest_view(&c.id, WorkflowKind::FirmwareRollout)
                .await?
            {
                out.push(ClusterRollout {
                    cluster_id: c.id,
                    cluster: c.name,
                    workflow,
                });
            }
        }
        out.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        Ok(out)
    }

    /// The newest firmware upgrades with their step timelines.
    pub async fn activity(&self, actor: &Actor) -> Result<Vec<WorkflowView>, ControlError> {
        actor.require(Permission::Read)?;
        self.engine.views_of(FLEET, 20).await
    }

    /// Pauses, resumes, retries or aborts a firmware upgrade.
    pub async fn act(
        &self,
        actor: &Actor,
        workflow_id: &str,
        action: WorkflowAction,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        self.store
            .workflow(workflow_id)
            .await?
            .filter(|w| w.kind == WorkflowKind::FirmwareUpgrade)
            .ok_or(ControlError::NotFound("Workflow"))?;
        self.engine.act(workflow_id, action).await?;
        tracing::info!(workflow = %workflow_id, action = action.label(), by = %actor.username, "firmware upgrade");
        self.events.publish(UiEvent::Firmware);
        Ok(())
    }

    /// The file of an artifact and its size, for an authenticated agent's download.
    pub async fn file_for_agent(&self, id: &str) -> Result<(PathBuf, u64), ControlError> {
        let row = self
            .store
            .artifact(id)
            .await?
            .ok_or(ControlError::NotFound("firmware artifact"))?;
        Ok((self.path_of(&row.id), row.size))
    }

    fn path_of(&self, id: &str) -> PathBuf {
        // Ids are uuids the panel made; anything else never reaches the file system.
        let safe: String = id
            .chars()
            .filter(|c| c.is_ascii_hexdigit() || *c == '-')
            .collect();
        self.dir.join(safe)
    }
}

impl Upload {
    /// Appends a chunk of the body; refused (and to be abandoned) past the size limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), ControlError> {
        self.size += chunk.len() as u64;
        if self.size > self.max_bytes {
            return Err(too_large(self.max_bytes));
        }
        self.hasher.update(chunk);
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| io(&self.tmp, e))
    }
}

/// The signed manifest an install command carries.
pub(crate) async fn signed(store: &Store, id: &str) -> Result<SignedManifest, ControlError> {
    let row = store
        .artifact(id)
        .await?
        .ok_or(ControlError::NotFound("firmware artifact"))?;
    Ok(SignedManifest {
        manifest: Manifest {
            artifact_id: row.id,
            version: row.version,
            target: row.target,
            size: row.size,
            sha256: row.sha256,
        },
        signature: row.signature,
    })
}

fn view(row: ArtifactRow) -> FirmwareView {
    FirmwareView {
        id: row.id,
        version: row.version,
        target: row.target,
        notes: row.notes,
        size: row.size,
        sha256: row.sha256,
        signature: row.signature,
        uploaded_by: row.uploaded_by,
        uploaded_at_ms: row.uploaded_at,
    }
}
