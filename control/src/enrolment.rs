//! Enrolment keys and the one-time exchange of a key for a node identity.
use domain::Permission;
use domain::enrolment::{CreatedEnrolmentKey, EnrolmentKeyView, NewEnrolmentKey};
use domain::event::UiEvent;
use domain::protocol::{EnrolRequest, EnrolResponse, PROTOCOL_VERSION};

use crate::ControlError;
use crate::auth::Actor;
use crate::events::Events;
use crate::gateway::Gateway;
use crate::secret::{self, now_ms};
use crate::store::{Enrolled, KeyRow, NodeEnrolment, Store};

#[derive(Clone)]
pub struct Enrolment {
    store: Store,
    events: Events,
    gateway: Gateway,
    agent_url: String,
    /// The panel's firmware signing key (base64), given to every enrolled agent.
    firmware_key: String,
}

/// What an agent is told when its machine is enrolled already and it proved nothing.
const MACHINE_TAKEN: &str = "this machine is enrolled already: enrol with the node's current \
                             token, or ask an Administrator to allow re-enrolment on its node page";

impl Enrolment {
    /// `agent_url` is the panel as agents reach it (shown in the enrolment command).
    pub fn new(
        store: Store,
        events: Events,
        gateway: Gateway,
        agent_url: String,
        firmware_key: String,
    ) -> Self {
        Self {
            store,
            events,
            gateway,
            agent_url,
            firmware_key,
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
            max_uses: new.max_uses.map(i64::from),
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

    /// Exchanges an enrolment key for a node id and a fresh node token. A machine id that is
    /// enrolled already needs the node's current token or an Administrator's permission.
    /// Refusals carry a reason the agent logs; they never reveal whether a key ever existed
    /// beyond "unknown". Nothing is written unless the key and the machine are accepted, so a
    /// flood of bogus enrolments only reads.
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
            || hostname.len() > domain::node::caps::HOSTNAME
            || machine_id.is_empty()
            || machine_id.len() > domain::node::caps::MACHINE_ID
            || request.key.len() > 256
        {
            return refuse("hostname and machine id are required (at most 253 and 128 characters)");
        }
        let now = now_ms();
        let key_hash = secret::hash(request.key.trim());
        let key_problem = match self.store.key_by_hash(&key_hash).await? {
            None => Some("unknown enrolment key"),
            Some(k) => k.unusable(now),
        };
        if let Some(reason) = key_problem {
            tracing::warn!(hostname, reason, "enrolment refused");
            return refuse(reason);
        }
        let presented = request
            .node_token
            .as_deref()
            .map(|t| secret::hash(t.trim()));
        if presented.is_none()
            && let Some(node) = self.store.node_by_machine(machine_id).await?
            && node.reenrol_until.is_none_or(|until| until <= now)
        {
            tracing::warn!(
                hostname,
                machine_id,
                "enrolment refused: machine enrolled already"
            );
            return refuse(MACHINE_TAKEN);
        }
        let token = secret::token("flt_nt_");
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
                presented_token_hash: presented.as_deref(),
                now_ms: now,
            })
            .await?;
        let node_id = match enrolled {
            Enrolled::Node(id) => id,
            Enrolled::KeyRefused => {
                // Used up or revoked between the look-up and the write.
                tracing::warn!(hostname, "enrolment refused: key no longer usable");
                return refuse("enrolment key used up");
            }
            Enrolled::MachineTaken => {
                tracing::warn!(
                    hostname,
                    machine_id,
                    "enrolment refused: machine enrolled already"
                );
                return refuse(MACHINE_TAKEN);
            }
        };
        let again = node_id != new_node_id;
        if again {
            // The old token no longer works: a session that used it ends now.
            self.gateway.disconnect(&node_id);
        }
        self.store
            .audit(
                "agent",
                if again { "node.reenrol" } else { "node.enrol" },
                Some(&node_id),
                Some(hostname),
            )
            .await?;
        tracing::info!(node = %node_id, hostname, again, "node enrolled");
        self.events.publish(UiEvent::Node {
            id: node_id.clone(),
        });
        Ok(EnrolResponse::Enrolled {
            node_id,
            token,
            firmware_key: self.firmware_key.clone(),
        })
    }
}
