//! Firmware: what an operator uploads (version, target, notes), the manifest the panel signs for
//! every artifact, what the panel shows, and the state of an upgrade on a node as its agent
//! reports it.
use serde::{Deserialize, Serialize};

use crate::ValidationError;

pub mod gates;

const MAX_VERSION: usize = 64;
const MAX_TARGET: usize = 64;
pub const MAX_NOTES: usize = 4096;
/// The upload size limit unless the panel is configured otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// What the upload form sends along with the file (missing fields are empty, so the role check
/// comes before any complaint about them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FirmwareDraft {
    pub version: String,
    pub target: String,
    pub notes: String,
}

/// A draft that passed the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareMeta {
    pub version: String,
    pub target: Target,
    pub notes: String,
}

/// Which nodes a firmware is for: an architecture as nodes report it (`x86_64`, `aarch64`), and
/// optionally a board after a slash (`aarch64/rpi4`) compared with the node's board fact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub arch: String,
    pub board: Option<String>,
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, String> {
        let t = text.trim();
        if t.is_empty() || t.len() > MAX_TARGET {
            return Err(format!(
                "Give the target: an architecture such as x86_64, optionally /board (at most {MAX_TARGET} characters)"
            ));
        }
        let word = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        let (arch, board) = match t.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (t, None),
        };
        if !word(arch) || board.is_some_and(|b| !word(b)) {
            return Err(
                "A target is an architecture (letters, digits, _ - .), optionally /board".into(),
            );
        }
        Ok(Target {
            arch: arch.to_owned(),
            board: board.map(str::to_owned),
        })
    }

    /// Whether a node with these facts may take the firmware.
    pub fn matches(&self, arch: &str, board: &str) -> bool {
        self.arch == arch && self.board.as_deref().is_none_or(|b| b == board)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.board {
            Some(b) => write!(f, "{}/{b}", self.arch),
            None => f.write_str(&self.arch),
        }
    }
}

/// A firmware version: what the node reports once it runs it.
pub fn check_version(text: &str) -> Result<String, String> {
    let v = text.trim();
    if v.is_empty() || v.len() > MAX_VERSION {
        return Err(format!(
            "Give the version the node reports once it runs this firmware (at most {MAX_VERSION} characters)"
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
    {
        return Err("A version has letters, digits and . _ - + only".into());
    }
    Ok(v.to_owned())
}

impl FirmwareDraft {
    /// Fields: `version`, `target`, `notes`.
    pub fn validate(&self) -> Result<FirmwareMeta, Vec<ValidationError>> {
        let mut errors = vec![];
        let version = check_version(&self.version)
            .map_err(|e| errors.push(ValidationError::new("version", e)))
            .ok();
        let target = Target::parse(&self.target)
            .map_err(|e| errors.push(ValidationError::new("target", e)))
            .ok();
        if self.notes.len() > MAX_NOTES {
            errors.push(ValidationError::new(
                "notes",
                format!("Notes are at most {MAX_NOTES} bytes"),
            ));
        }
        match (version, target) {
            (Some(version), Some(target)) if errors.is_empty() => Ok(FirmwareMeta {
                version,
                target,
                notes: self.notes.trim().to_owned(),
            }),
            _ => Err(errors),
        }
    }
}

/// What the panel signs for an artifact and the agent checks before installing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub artifact_id: String,
    pub version: String,
    pub target: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
}

impl Manifest {
    /// The exact bytes the signature covers: one field per line after a fixed header, so no
    /// serializer's choices can make two parties disagree.
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "flotilla-firmware-manifest-v1\n{}\n{}\n{}\n{}\n{}\n",
            self.artifact_id, self.version, self.target, self.size, self.sha256
        )
        .into_bytes()
    }
}

/// A manifest with the panel's Ed25519 signature (base64) over [`Manifest::signed_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedManifest {
    pub manifest: Manifest,
    pub signature: String,
}

/// An artifact as the Firmware page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareView {
    pub id: String,
    pub version: String,
    pub target: String,
    pub notes: String,
    pub size: u64,
    pub sha256: String,
    /// The panel's signature of the manifest (base64), for anyone who wants to check it.
    pub signature: String,
    pub uploaded_by: String,
    pub uploaded_at_ms: i64,
}

/// Most nodes upgraded at once, and the bounds of the wait for a node to come back healthy.
pub const MAX_CONCURRENCY: u32 = 10;
pub const GATE_SECS: std::ops::RangeInclusive<u32> = 20..=3600;
/// How much longer than the panel's wait a node's own trial lasts, so the panel decides first.
pub const TRIAL_MARGIN_SECS: u32 = 60;

/// An upgrade of standalone nodes as the form sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeDraft {
    pub artifact_id: String,
    pub node_ids: Vec<String>,
    /// Nodes upgraded at the same time.
    pub concurrency: String,
    /// Seconds a node may take to come back healthy on the new version after its reboot.
    pub gate_secs: String,
}

/// A checked upgrade request (the nodes are checked against the fleet by the panel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upgrade {
    pub artifact_id: String,
    pub node_ids: Vec<String>,
    pub concurrency: u32,
    pub gate_secs: u32,
}

impl UpgradeDraft {
    /// Fields: `artifact`, `nodes`, `concurrency`, `gate_secs`.
    pub fn validate(&self) -> Result<Upgrade, Vec<ValidationError>> {
        let mut errors = vec![];
        if self.artifact_id.trim().is_empty() {
            errors.push(ValidationError::new("artifact", "Choose a firmware"));
        }
        let mut node_ids: Vec<String> = self.node_ids.iter().map(|n| n.trim().to_owned()).collect();
        node_ids.sort();
        node_ids.dedup();
        node_ids.retain(|n| !n.is_empty());
        if node_ids.is_empty() {
            errors.push(ValidationError::new("nodes", "Choose at least one node"));
        }
        let concurrency = match self.concurrency.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_CONCURRENCY).contains(&n) => n,
            _ => {
                errors.push(ValidationError::new(
                    "concurrency",
                    format!("Upgrade from 1 to {MAX_CONCURRENCY} nodes at a time"),
                ));
                1
            }
        };
        let gate_secs = match self.gate_secs.trim().parse::<u32>() {
            Ok(n) if GATE_SECS.contains(&n) => n,
            _ => {
                errors.push(ValidationError::new(
                    "gate_secs",
                    format!(
                        "Give the seconds a node may take to come back, from {} to {}",
                        GATE_SECS.start(),
                        GATE_SECS.end()
                    ),
                ));
                0
            }
        };
        if errors.is_empty() {
            Ok(Upgrade {
                artifact_id: self.artifact_id.trim().to_owned(),
                node_ids,
                concurrency,
                gate_secs,
            })
        } else {
            Err(errors)
        }
    }
}

/// A rollout of a firmware to every node of a cluster, as the form sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutDraft {
    pub cluster_id: String,
    pub artifact_id: String,
    /// Seconds each node may take to come back healthy (and its tasks to run again).
    pub gate_secs: String,
}

impl RolloutDraft {
    /// Fields: `cluster`, `artifact`, `gate_secs`. The gate time's bounds are an upgrade's.
    pub fn validate(&self) -> Result<(String, String, u32), Vec<ValidationError>> {
        let as_upgrade = UpgradeDraft {
            artifact_id: self.artifact_id.clone(),
            node_ids: vec![self.cluster_id.clone()],
            concurrency: "1".into(),
            gate_secs: self.gate_secs.clone(),
        };
        match as_upgrade.validate() {
            Ok(u) => Ok((
                self.cluster_id.trim().to_owned(),
                u.artifact_id,
                u.gate_secs,
            )),
            Err(errors) => Err(errors
                .into_iter()
                .map(|e| {
                    if e.field == "nodes" {
                        ValidationError::new("cluster", "Choose a cluster")
                    } else {
                        e
                    }
                })
                .collect()),
        }
    }
}

/// The newest firmware rollout of a cluster, for the Firmware page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRollout {
    pub cluster_id: String,
    pub cluster: String,
    pub workflow: crate::workflow::WorkflowView,
}

/// A node as the upgrade form offers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareNode {
    pub id: String,
    pub hostname: String,
    pub online: bool,
    pub arch: String,
    pub board: String,
    pub version: String,
    /// Its upgrade state, as a label.
    pub state: String,
    /// The cluster it belongs to: upgraded by that cluster's rollout, not from here.
    pub cluster: Option<String>,
}

/// Where a node is in an upgrade, as its agent reports it (persisted on the node, so it holds
/// over a reboot).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum FirmwareState {
    /// No upgrade in progress.
    #[default]
    Idle,
    /// The artifact is being downloaded, checked and written to the other slot.
    Installing {
        version: String,
    },
    /// The installer wrote the new version to the other slot; it runs after a reboot.
    Installed {
        version: String,
    },
    /// The node runs the new version on trial: it commits when the panel says so, and rolls
    /// back by itself when no commit came by `deadline_ms` (its own clock).
    Trial {
        version: String,
        deadline_ms: i64,
    },
    /// The last upgrade ended: committed, rolled back (with why) or failed (with why).
    Committed {
        version: String,
    },
    RolledBack {
        version: String,
        reason: String,
    },
    Failed {
        version: String,
        reason: String,
    },
}

impl FirmwareState {
    /// Bounds its texts (as [`crate::node::NodeFacts::cap`] does); true when anything was cut.
    pub fn cap(&mut self) -> bool {
        use crate::node::cap as cut;
        match self {
            FirmwareState::Idle => false,
            FirmwareState::Installed { version }
            | FirmwareState::Installing { version }
            | FirmwareState::Trial { version, .. }
            | FirmwareState::Committed { version } => cut(version, MAX_VERSION),
            FirmwareState::RolledBack { version, reason }
            | FirmwareState::Failed { version, reason } => {
                cut(version, MAX_VERSION) | cut(reason, crate::node::caps::TEXT)
            }
        }
    }

    /// An upgrade of the node is under way (between the download and the commit or roll-back).
    pub fn upgrading(&self) -> bool {
        matches!(
            self,
            FirmwareState::Installing { .. }
                | FirmwareState::Installed { .. }
                | FirmwareState::Trial { .. }
        )
    }

    pub fn label(&self) -> String {
        match self {
            FirmwareState::Idle => "idle".into(),
            FirmwareState::Installing { version } => format!("installing {version}"),
            FirmwareState::Installed { version } => format!("{version} installed, reboot pending"),
            FirmwareState::Trial { version, .. } => format!("{version} on trial"),
            FirmwareState::Committed { version } => format!("{version} committed"),
            FirmwareState::RolledBack { version, reason } => {
                format!("{version} rolled back: {reason}")
            }
            FirmwareState::Failed { version, reason } => format!("{version} failed: {reason}"),
        }
    }
}

/// Lowercase hex of bytes (digests).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(version: &str, target: &str) -> FirmwareDraft {
        FirmwareDraft {
            version: version.into(),
            target: target.into(),
            notes: String::new(),
        }
    }

    #[test]
    fn a_valid_draft_is_trimmed() {
        let m = draft(" lab-2.0.0 ", "x86_64/lab")
            .validate()
            .expect("valid");
        assert_eq!(m.version, "lab-2.0.0");
        assert_eq!(m.target.to_string(), "x86_64/lab");
    }

    #[test]
    fn bad_fields_are_named() {
        let errors = draft("2.0 beta", "").validate().expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["version", "target"]);
        let errors = draft("2", "x86 64").validate().expect_err("invalid");
        assert_eq!(errors[0].field, "target");
        let mut long = draft("2", "x86_64");
        long.notes = "x".repeat(MAX_NOTES + 1);
        assert_eq!(long.validate().expect_err("long")[0].field, "notes");
    }

    #[test]
    fn upgrade_requests_are_bounded() {
        let ok = UpgradeDraft {
            artifact_id: "a".into(),
            node_ids: vec!["n2".into(), "n1".into(), "n2".into()],
            concurrency: "2".into(),
            gate_secs: "120".into(),
        };
        let u = ok.validate().expect("valid");
        assert_eq!(u.node_ids, ["n1", "n2"]);
        let bad = UpgradeDraft {
            artifact_id: " ".into(),
            node_ids: vec![],
            concurrency: "11".into(),
            gate_secs: "5".into(),
        };
        let fields: Vec<_> = bad
            .validate()
            .expect_err("invalid")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["artifact", "nodes", "concurrency", "gate_secs"]);
    }

    #[test]
    fn targets_match_arch_and_optional_board() {
        let any = Target::parse("x86_64").expect("valid");
        assert!(any.matches("x86_64", "whatever"));
        assert!(!any.matches("aarch64", ""));
        let board = Target::parse("aarch64/rpi4").expect("valid");
        assert!(board.matches("aarch64", "rpi4"));
        assert!(!board.matches("aarch64", "rpi5"));
    }

    #[test]
    fn the_signed_bytes_name_every_field() {
        let m = Manifest {
            artifact_id: "a1".into(),
            version: "2.0".into(),
            target: "x86_64".into(),
            size: 12,
            sha256: "ab".into(),
        };
        assert_eq!(
            String::from_utf8(m.signed_bytes()).expect("utf8"),
            "flotilla-firmware-manifest-v1\na1\n2.0\nx86_64\n12\nab\n"
        );
        let mut other = m.clone();
        other.size = 13;
        assert_ne!(m.signed_bytes(), other.signed_bytes());
    }
}
