//! The Swarm secrets and configs of a cluster (`domain::config::objects`): every object its
//! managers report, with where it came from and the services that use it. Deleting one is
//! refused while a service uses it (Swarm would refuse too) and audited.
use domain::Permission;
use domain::config::objects::{self, ObjectKind, ObjectView, SwarmObjectsView};
use domain::protocol::Command;

use super::Configs;
use crate::ControlError;
use crate::auth::Actor;
use crate::clusters::managers::{self, Avoid};

impl Configs {
    /// Every Swarm secret and config of the cluster, as its managers last reported them.
    pub async fn swarm_objects(
        &self,
        actor: &Actor,
        cluster_id: &str,
    ) -> Result<SwarmObjectsView, ControlError> {
        actor.require(Permission::Read)?;
        let cluster = self.cluster(cluster_id).await?;
        let members = self.store.members(cluster_id).await?;
        let Some(snapshot) = self.observed.swarm_of(&cluster, &members) else {
            return Ok(SwarmObjectsView::default());
        };
        let current: Vec<(String, u64)> = self
            .store
            .secrets(cluster_id)
            .await?
            .into_iter()
            .map(|s| (s.name, s.version))
            .collect();
        let views = |kind: ObjectKind, list: &[domain::swarm::SwarmObject]| -> Vec<ObjectView> {
            list.iter()
                .map(|o| objects::view(kind, o, &current))
                .collect()
        };
        Ok(SwarmObjectsView {
            reported: true,
            secrets: views(ObjectKind::Secret, &snapshot.secrets),
            configs: views(ObjectKind::Config, &snapshot.configs),
        })
    }

    /// Deletes a secret or config that no service uses (Supervisors and Administrators).
    pub async fn delete_swarm_object(
        &self,
        actor: &Actor,
        cluster_id: &str,
        kind: ObjectKind,
        name: &str,
    ) -> Result<(), ControlError> {
        actor.require(Permission::Supervise)?;
        let view = self.swarm_objects(actor, cluster_id).await?;
        let list = match kind {
            ObjectKind::Secret => &view.secrets,
            ObjectKind::Config => &view.configs,
        };
        let object = list.iter().find(|o| o.name == name).ok_or(match kind {
            ObjectKind::Secret => ControlError::NotFound("Swarm secret"),
            ObjectKind::Config => ControlError::NotFound("Swarm config"),
        })?;
        if !object.deletable() {
            return Err(ControlError::Conflict(format!(
                "{name} is used by {}: Swarm keeps it while a service uses it.",
                object.services.join(", ")
            )));
        }
        let members = self.store.members(cluster_id).await?;
        managers::on_manager(
            &self.gateway,
            &members,
            Avoid::Nobody,
            Command::SwarmObjectRemove {
                kind,
                name: name.to_owned(),
            },
        )
        .await
        .map_err(managers::Failure::into_error)?;
        let detail = format!("{} {name} ({})", kind.as_str(), object.origin.label());
        self.changed(actor, "cluster.swarm-object.delete", cluster_id, &detail)
            .await
    }
}
