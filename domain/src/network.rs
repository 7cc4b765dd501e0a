//! Overlay networks scoped to a cluster.
use serde::{Deserialize, Serialize};

use crate::ValidationError;
use crate::net::Cidr;

/// An overlay network as a manager reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkView {
    pub id: String,
    pub name: String,
    pub subnets: Vec<String>,
    pub attachable: bool,
    pub encrypted: bool,
    /// Swarm's routing-mesh network (not ours to delete).
    pub ingress: bool,
    /// Services attached to it.
    pub services: usize,
}

/// The "new network" form, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDraft {
    pub name: String,
    /// Optional CIDR inside one of the cluster's address pools; empty lets Swarm pick the next
    /// free subnet of the configured size from the pools.
    pub subnet: String,
    pub attachable: bool,
    pub encrypted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub name: String,
    pub subnet: Option<Cidr>,
    pub attachable: bool,
    pub encrypted: bool,
}

impl NetworkDraft {
    pub fn validate(
        &self,
        pools: &[Cidr],
        existing: &[NetworkView],
    ) -> Result<NetworkSpec, Vec<ValidationError>> {
        let mut e = vec![];
        let name = self.name.trim();
        let valid_chars = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if name.is_empty()
            || name.len() > 63
            || !valid_chars
            || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        {
            e.push(ValidationError::new(
                "name",
                "use 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit",
            ));
        } else if name == "ingress" || existing.iter().any(|n| n.name == name) {
            e.push(ValidationError::new(
                "name",
                format!("a network named {name} exists"),
            ));
        }
        let subnet = if self.subnet.trim().is_empty() {
            None
        } else {
            match Cidr::parse_network(&self.subnet) {
                Err(m) => {
                    e.push(ValidationError::new("subnet", m));
                    None
                }
                Ok(c)
                    if !pools
                        .iter()
                        .any(|p| p.prefix <= c.prefix && p.contains(c.addr)) =>
                {
                    let list = pools
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ");
                    e.push(ValidationError::new(
                        "subnet",
                        format!("must lie inside the cluster's address pools ({list})"),
                    ));
                    None
                }
                Ok(c) if c.prefix > 29 => {
                    e.push(ValidationError::new(
                        "subnet",
                        "use a prefix of /29 or shorter",
                    ));
                    None
                }
                Ok(c) => match existing.iter().find(|n| {
                    n.subnets
                        .iter()
                        .filter_map(|s| Cidr::parse(s).ok())
                        .any(|s| s.overlaps(&c))
                }) {
                    Some(n) => {
                        e.push(ValidationError::new(
                            "subnet",
                            format!("overlaps network {}", n.name),
                        ));
                        None
                    }
                    None => Some(c),
                },
            }
        };
        if e.is_empty() {
            Ok(NetworkSpec {
                name: name.to_owned(),
                subnet,
                attachable: self.attachable,
                encrypted: self.encrypted,
            })
        } else {
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools() -> Vec<Cidr> {
        vec![Cidr::parse_network("10.200.0.0/16").expect("valid")]
    }

    fn existing() -> Vec<NetworkView> {
        vec![NetworkView {
            id: "1".into(),
            name: "backend".into(),
            subnets: vec!["10.200.1.0/24".into()],
            attachable: true,
            encrypted: false,
            ingress: false,
            services: 0,
        }]
    }

    fn draft(name: &str, subnet: &str) -> NetworkDraft {
        NetworkDraft {
            name: name.into(),
            subnet: subnet.into(),
            attachable: true,
            encrypted: false,
        }
    }

    #[test]
    fn good_networks() {
        assert_eq!(
            draft("frontend", "")
                .validate(&pools(), &existing())
                .map(|s| s.subnet),
            Ok(None)
        );
        let s = draft("db", "10.200.9.0/24")
            .validate(&pools(), &existing())
            .expect("valid");
        assert_eq!(
            s.subnet.map(|c| c.to_string()).as_deref(),
            Some("10.200.9.0/24")
        );
    }

    #[test]
    fn bad_networks() {
        let field = |d: NetworkDraft| {
            d.validate(&pools(), &existing())
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(field(draft("", "")), vec!["name"]);
        assert_eq!(field(draft("-x", "")), vec!["name"]);
        assert_eq!(field(draft("backend", "")), vec!["name"]);
        assert_eq!(field(draft("ingress", "")), vec!["name"]);
        assert_eq!(field(draft("x", "10.201.0.0/24")), vec!["subnet"]);
        assert_eq!(field(draft("x", "10.200.1.128/25")), vec!["subnet"]);
        assert_eq!(field(draft("x", "10.200.1.0/23")), vec!["subnet"]);
        assert_eq!(field(draft("x", "10.200.0.0/30")), vec!["subnet"]);
    }
}
