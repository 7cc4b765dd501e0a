//! Two panel processes (replicas) on one PostgreSQL database: what one holds, the other sees and
//! reaches. These need `FLOTILLA_TEST_POSTGRES_URL` (`./dev test` runs them in its PostgreSQL
//! pass) and fail without it.
use std::time::Duration;

use control::Panel;
use control::testing::{AgentLink, TestPanel, facts, wait_for};
use domain::event::UiEvent;
use domain::protocol::{AgentMessage, Command, Outcome, VipObservation, VrrpState};
use sqlx::Row;
use tokio::sync::broadcast;

/// Panel `a` with a replica `b` on its database, and an agent of `host` connected to `a`, seen
/// online on `b`.
async fn two_replicas_and_an_agent_on_a(host: &str) -> (TestPanel, Panel, AgentLink) {
    let a = TestPanel::open(Duration::from_secs(2)).await;
    let b = a.replica().await;
    let node = a.enrol(host).await;
    let link = AgentLink::connect(&a.panel, &node.token, facts(host, None)).await;
    let id = link.node_id.clone();
    wait_for("the replica to see the node online", async || {
        b.gateway.is_online(&id).is_some()
    })
    .await;
    (a, b, link)
}

/// The next event on `rx` that `want` accepts, within 15 s.
async fn event(rx: &mut broadcast::Receiver<UiEvent>, want: impl Fn(&UiEvent) -> bool) -> UiEvent {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match rx.recv().await {
                Ok(e) if want(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await
    .expect("the event arrives")
}

/// An agent's report that it holds VIP 10.0.0.100/24.
fn holds_the_vip() -> AgentMessage {
    AgentMessage::Vips(vec![VipObservation {
        address: "10.0.0.100/24".into(),
        vrid: 51,
        state: VrrpState::Master,
        holds: true,
        offset: 0,
    }])
}

async fn raw_pool(a: &TestPanel) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&a.config.database_url)
        .await
        .expect("connects")
}

#[tokio::test]
async fn a_command_from_one_replica_reaches_the_agent_the_other_holds_sealed_in_between() {
    let (a, b, mut link) = two_replicas_and_an_agent_on_a("edge-1").await;
    assert!(
        !b.gateway.holds(&link.node_id),
        "the session is on a, not on b"
    );
    let id = link.node_id.clone();
    let from_b = tokio::spawn({
        let b = b.clone();
        let id = id.clone();
        async move {
            b.gateway
                .command(
                    &id,
                    Command::NetworkRemove {
                        name: "marker-7f3a".into(),
                    },
                    Duration::from_secs(5),
                )
                .await
        }
    });
    let (cid, cmd) = tokio::time::timeout(Duration::from_secs(5), link.next_command())
        .await
        .expect("the command arrives at the agent on a")
        .expect("a command");
    assert_eq!(
        cmd,
        Command::NetworkRemove {
            name: "marker-7f3a".into()
        }
    );
    // While the agent works on it, its stored form is sealed: not even the name shows.
    let pool = raw_pool(&a).await;
    let rows = sqlx::query("SELECT body FROM agent_commands")
        .fetch_all(&pool)
        .await
        .expect("reads");
    for r in &rows {
        let body: String = r.get("body");
        assert!(
            body.starts_with("v1:") && !body.contains("marker"),
            "{body}"
        );
    }
    link.answer(
        &cid,
        Outcome::Failed {
            message: "network in use".into(),
        },
    )
    .await;
    let answer = from_b.await.expect("joins").expect("an answer");
    assert_eq!(
        answer,
        Outcome::Failed {
            message: "network in use".into()
        },
        "the agent's own answer reaches b"
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM agent_commands) + (SELECT COUNT(*) FROM agent_results)",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!(left, 0, "nothing stays behind");
}

#[tokio::test]
async fn a_command_the_agent_leaves_unanswered_times_out_on_the_sending_replica() {
    let (_a, b, mut link) = two_replicas_and_an_agent_on_a("edge-1").await;
    let id = link.node_id.clone();
    let sent = tokio::spawn({
        let b = b.clone();
        async move {
            b.gateway
                .command(&id, Command::RefreshFacts, Duration::from_secs(1))
                .await
        }
    });
    let _ignored = link.next_command().await.expect("arrives");
    let err = sent.await.expect("joins").expect_err("no answer");
    assert!(
        err.to_string().contains("did not answer within 1 s"),
        "{err}"
    );
}

#[tokio::test]
async fn a_node_held_by_one_replica_goes_offline_live_on_the_other() {
    let (_a, b, link) = two_replicas_and_an_agent_on_a("edge-1").await;
    let id = link.node_id.clone();
    let mut rx = b.events.subscribe();
    drop(link.to_panel); // the agent's connection to a ends
    event(&mut rx, |e| *e == UiEvent::Node { id: id.clone() }).await;
    assert!(b.gateway.is_online(&id).is_none(), "offline on b too");
    let err = b
        .gateway
        .command(&id, Command::RefreshFacts, Duration::from_secs(1))
        .await
        .expect_err("offline");
    assert!(err.to_string().contains("offline"), "{err}");
}

#[tokio::test]
async fn a_killed_replicas_nodes_go_offline_on_the_others_within_seconds() {
    let (a, b, link) = two_replicas_and_an_agent_on_a("edge-1").await;
    let id = link.node_id.clone();
    let mut rx = b.events.subscribe();
    // a stops beating and leaves its rows, as SIGKILL would; its session object lives on.
    a.panel
        .replicas
        .as_ref()
        .expect("replicas on PostgreSQL")
        .halt();
    let started = std::time::Instant::now();
    event(&mut rx, |e| *e == UiEvent::Node { id: id.clone() }).await;
    assert!(b.gateway.is_online(&id).is_none());
    let took = started.elapsed();
    assert!(
        took <= control::replicas::DEAD_AFTER + control::replicas::BEAT_EVERY * 2,
        "offline after {took:?}"
    );
    drop(link);
}

#[tokio::test]
async fn browser_events_and_observations_of_one_replica_reach_the_other() {
    let (a, b, mut link) = two_replicas_and_an_agent_on_a("edge-1").await;
    let mut rx = b.events.subscribe();
    a.panel.events.publish(UiEvent::Keys);
    event(&mut rx, |e| *e == UiEvent::Keys).await;
    // The agent on a reports that it holds a VIP; b weighs that claim as a would.
    link.send(holds_the_vip()).await;
    let id = link.node_id.clone();
    wait_for("b to know the VIP claim", async || {
        b.gateway
            .vip_claim(&id, "edge-1".into(), "10.0.0.100/24")
            .is_some_and(|c| c.holds && !c.silent)
    })
    .await;
}

#[tokio::test]
async fn a_replica_that_starts_later_learns_the_sessions_and_observations_the_other_holds() {
    let a = TestPanel::open(Duration::from_secs(2)).await;
    let node = a.enrol("edge-1").await;
    let mut link = AgentLink::connect(&a.panel, &node.token, facts("edge-1", None)).await;
    link.send(holds_the_vip()).await;
    let pool = raw_pool(&a).await;
    wait_for("a to share the VIP report", async || {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM node_observed WHERE vips IS NOT NULL")
            .fetch_one(&pool)
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;
    // b starts after all of it was said: it reads what it missed when it starts listening.
    let b = a.replica().await;
    let id = link.node_id.clone();
    wait_for("b to know the node and its VIP claim", async || {
        b.gateway
            .vip_claim(&id, "edge-1".into(), "10.0.0.100/24")
            .is_some_and(|c| c.holds)
    })
    .await;
}

#[tokio::test]
async fn a_graceful_stop_leaves_no_session_rows_and_the_other_sees_its_nodes_offline_at_once() {
    let (a, b, link) = two_replicas_and_an_agent_on_a("edge-1").await;
    let id = link.node_id.clone();
    let pool = raw_pool(&a).await;
    a.panel.shutdown().await;
    wait_for("b to see the node offline", async || {
        b.gateway.is_online(&id).is_none()
    })
    .await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM node_presence")
        .fetch_one(&pool)
        .await
        .expect("counts");
    assert_eq!(rows, 0);
    drop(link);
}

#[tokio::test]
async fn replicas_starting_together_on_an_empty_database_migrate_it_once_and_both_serve() {
    let dir = tempfile::tempdir().expect("dir");
    let url = control::testing::scratch_url(dir.path()).await;
    assert!(
        url.starts_with("postgres"),
        "needs FLOTILLA_TEST_POSTGRES_URL"
    );
    let (one, two) = tokio::join!(
        control::store::Store::open(&url),
        control::store::Store::open(&url)
    );
    let (one, two) = (one.expect("first opens"), two.expect("second opens"));
    one.ping().await.expect("serves");
    two.ping().await.expect("serves");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.expect("connects");
    let (applied, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT version) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .expect("reads");
    assert_eq!(applied, distinct, "each migration applied once");
    assert!(applied >= 14, "{applied} migrations");
}
