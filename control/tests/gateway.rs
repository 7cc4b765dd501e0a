//! Gateway sessions driven through in-memory channels instead of a WebSocket.
use std::time::Duration;

use control::ControlError;
use control::gateway::{FrameBudget, Inbound};
use control::testing::{AgentLink, TestPanel, enrol_request, facts};
use domain::node::{Connectivity, IdentityAction};
use domain::protocol::{AgentMessage, Command, EnrolResponse, Outcome};
use futures::SinkExt;

async fn connect(h: &TestPanel, host: &str) -> AgentLink {
    let node = h.enrol(host).await;
    AgentLink::connect(&h.panel, &node.token, facts(host, None)).await
}

async fn connectivity(h: &TestPanel, node_id: &str) -> Connectivity {
    h.panel
        .nodes
        .get(&h.admin, node_id)
        .await
        .expect("node exists")
        .node
        .connectivity
}

#[tokio::test]
async fn hello_brings_a_node_online_and_heartbeats_do_not_write_the_store() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let mut a = connect(&h, "edge-1").await;
    assert_eq!(connectivity(&h, &a.node_id).await, Connectivity::Online);
    let stored_before = h
        .panel
        .store
        .node_by_id(&a.node_id)
        .await
        .expect("query")
        .expect("row")
        .last_seen_at;
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.send(AgentMessage::Heartbeat).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stored_after = h
        .panel
        .store
        .node_by_id(&a.node_id)
        .await
        .expect("query")
        .expect("row")
        .last_seen_at;
    assert_eq!(
        stored_before, stored_after,
        "a heartbeat must not write to the database"
    );
    let live = h.panel.gateway.is_online(&a.node_id).expect("online");
    assert!(
        Some(live) > stored_before,
        "the heartbeat moved the in-memory last-seen time"
    );
}

#[tokio::test]
async fn a_malformed_frame_closes_only_that_connection() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let mut bad = connect(&h, "edge-bad").await;
    let mut good = connect(&h, "edge-good").await;
    bad.to_panel
        .send(Inbound::Text("{\"v\":1,\"kind\":".into()))
        .await
        .expect("sent");
    let close = bad.session.await.expect("session ends");
    assert_eq!(close.code, 1008);
    assert_eq!(connectivity(&h, &bad.node_id).await, Connectivity::Offline);
    assert_eq!(connectivity(&h, &good.node_id).await, Connectivity::Online);
    good.send(AgentMessage::Heartbeat).await;
    assert!(!good.session.is_finished());
}

#[tokio::test]
async fn binary_frames_and_missing_hello_are_refused() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let node = h.enrol("edge-1").await;
    let mut a = AgentLink::connect(&h.panel, &node.token, facts("edge-1", None)).await;
    a.to_panel.send(Inbound::Binary).await.expect("sent");
    assert_eq!(a.session.await.expect("ends").code, 1008);

    let mut b = AgentLink::open(&h.panel, node.identity.clone());
    b.send(AgentMessage::Heartbeat).await;
    assert_eq!(
        b.session.await.expect("ends").reason,
        "expected hello first"
    );
}

#[tokio::test]
async fn wrong_tokens_are_refused() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let long = "x".repeat(10_000);
    for token in [Some("flt_nt_forged"), Some(""), Some(long.as_str()), None] {
        assert!(matches!(
            h.panel.gateway.authenticate(token, "test").await,
            Err(ControlError::Unauthenticated)
        ));
    }
}

#[tokio::test]
async fn a_silent_node_goes_offline_after_three_heartbeats() {
    let h = TestPanel::open(Duration::from_secs(1)).await;
    let a = connect(&h, "edge-1").await;
    assert_eq!(h.panel.gateway.sweep(), 0, "fresh connection is not silent");
    // Overdue by more than 1.5 heartbeats: still connected, but shown as silent.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(h.panel.gateway.sweep(), 0);
    let node = h.panel.nodes.get(&h.admin, &a.node_id).await.expect("node");
    assert_eq!(node.node.connectivity, Connectivity::Silent);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(h.panel.gateway.sweep(), 1);
    let close = a.session.await.expect("ends");
    assert_eq!(close.reason, "missed heartbeats");
    let node = h.panel.nodes.get(&h.admin, &a.node_id).await.expect("node");
    assert_eq!(node.node.connectivity, Connectivity::Offline);
    assert!(
        node.node.last_seen_ms.is_some(),
        "last seen is kept after going offline"
    );
}

#[tokio::test]
async fn commands_round_trip_by_id_and_only_their_node_may_answer() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let mut a = connect(&h, "edge-1").await;
    let mut other = connect(&h, "edge-2").await;
    let gw = h.panel.gateway.clone();
    let id = a.node_id.clone();
    let call = tokio::spawn(async move {
        gw.command(&id, Command::RefreshFacts, Duration::from_secs(5))
            .await
    });
    let (command_id, command) = a.next_command().await.expect("command");
    assert_eq!(command, Command::RefreshFacts);
    // Another node answers that command (ignored), the agent answers another id (ignored)...
    other
        .answer(
            &command_id,
            Outcome::Failed {
                message: "spoofed".into(),
            },
        )
        .await;
    a.answer("c-other", Outcome::DONE).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !call.is_finished(),
        "nobody but the node answers its command"
    );
    // ...then the right one.
    a.answer(&command_id, Outcome::DONE).await;
    assert_eq!(call.await.expect("joins").expect("answered"), Outcome::DONE);
}

#[tokio::test]
async fn commands_to_offline_or_mute_nodes_fail_clearly() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let a = connect(&h, "edge-1").await;
    let err = h
        .panel
        .gateway
        .command(
            &a.node_id,
            Command::RefreshFacts,
            Duration::from_millis(100),
        )
        .await;
    assert!(matches!(err, Err(ControlError::Unavailable(m)) if m.contains("did not answer")));
    let err = h
        .panel
        .gateway
        .command(
            "no-such-node",
            Command::RefreshFacts,
            Duration::from_millis(100),
        )
        .await;
    assert!(matches!(err, Err(ControlError::Unavailable(m)) if m.contains("offline")));
}

#[tokio::test]
async fn a_second_connection_replaces_the_first() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let node = h.enrol("edge-1").await;
    let first = AgentLink::connect(&h.panel, &node.token, facts("edge-1", None)).await;
    let _second = AgentLink::connect(&h.panel, &node.token, facts("edge-1", None)).await;
    assert_eq!(
        first.session.await.expect("ends").reason,
        "replaced by a newer connection"
    );
    assert_eq!(connectivity(&h, &first.node_id).await, Connectivity::Online);
}

#[tokio::test]
async fn revoked_keys_enrol_nothing() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let keys = h.panel.enrolment.list_keys(&h.admin).await.expect("list");
    h.panel
        .enrolment
        .revoke_key(&h.admin, &keys[0].id)
        .await
        .expect("revoke");
    assert_eq!(
        h.panel
            .enrolment
            .enrol(enrol_request(&h.key, "edge"))
            .await
            .expect("runs"),
        EnrolResponse::Refused {
            reason: "enrolment key revoked".into()
        }
    );
    let list = h
        .panel
        .nodes
        .page(&h.admin, &Default::default(), None)
        .await
        .expect("list");
    assert_eq!(list.total, 0);
}

/// Issue: anybody with a key and a node's machine id (a Viewer could read it) re-enrolled as
/// that node, locked the real agent out and received its commands.
#[tokio::test]
async fn re_enrolment_by_machine_id_alone_cannot_take_a_node_over() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let node = h.enrol("edge-1").await;
    let mut real = AgentLink::connect(&h.panel, &node.token, facts("edge-1", None)).await;
    let refused = h
        .panel
        .enrolment
        .enrol(enrol_request(&h.key, "edge-1"))
        .await
        .expect("runs");
    assert!(
        matches!(refused, EnrolResponse::Refused { ref reason } if reason.contains("enrolled already")),
        "{refused:?}"
    );
    real.send(AgentMessage::Heartbeat).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !real.session.is_finished(),
        "the real agent stays connected"
    );
    assert!(
        h.panel
            .gateway
            .authenticate(Some(&node.token), "t")
            .await
            .is_ok()
    );

    // A Viewer does not even see the machine id.
    let viewer = h
        .panel
        .auth
        .create_user(
            &h.admin,
            domain::user::Username::parse("vera").expect("name"),
            domain::user::Password::parse("viewer password").expect("pw"),
            domain::Role::Viewer,
        )
        .await
        .expect("user");
    let vera = h
        .panel
        .auth
        .login(&viewer.username, "viewer password", control::testing::HERE)
        .await
        .expect("login")
        .actor;
    let seen = h
        .panel
        .nodes
        .get(&vera, &node.identity.node_id)
        .await
        .expect("node");
    assert_eq!(seen.identity.machine_id, None);
    assert_eq!(seen.facts.map(|f| f.machine_id), Some(String::new()));

    // With the node's current token it may re-enrol (rotating its token); the old session ends.
    let mut with_token = enrol_request(&h.key, "edge-1");
    with_token.node_token = Some(node.token.clone());
    let EnrolResponse::Enrolled { node_id, token, .. } =
        h.panel.enrolment.enrol(with_token).await.expect("runs")
    else {
        panic!("refused")
    };
    assert_eq!(node_id, node.identity.node_id);
    assert_eq!(real.session.await.expect("ends").code, 1008);
    assert!(
        h.panel
            .gateway
            .authenticate(Some(&node.token), "t")
            .await
            .is_err()
    );
    assert!(
        h.panel
            .gateway
            .authenticate(Some(&token), "t")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn administrators_revoke_tokens_remove_nodes_and_allow_re_enrolment() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let node = h.enrol("edge-1").await;
    let id = node.identity.node_id.clone();
    let a = AgentLink::connect(&h.panel, &node.token, facts("edge-1", None)).await;
    h.panel
        .nodes
        .identity_action(&h.admin, &id, IdentityAction::RevokeToken)
        .await
        .expect("revokes");
    assert_eq!(a.session.await.expect("disconnected at once").code, 1008);
    assert!(
        h.panel
            .gateway
            .authenticate(Some(&node.token), "t")
            .await
            .is_err()
    );
    // The device comes back only with an Administrator's permission.
    assert!(matches!(
        h.panel
            .enrolment
            .enrol(enrol_request(&h.key, "edge-1"))
            .await
            .expect("runs"),
        EnrolResponse::Refused { .. }
    ));
    h.panel
        .nodes
        .identity_action(&h.admin, &id, IdentityAction::AllowReenrolment)
        .await
        .expect("allows");
    let again = h.enrol("edge-1").await;
    assert_eq!(again.identity.node_id, id, "same machine, same node");
    let b = AgentLink::connect(&h.panel, &again.token, facts("edge-1", None)).await;

    h.panel
        .nodes
        .identity_action(&h.admin, &id, IdentityAction::Remove)
        .await
        .expect("removes");
    assert_eq!(b.session.await.expect("disconnected at once").code, 1008);
    assert!(
        h.panel
            .gateway
            .authenticate(Some(&again.token), "t")
            .await
            .is_err()
    );
    assert!(matches!(
        h.panel.nodes.get(&h.admin, &id).await,
        Err(ControlError::NotFound(_))
    ));
    let audit = h.panel.store.audit_actions().await.expect("audit");
    for action in ["node.token_revoke", "node.reenrol_allow", "node.remove"] {
        assert!(audit.iter().any(|a| a == action), "{action} in {audit:?}");
    }
}

#[tokio::test]
async fn only_administrators_change_node_identities() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let node = h.enrol("edge-1").await;
    let editor = h
        .panel
        .auth
        .create_user(
            &h.admin,
            domain::user::Username::parse("eddie").expect("name"),
            domain::user::Password::parse("editor password").expect("pw"),
            domain::Role::Supervisor,
        )
        .await
        .expect("user");
    let eddie = h
        .panel
        .auth
        .login(&editor.username, "editor password", control::testing::HERE)
        .await
        .expect("login")
        .actor;
    for action in [
        IdentityAction::Remove,
        IdentityAction::RevokeToken,
        IdentityAction::AllowReenrolment,
    ] {
        assert!(matches!(
            h.panel
                .nodes
                .identity_action(&eddie, &node.identity.node_id, action)
                .await,
            Err(ControlError::Forbidden)
        ));
    }
}

#[tokio::test]
async fn facts_from_another_machine_close_the_session_and_oversized_facts_are_capped() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let node = h.enrol("edge-1").await;
    // Hello naming another machine: refused.
    let mut f = facts("edge-1", None);
    f.machine_id = "machine-somebody-else".into();
    let mut a = AgentLink::open(&h.panel, node.identity.clone());
    a.send(AgentMessage::Hello(Box::new(f))).await;
    let close = a.session.await.expect("ends");
    assert_eq!(close.code, 1008);
    assert!(close.reason.contains("another machine"), "{}", close.reason);

    // Huge strings are cut to size before they are stored.
    let mut f = facts("edge-1", None);
    f.hostname = "h".repeat(100_000);
    f.os = "o".repeat(100_000);
    let _b = AgentLink::connect(&h.panel, &node.token, f).await;
    let row = h
        .panel
        .store
        .node_by_id(&node.identity.node_id)
        .await
        .expect("query")
        .expect("row");
    assert_eq!(row.hostname.len(), domain::node::caps::HOSTNAME);
    assert!(row.facts.as_deref().is_some_and(|f| f.len() < 4_000));
}

#[tokio::test]
async fn a_flood_of_reports_is_dropped_counted_and_finally_disconnected() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let mut flood = connect(&h, "edge-flood").await;
    let mut calm = connect(&h, "edge-calm").await;
    let mut sent = 0;
    while !flood.session.is_finished() && sent < 500 {
        flood.send(AgentMessage::Vips(vec![])).await;
        sent += 1;
        tokio::task::yield_now().await;
    }
    let close = flood.session.await.expect("ends");
    assert_eq!(close.reason, "too many frames");
    let dropped = h.panel.gateway.dropped_frames();
    assert!(
        dropped > FrameBudget::DISCONNECT_AFTER as u64,
        "dropped frames are counted: {dropped}"
    );
    calm.send(AgentMessage::Vips(vec![])).await;
    calm.send(AgentMessage::Heartbeat).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!calm.session.is_finished(), "other agents are unaffected");
    assert_eq!(connectivity(&h, &calm.node_id).await, Connectivity::Online);
    // Oversized observations are refused whole.
    let vip = domain::protocol::VipObservation {
        address: "10.0.0.1/24".into(),
        vrid: 1,
        state: domain::protocol::VrrpState::Master,
        holds: true,
        offset: 0,
    };
    calm.send(AgentMessage::Vips(vec![
        vip;
        domain::protocol::MAX_REPORTED_VIPS
            + 1
    ]))
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(h.panel.gateway.dropped_frames() > dropped);
}

#[tokio::test]
async fn a_graceful_shutdown_ends_every_session_then_stores_every_last_seen_time_at_once() {
    let h = TestPanel::open(Duration::from_secs(5)).await;
    let mut links = vec![];
    for host in ["edge-1", "edge-2", "edge-3"] {
        links.push(connect(&h, host).await);
    }
    let stored = async |panel: &control::Panel, node: &str| {
        panel
            .store
            .node_by_id(node)
            .await
            .expect("query")
            .expect("row")
            .last_seen_at
    };
    let mut before = vec![];
    for l in &links {
        before.push(stored(&h.panel, &l.node_id).await);
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    for l in &mut links {
        l.send(AgentMessage::Heartbeat).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let live = h.panel.gateway.presence();
    assert_eq!(live.len(), 3);

    // Sessions end first; while shutting down none writes on its own (at fleet size that was one
    // write per agent, racing the pool's closing).
    h.panel.gateway.close_all();
    assert_eq!(
        h.panel
            .gateway
            .sessions_ended(Duration::from_secs(10))
            .await,
        0
    );
    for (l, was) in links.iter().zip(&before) {
        assert_eq!(
            stored(&h.panel, &l.node_id).await,
            *was,
            "written on its own"
        );
    }
    // Then one flush writes them all, and the store closes.
    let (panel, config) = (h.panel.clone(), h.config.clone());
    let _files = h.keep_files();
    panel.shutdown().await;
    let again = control::Panel::open(&config).await.expect("reopens");
    for (node, seen) in live {
        assert_eq!(
            stored(&again, &node).await,
            Some(seen),
            "last-seen of {node}"
        );
    }
}
