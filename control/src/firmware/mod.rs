//! Firmware: artifacts uploaded by Supervisors and Administrators, signed by the panel, and
//! served to agents.
//!
//! An upload streams to a temporary file in the firmware directory while its SHA-256 is computed
//! and its size checked against the limit; nothing is kept whole in memory. When the file is
//! complete the panel signs its manifest (artifact id, version, target, size, SHA-256) with its
//! Ed25519 key ([`signing`]), moves the file to `<dir>/<id>` and records the artifact. Agents
//! learn the public key at enrolment and refuse any artifact whose signature or checksum does
//! not match.
mod signing;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use domain::event::UiEvent;
use domain::firmware::{FirmwareDraft, FirmwareView, Manifest, SignedManifest, hex};
use domain::{Permission, ValidationError};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

pub use signing::Signer;

use crate::ControlError;
use crate::auth::Actor;
use crate::events::Events;
use crate::store::{ArtifactRow, Store};
use crate::vault::Vault;

#[derive(Clone)]
pub struct Firmware {
    store: Store,
    events: Events,
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
        vault: &Vault,
        dir: PathBuf,
        max_bytes: u64,
    ) -> Result<Firmware, ControlError> {
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io(&dir, e))?;
        let signer = Signer::load_or_create(&store, vault).await?;
        Ok(Firmware {
            store,
            events,
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

    /// The signed manifest an install command carries.
    pub async fn signed(&self, id: &str) -> Result<SignedManifest, ControlError> {
        let row = self
            .store
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
