//! The audit log as the Audit page reads it: paged, searched and ordered in the store.
use std::time::Duration;

use control::ControlError;
use control::testing::TestPanel;
use domain::Role;
use domain::enrolment::NewEnrolmentKey;
use domain::list::{AuditSort, ListQuery};

#[tokio::test]
async fn the_audit_log_is_paged_searched_and_ordered_for_supervisors() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let supervisor = h.user("susan", Role::Supervisor).await;
    let editor = h.user("eddie", Role::Editor).await;
    for label in ["line 1", "line 2", "line_3"] {
        h.panel
            .enrolment
            .create_key(
                &h.admin,
                NewEnrolmentKey::parse(label, "1", None).expect("valid"),
            )
            .await
            .expect("key");
    }
    let page = |edit: fn(&mut ListQuery<AuditSort>)| {
        let mut q = ListQuery::default();
        edit(&mut q);
        let audit = h.panel.audit.clone();
        let actor = supervisor.clone();
        async move { audit.page(&actor, &q).await.expect("a page") }
    };

    // Newest first: the third key, then the second…; everything recorded is counted.
    let all = page(|_| {}).await;
    let actions: Vec<&str> = all.rows.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(&actions[..3], ["enrolment_key.create"; 3]);
    assert_eq!(all.rows[0].detail, "line_3", "{:?}", all.rows[0]);
    assert!(actions.contains(&"user.create"));
    let recorded = all.matched;
    assert_eq!(recorded as usize, all.rows.len());

    // Oldest first, two per page: the first page starts with the bootstrap of the admin.
    let oldest = page(|q| (q.sort, q.per_page) = (AuditSort::Oldest, 2)).await;
    assert_eq!(oldest.rows[0].action, "user.bootstrap");
    assert_eq!(
        (oldest.rows.len(), oldest.pages() as u64),
        (2, recorded.div_ceil(2))
    );
    // A page past the end is the last one.
    let last = page(|q| (q.per_page, q.page) = (2, 999)).await;
    assert_eq!(last.page as u64, recorded.div_ceil(2));

    // Search looks at who, what, target and detail; `_` is a character, not a wildcard.
    let keys = page(|q| q.search = "line".into()).await;
    assert_eq!(keys.matched, 3);
    let underscore = page(|q| q.search = "e_3".into()).await;
    assert_eq!(underscore.rows.len(), 1);
    assert_eq!(underscore.rows[0].detail, "line_3");
    let by_target = page(|q| q.search = "eddie".into()).await;
    assert!(
        by_target
            .rows
            .iter()
            .any(|e| e.action == "user.create" && e.target == "eddie")
    );
    assert_eq!(
        page(|q| q.search = "nothing like it".into()).await.matched,
        0
    );

    // Editors and Viewers do not read the whole log.
    let refused = h.panel.audit.page(&editor, &ListQuery::default()).await;
    assert!(
        matches!(refused, Err(ControlError::Forbidden)),
        "{refused:?}"
    );
}
