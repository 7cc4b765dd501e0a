//! The node list as the server pages, searches, filters and sorts it.
use std::time::Duration;

use control::testing::{AgentLink, TestPanel, facts};
use domain::Role;
use domain::list::{ListQuery, NodePage, NodeSort};
use domain::node::Connectivity;

fn hosts(page: &NodePage) -> Vec<&str> {
    page.page.rows.iter().map(|n| n.hostname.as_str()).collect()
}

async fn list(
    h: &TestPanel,
    edit: impl FnOnce(&mut ListQuery<NodeSort>),
    status: Option<Connectivity>,
) -> NodePage {
    let mut query = ListQuery::default();
    edit(&mut query);
    h.panel
        .nodes
        .page(&h.admin, &query, status)
        .await
        .expect("a page")
}

#[tokio::test]
async fn the_node_list_is_paged_searched_filtered_and_sorted_on_the_server() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    // edge-1..edge-5 enrolled; edge-2 and edge-4 connected (edge-4 last), the rest never were.
    let mut links = vec![];
    for i in 1..=5 {
        let host = format!("edge-{i}");
        let node = h.enrol(&host).await;
        if i % 2 == 0 {
            let ip = format!("10.9.0.{i}");
            links.push(AgentLink::connect(&h.panel, &node.token, facts(&host, Some(&ip))).await);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    let all = list(&h, |_| {}, None).await;
    assert_eq!((all.total, all.online, all.page.matched), (5, 2, 5));
    assert_eq!(
        hosts(&all),
        ["edge-1", "edge-2", "edge-3", "edge-4", "edge-5"]
    );

    // Pages of two: the third holds the last node, and a page past the end shows the last one.
    let third = list(&h, |q| (q.per_page, q.page) = (2, 3), None).await;
    assert_eq!(
        (hosts(&third), third.page.page, third.page.pages()),
        (vec!["edge-5"], 3, 3)
    );
    let past = list(&h, |q| (q.per_page, q.page) = (2, 9), None).await;
    assert_eq!((hosts(&past), past.page.page), (vec!["edge-5"], 3));

    // Search: by address (from the facts), by name, case-insensitively; the counts stay the fleet's.
    let by_ip = list(&h, |q| q.search = "10.9.0.4".into(), None).await;
    assert_eq!(
        (hosts(&by_ip), by_ip.total, by_ip.online),
        (vec!["edge-4"], 5, 2)
    );
    let by_name = list(&h, |q| q.search = "EDGE-3".into(), None).await;
    assert_eq!(hosts(&by_name), ["edge-3"]);
    let none = list(&h, |q| q.search = "nothing".into(), None).await;
    assert_eq!((none.page.matched, none.page.rows.len()), (0, 0));

    // Status filter and sorting by status, last seen and name (descending).
    let online = list(&h, |_| {}, Some(Connectivity::Online)).await;
    assert_eq!(hosts(&online), ["edge-2", "edge-4"]);
    assert!(
        online
            .page
            .rows
            .iter()
            .all(|n| n.connectivity == Connectivity::Online)
    );
    let offline = list(
        &h,
        |q| q.search = "edge".into(),
        Some(Connectivity::Offline),
    )
    .await;
    assert_eq!(hosts(&offline), ["edge-1", "edge-3", "edge-5"]);
    let by_status = list(&h, |q| q.sort = NodeSort::Status, None).await;
    assert_eq!(
        hosts(&by_status),
        ["edge-2", "edge-4", "edge-1", "edge-3", "edge-5"]
    );
    let seen_last = list(
        &h,
        |q| (q.sort, q.descending) = (NodeSort::LastSeen, true),
        None,
    )
    .await;
    assert_eq!(&hosts(&seen_last)[..2], ["edge-4", "edge-2"]);
    let backwards = list(&h, |q| q.descending = true, None).await;
    assert_eq!(
        hosts(&backwards),
        ["edge-5", "edge-4", "edge-3", "edge-2", "edge-1"]
    );

    // A node that goes away shows offline on its page and in the counts.
    drop(links.pop());
    control::testing::wait_for("edge-4 offline", async || {
        list(&h, |_| {}, None).await.online == 1
    })
    .await;
    let after = list(&h, |q| q.search = "edge-4".into(), None).await;
    assert_eq!(after.page.rows[0].connectivity, Connectivity::Offline);

    // Every role may read the list.
    let viewer = h.user("vera", Role::Viewer).await;
    let page = h
        .panel
        .nodes
        .page(&viewer, &ListQuery::default(), None)
        .await
        .expect("a Viewer reads the list");
    assert_eq!(page.total, 5);
}
