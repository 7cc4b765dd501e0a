//! Roles and what each may do. Checked on the server in every server function; the UI uses the
//! same rules only to hide controls a user could not use anyway.
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ValidationError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Viewer,
    Editor,
    Supervisor,
    Administrator,
}

/// What an action needs. Each permission implies the ones listed before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// See nodes, clusters, keys' metadata and users' names.
    Read,
    /// Day-to-day operations: change things on nodes and clusters.
    Operate,
    /// Sensitive operations: reveal secrets, firmware, destructive cluster actions.
    Supervise,
    /// Users, roles and enrolment keys.
    Administer,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Administrator,
        Role::Supervisor,
        Role::Editor,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Supervisor => "supervisor",
            Role::Administrator => "administrator",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Viewer => "Viewer",
            Role::Editor => "Editor",
            Role::Supervisor => "Supervisor",
            Role::Administrator => "Administrator",
        }
    }

    pub fn parse(value: &str) -> Result<Role, ValidationError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| {
                ValidationError::new(
                    "role",
                    "Choose one of Administrator, Supervisor, Editor or Viewer.",
                )
            })
    }

    pub fn allows(self, permission: Permission) -> bool {
        let needed = match permission {
            Permission::Read => Role::Viewer,
            Permission::Operate => Role::Editor,
            Permission::Supervise => Role::Supervisor,
            Permission::Administer => Role::Administrator,
        };
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_reads_but_never_changes() {
        assert!(Role::Viewer.allows(Permission::Read));
        assert!(!Role::Viewer.allows(Permission::Operate));
        assert!(!Role::Viewer.allows(Permission::Administer));
    }

    #[test]
    fn permissions_are_cumulative() {
        assert!(Role::Editor.allows(Permission::Operate));
        assert!(!Role::Editor.allows(Permission::Supervise));
        assert!(Role::Supervisor.allows(Permission::Supervise));
        assert!(!Role::Supervisor.allows(Permission::Administer));
        assert!(Role::Administrator.allows(Permission::Administer));
    }

    #[test]
    fn parse_round_trips_and_rejects_unknown() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
        assert_eq!(Role::parse(" Editor "), Ok(Role::Editor));
        assert!(Role::parse("root").is_err());
    }
}
