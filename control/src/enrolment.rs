//! Enrolment keys and the one-time exchange of a key for a node identity.
use domain::Permission;
use domain::enrolment::{CreatedEnrolmentKey, EnrolmentKeyView, NewEnrolmentKey};
use domain::event::UiEvent;
use domain::protocol::{EnrolRequest, EnrolResponse, PROTOCOL_VERSION};

use crate::ControlError;
use crate::auth::Actor;
use crate::events::Events;
use crate::secret::{self, now_ms};
use crate::store::{KeyRow, NodeEnrolment, Store};

#[derive(Clone)]
pub struct Enrolment {
    store: Store,
    events: Events,
    agent_url: String,
}

impl Enrolment {
    /// `agent_url` is the panel as agents reach it (shown in the enrolment command).
    pub fn new(store: Store, events: Events, agent_url: String) -> Self {
        Self {
            store,
            events,
            agent_url,
        }
    }

    pub async fn create_key(
        &self,
        actor: &Actor,
        new: NewEnrolmentKey,
    ) -> Result<CreatedEnrolmentKey, ControlError> {
        actor.require(Permission::Administer)?;
        let now = now_ms();
        let row = KeyRow {
            id: uuid::Uuid::new_v4().to_string(),
            label: new.label,
            created_by: actor.username.clone(),
            created_at: now,
            expires_at: now + i64::from(new.expires_in_hours) * 3_600_000,
            revoked_at: None,
            uses: 0,
        };
        let secret = secret::token("flt_ek_");
        self.store.insert_key(&row, &secret::hash(&secret)).await?;
        self.store
            .audit(
                &actor.username,
                "enrolment_key.create",
                Some(&row.id),
                Some(&row.label),
            )
            .await?;
        self.events.publish(UiEvent::Keys);
        Ok(CreatedEnrolmentKey {
            key: row.into(),
            agent_command: domain::enrolment::agent_command(&self.agent_url, &secret),
            secret,
        })
    }

    pub async fn list_keys(&self, actor: &Actor) -> Result<Vec<EnrolmentKeyView>, ControlError> {
        actor.require(Permission::Read)?;
        Ok(self
            .store
            .list_keys()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn revoke_key(&self, actor: &Actor, id: &str) -> Result<(), ControlError> {
        actor.require(Permission::Administer)?;
        let key = self
            .store
            .key_by_id(id)
            .await?
            .ok_or(ControlError::NotFound("Enrolment key"))?;
        if !self.store.revoke_key(id, now_ms()).await? {
            return Err(ControlError::Conflict(format!(
                "The key \"{}\" is already revoked.",
                key.label
            )));
        }
        self.store
            .audit(
                &actor.username,
                "enrolment_key.revoke",
                Some(id),
                Some(&key.label),
            )
            .await?;
        self.events.publish(UiEvent::Keys);
        Ok(())
    }

    /// Exchanges an enrolment key for a node id and a fresh node token. Refusals carry a reason
    /// the agent logs; they never reveal whether a key ever existed beyond "unknown".
    pub async fn enrol(&self, request: EnrolRequest) -> Result<EnrolResponse, ControlError> {
        let refuse = |reason: &str| {
            Ok(EnrolResponse::Refused {
                reason: reason.to_owned(),
            })
        };
        if request.v != PROTOCOL_VERSION {
            return refuse("unsupported protocol version");
        }
        let hostname = request.hostname.trim();
        let machine_id = request.machine_id.trim();
        if hostname.is_empty()
            || hostname.len() > 253
            || machine_id.is_empty()
            || machine_id.len() > 128
        {
            return refuse("hostname and machine id are required (at most 253 and 128 characters)");
        }
        let key_hash = secret::hash(request.key.trim());
        let token = secret::token("flt_nt_");
        let now = now_ms();
        let new_node_id = uuid::Uuid::new_v4().to_string();
        let token_hash = secret::hash(&token);
        let enrolled = self
            .store
            .enrol_node(NodeEnrolment {
                key_hash: &key_hash,
                new_node_id: &new_node_id,
                machine_id,
                hostname,
                token_hash: &token_hash,
                now_ms: now,
            })
            .await?;
        let Some(node_id) = enrolled else {
            let reason = match self.store.key_by_hash(&key_hash).await? {
                None => "unknown enrolment key",
                Some(k) if k.revoked_at.is_some() => "enrolment key revoked",
                Some(_) => "enrolment key expired",
            };
            tracing::warn!(hostname, reason, "enrolment refused");
            return refuse(reason);
        };
        self.store
            .audit("agent", "node.enrol", Some(&node_id), Some(hostname))
            .await?;
        tracing::info!(node = %node_id, hostname, "node enrolled");
        self.events.publish(UiEvent::Node {
            id: node_id.clone(),
        });
        Ok(EnrolResponse::Enrolled { node_id, token })
    }
}
