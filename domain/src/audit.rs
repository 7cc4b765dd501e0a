//! The audit log as the Audit page and a cluster's page show it: who changed what, and when.
//! Entries never carry a secret's value (the control plane records names and versions only).
use serde::{Deserialize, Serialize};

/// One recorded change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub actor: String,
    /// The recorded action, e.g. `cluster.secret.set`.
    pub action: String,
    /// What it was done to: a cluster's or node's id, a user's name…
    #[serde(default)]
    pub target: String,
    pub detail: String,
}

impl AuditEntry {
    /// The action in words, e.g. "set secrets" for `cluster.secret.set`. An action this build
    /// does not know (recorded by a newer panel) shows as recorded.
    pub fn what(&self) -> String {
        let known = match self.action.as_str() {
            "cluster.create" => "created the cluster",
            "cluster.edit" => "edited the cluster",
            "cluster.delete" => "deleted the cluster",
            "cluster.node" => "acted on a node",
            "cluster.node.add" => "added a node",
            "cluster.node.remove" => "removed a node",
            "cluster.network.create" => "created a network",
            "cluster.network.delete" => "deleted a network",
            "cluster.rotate_tokens" => "rotated the join tokens",
            "cluster.reveal_tokens" => "revealed the join tokens",
            "cluster.workflow.pause" => "paused an operation",
            "cluster.workflow.resume" => "resumed an operation",
            "cluster.workflow.retry" => "retried an operation",
            "cluster.workflow.abort" => "aborted an operation",
            "cluster.gate.add" => "added a rollout gate",
            "cluster.gate.delete" => "deleted a rollout gate",
            "cluster.config.save" => "changed the Global Config",
            "cluster.config.save-as" => "saved the Global Config under a name",
            "cluster.config.delete-saved" => "deleted a named Global Config",
            "cluster.secret.set" => "set secrets",
            "cluster.secret.delete" => "deleted a secret",
            "cluster.secret.reveal" => "revealed a secret",
            "cluster.secret.export" => "exported the secrets",
            "cluster.swarm-object.delete" => "deleted a Swarm secret or config",
            "registry.save" => "saved registry credentials",
            "registry.delete" => "deleted registry credentials",
            "workload.install" => "installed an app",
            "workload.update" => "updated an app",
            "workload.start" => "started an app",
            "workload.stop" => "stopped an app",
            "workload.uninstall" => "uninstalled an app",
            "app.create" => "added an app to the library",
            "app.version" => "added an app version",
            "app.delete" => "deleted an app from the library",
            "node.enrol" => "enrolled a node",
            "node.reenrol" => "re-enrolled a node",
            "node.remove" => "removed a node",
            "node.token_revoke" => "revoked a node's token",
            "node.reenrol_allow" => "allowed a node to re-enrol",
            "enrolment_key.create" => "created an enrolment key",
            "enrolment_key.revoke" => "revoked an enrolment key",
            "user.bootstrap" => "created the first administrator",
            "user.create" => "added a user",
            "user.role" => "changed a user's role",
            "user.password" => "changed their password",
            "user.password_reset" => "reset a user's password",
            "session.login" => "signed in",
            other => return other.to_owned(),
        };
        known.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            at_ms: 0,
            actor: "admin".into(),
            action: action.into(),
            target: String::new(),
            detail: String::new(),
        }
    }

    #[test]
    fn actions_read_as_words_and_unknown_ones_as_recorded() {
        assert_eq!(entry("cluster.secret.set").what(), "set secrets");
        assert_eq!(
            entry("cluster.config.save").what(),
            "changed the Global Config"
        );
        assert_eq!(entry("cluster.future.thing").what(), "cluster.future.thing");
    }
}
