//! The Swarm secrets and configs of a cluster as its managers report them, each with where it
//! came from (an installed app, a version of a Global Secret, or made outside the panel) and the
//! services that use it. One that no service uses may be deleted; Swarm keeps the others.
use serde::{Deserialize, Serialize};

use super::secrets::parse_object_name;
use crate::swarm::SwarmObject;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Secret,
    Config,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Secret => "secret",
            ObjectKind::Config => "config",
        }
    }
}

/// Where a Swarm object came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Origin {
    /// Declared by the installed app of that name.
    App { stack: String },
    /// Carries a version of a Global Secret; `current` when it is the secret's current version.
    GlobalSecret {
        name: String,
        version: Option<u64>,
        current: bool,
    },
    /// Neither: created with the Docker CLI or another tool.
    Outside,
}

impl Origin {
    /// How the views name it.
    pub fn label(&self) -> String {
        match self {
            Origin::App { stack } => format!("app {stack}"),
            Origin::GlobalSecret {
                name,
                version: Some(v),
                current: true,
            } => format!("Global Secret {name} v{v} (current)"),
            Origin::GlobalSecret {
                name,
                version: Some(v),
                current: false,
            } => format!("Global Secret {name} v{v} (old)"),
            Origin::GlobalSecret { name, .. } => format!("Global Secret {name}"),
            Origin::Outside => "made outside the panel".into(),
        }
    }
}

/// One object in the views.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectView {
    pub kind: ObjectKind,
    pub name: String,
    pub created_at_ms: Option<i64>,
    pub origin: Origin,
    pub services: Vec<String>,
}

impl ObjectView {
    /// Only an object that no service uses may go.
    pub fn deletable(&self) -> bool {
        self.services.is_empty()
    }
}

/// A cluster's Swarm secrets and configs; `reported` is false while no manager reported its
/// swarm.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmObjectsView {
    pub reported: bool,
    pub secrets: Vec<ObjectView>,
    pub configs: Vec<ObjectView>,
}

/// The view of one reported object; `current` holds each Global Secret's current version.
pub fn view(kind: ObjectKind, o: &SwarmObject, current: &[(String, u64)]) -> ObjectView {
    let origin = match (&o.global_secret, &o.stack) {
        (Some(name), _) => {
            let version = parse_object_name(&o.name)
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v);
            Origin::GlobalSecret {
                current: version.is_some_and(|v| current.iter().any(|(n, c)| n == name && *c == v)),
                name: name.clone(),
                version,
            }
        }
        (None, Some(stack)) => Origin::App {
            stack: stack.clone(),
        },
        (None, None) => Origin::Outside,
    };
    ObjectView {
        kind,
        name: o.name.clone(),
        created_at_ms: o.created_at_ms,
        origin,
        services: o.services.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(
        name: &str,
        stack: Option<&str>,
        global: Option<&str>,
        services: &[&str],
    ) -> SwarmObject {
        SwarmObject {
            name: name.into(),
            created_at_ms: Some(1),
            stack: stack.map(Into::into),
            global_secret: global.map(Into::into),
            services: services.iter().map(|s| (*s).into()).collect(),
        }
    }

    #[test]
    fn each_object_names_where_it_came_from() {
        let current = [("DB_PASSWORD".to_string(), 3)];
        let of = |o: SwarmObject| view(ObjectKind::Secret, &o, &current);
        let v3 = of(object(
            "DB_PASSWORD_v3",
            None,
            Some("DB_PASSWORD"),
            &["shop_web"],
        ));
        assert_eq!(v3.origin.label(), "Global Secret DB_PASSWORD v3 (current)");
        assert!(!v3.deletable());
        let v2 = of(object("DB_PASSWORD_v2", None, Some("DB_PASSWORD"), &[]));
        assert_eq!(v2.origin.label(), "Global Secret DB_PASSWORD v2 (old)");
        assert!(v2.deletable());
        // A label that does not match the name is shown without a version.
        let odd = of(object("other", None, Some("DB_PASSWORD"), &[]));
        assert_eq!(odd.origin.label(), "Global Secret DB_PASSWORD");
        assert_eq!(
            of(object("shop_token", Some("shop"), None, &[]))
                .origin
                .label(),
            "app shop"
        );
        assert_eq!(
            of(object("by-hand", None, None, &[])).origin,
            Origin::Outside
        );
    }
}
