//! The audit log as a whole: every change made through the panel, paged and searched for the
//! Audit page (Supervisors and Administrators). A cluster's own changes are on its page
//! ([`crate::clusters::Clusters::changes`]).
use domain::Permission;
use domain::audit::AuditEntry;
use domain::list::{AuditSort, ListQuery, Page};

use crate::ControlError;
use crate::auth::Actor;
use crate::store::Store;

#[derive(Clone)]
pub struct Audit {
    store: Store,
}

impl Audit {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// One page of the log: entries that hold the search in who, what, target or detail.
    pub async fn page(
        &self,
        actor: &Actor,
        query: &ListQuery<AuditSort>,
    ) -> Result<Page<AuditEntry>, ControlError> {
        actor.require(Permission::Supervise)?;
        let needle = query.needle();
        let matched = self.store.audit_count(&needle).await?;
        let (offset, page) = query.offset(matched);
        let rows = self
            .store
            .audit_page(&needle, query.newest_first(), offset, query.per_page)
            .await?;
        Ok(Page {
            rows,
            page,
            per_page: query.per_page,
            matched,
        })
    }
}
