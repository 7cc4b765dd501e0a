//! The cluster's replicated volume on this node: trusted pool, volume, moving a copy, and
//! taking them down again (its mount is in [`super::mount`]). Each command is idempotent (what
//! holds already is done) and runs GlusterFS's CLI in child processes with a timeout.
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use domain::storage::{VOLUME_OPTIONS, brick_path};

use super::{Ran, bounded};

/// How long one GlusterFS or mount call may take (a volume's creation talks to every peer).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long peers may take to connect.
const SETTLE: Duration = Duration::from_secs(30);
/// How long glusterd may take to notice that a peer which vanished is gone (its keepalive on
/// an idle connection: 10 s, then 9 probes 2 s apart).
const NOTICE_GONE: Duration = Duration::from_secs(60);

/// Brings these addresses (IP addresses) into this node's GlusterFS trusted pool.
pub(super) async fn join_peers(addresses: &[String]) -> Result<(), String> {
    peers(&addresses_of(addresses)?).await
}

/// Creates, tunes and starts the replicated volume with these bricks.
pub(super) async fn create(volume: &str, bricks: &[String]) -> Result<(), String> {
    create_volume(checked_name(volume)?, bricks).await
}

/// Stops and deletes the volume, then lets these peers go.
pub(super) async fn delete(volume: &str, peers: &[String]) -> Result<(), String> {
    delete_volume(checked_name(volume)?, &addresses_of(peers)?).await
}

/// Moves the copy of the node at `from` to the node at `to` (see
/// [`domain::storage::StorageCommand::MoveCopy`]); done already when `to` holds it.
pub(super) async fn move_copy(volume: &str, from: &str, to: &str) -> Result<(), String> {
    let volume = checked_name(volume)?;
    let [from, to]: [String; 2] = addresses_of(&[from.to_owned(), to.to_owned()])?
        .try_into()
        .map_err(|_| "two addresses".to_owned())?;
    if from == to {
        return Err(format!("the copy of {from} cannot move to itself"));
    }
    let path = brick_path(volume);
    let (old, new) = (format!("{from}:{path}"), format!("{to}:{path}"));
    let bricks = bricks_of(&gluster(&["volume", "info", volume]).await?);
    if bricks.contains(&old) {
        gone_or_answering(&from).await?;
        peers(std::slice::from_ref(&to)).await?;
        replace_brick(volume, &old, &new).await?;
    } else if !bricks.contains(&new) {
        return Err(format!("neither {old} nor {new} holds a copy of {volume}"));
    }
    // `from` holds nothing now: it leaves the trusted pool (a glusterd that answers forgets
    // the pool; one that is gone is forgotten).
    if pool(&gluster(&["pool", "list"]).await?)
        .iter()
        .any(|(host, _)| *host == from)
    {
        gluster(&["peer", "detach", &from]).await?;
    }
    Ok(())
}

/// Replaces the brick `old` by `new`. Every peer must count the new node "in cluster" first,
/// which the others learn a moment after this node: until then GlusterFS refuses, and the
/// replacement is tried again (for at most [`SETTLE`]).
async fn replace_brick(volume: &str, old: &str, new: &str) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let args = [
            "volume",
            "replace-brick",
            volume,
            old,
            new,
            "commit",
            "force",
        ];
        match gluster(&args).await {
            Ok(_) => return Ok(()),
            Err(e)
                if e.contains("is not in 'Peer in Cluster' state")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Every change of the volume is a transaction with every peer glusterd counts as connected,
/// and glusterd keeps counting one that vanished connected until its keepalive notices (about
/// 30 s; once a transaction waits on it, for the minutes TCP retries). So a peer whose glusterd
/// does not answer must be seen as disconnected first.
async fn gone_or_answering(peer: &str) -> Result<(), String> {
    let glusterd = |ip: &str| -> Option<std::net::SocketAddr> {
        Some(std::net::SocketAddr::new(
            ip.parse().ok()?,
            super::fence::GLUSTERD_PORT,
        ))
    };
    let connected = |list: &str| pool(list).iter().any(|(host, up)| host == peer && *up);
    let deadline = tokio::time::Instant::now() + NOTICE_GONE;
    loop {
        if !connected(&gluster(&["pool", "list"]).await?) {
            return Ok(());
        }
        if let Some(address) = glusterd(peer)
            && super::fence::answers(address).await
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{peer} does not answer, and GlusterFS still counts it connected after {} s",
                NOTICE_GONE.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The bricks (`address:path`) `gluster volume info` lists.
fn bricks_of(info: &str) -> Vec<String> {
    info.lines()
        .filter_map(|line| {
            let (key, value) = line.trim().split_once(": ")?;
            let n = key.strip_prefix("Brick")?;
            (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                .then(|| value.trim().to_owned())
        })
        .collect()
}

/// Removes this node's brick directory of a deleted volume.
pub(super) async fn clear(volume: &str) -> Result<(), String> {
    clear_brick(checked_name(volume)?).await
}

/// A volume name the agent acts on: GlusterFS's own rule (letters, digits, `-`, `_`), which also
/// keeps the brick path under the bricks disk.
pub(super) fn checked_name(volume: &str) -> Result<&str, String> {
    let ok = !volume.is_empty()
        && volume.len() <= 64
        && volume
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then_some(volume)
        .ok_or_else(|| format!("not a volume name: {volume:?}"))
}

/// Peers and servers are IP addresses (the members' swarm addresses).
pub(super) fn addresses_of(addresses: &[String]) -> Result<Vec<String>, String> {
    addresses
        .iter()
        .map(|a| {
            a.parse::<IpAddr>()
                .map(|ip| ip.to_string())
                .map_err(|_| format!("not an IP address: {a:?}"))
        })
        .collect()
}

/// A call of `program` bounded by [`CALL_TIMEOUT`]: its standard output, or what went wrong in
/// its own words.
pub(super) async fn call(program: &str, args: &[&str]) -> Result<String, String> {
    match bounded(program, args, CALL_TIMEOUT).await {
        Ran::Done(out) => Ok(out),
        Ran::Failed(words) => Err(format!("{program} {}: {words}", args.join(" "))),
        Ran::TimedOut => Err(format!(
            "{program} {} did not answer within {} s",
            args.join(" "),
            CALL_TIMEOUT.as_secs()
        )),
    }
}

async fn gluster(args: &[&str]) -> Result<String, String> {
    let mut all = vec!["--mode=script"];
    all.extend_from_slice(args);
    call("gluster", &all).await
}

/// The trusted pool as `gluster pool list` shows it: (hostname, connected) per peer.
fn pool(list: &str) -> Vec<(String, bool)> {
    list.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_uuid, host, state) = (fields.next()?, fields.next()?, fields.next()?);
            Some((host.to_owned(), state == "Connected"))
        })
        .collect()
}

async fn peers(addresses: &[String]) -> Result<(), String> {
    let known = pool(&gluster(&["pool", "list"]).await?);
    for a in addresses {
        if !known.iter().any(|(host, _)| host == a) {
            gluster(&["peer", "probe", a]).await?;
        }
    }
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let now = in_cluster(&gluster(&["peer", "status"]).await?);
        let waiting: Vec<&String> = addresses.iter().filter(|a| !now.contains(*a)).collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let list: Vec<&str> = waiting.iter().map(|a| a.as_str()).collect();
            return Err(format!(
                "GlusterFS peers not in the cluster and connected after {} s: {}",
                SETTLE.as_secs(),
                list.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The peers `gluster peer status` shows in the cluster and connected (a probed peer is first
/// "Accepted peer request", then "Peer in Cluster" once the pool took it).
fn in_cluster(status: &str) -> Vec<String> {
    let mut found = vec![];
    let mut host: Option<&str> = None;
    for line in status.lines().map(str::trim) {
        if let Some(h) = line.strip_prefix("Hostname: ") {
            host = Some(h.trim());
        } else if let Some(state) = line.strip_prefix("State: ")
            && let Some(h) = host.take()
            && state.trim() == "Peer in Cluster (Connected)"
        {
            found.push(h.to_owned());
        }
    }
    found
}

/// `Some(started)` when the volume exists; `None` when GlusterFS says it does not.
async fn volume_state(volume: &str) -> Result<Option<bool>, String> {
    match gluster(&["volume", "info", volume]).await {
        Ok(info) => Ok(Some(info.lines().any(|l| l.trim() == "Status: Started"))),
        Err(e) if e.contains("does not exist") => Ok(None),
        Err(e) => Err(e),
    }
}

async fn create_volume(volume: &str, bricks: &[String]) -> Result<(), String> {
    let bricks: Vec<String> = bricks
        .iter()
        .map(|b| {
            let (address, path) = b
                .split_once(':')
                .ok_or_else(|| format!("not a brick: {b:?}"))?;
            let address = addresses_of(&[address.to_owned()])?.remove(0);
            if path != brick_path(volume) {
                return Err(format!("not this volume's brick path: {path:?}"));
            }
            Ok(format!("{address}:{path}"))
        })
        .collect::<Result<_, String>>()?;
    if bricks.len() < 2 {
        return Err("a replicated volume needs at least 2 bricks".into());
    }
    let started = match volume_state(volume).await? {
        Some(started) => started,
        None => {
            let replicas = bricks.len().to_string();
            let mut args = vec!["volume", "create", volume, "replica", replicas.as_str()];
            args.extend(bricks.iter().map(String::as_str));
            gluster(&args).await?;
            false
        }
    };
    let mut set = vec!["volume", "set", volume];
    for (key, value) in VOLUME_OPTIONS {
        set.extend([key, value]);
    }
    gluster(&set).await?;
    if !started {
        gluster(&["volume", "start", volume]).await?;
    }
    Ok(())
}

async fn delete_volume(volume: &str, peers: &[String]) -> Result<(), String> {
    if let Some(started) = volume_state(volume).await? {
        if started {
            gluster(&["volume", "stop", volume]).await?;
        }
        gluster(&["volume", "delete", volume]).await?;
    }
    let known = pool(&gluster(&["pool", "list"]).await?);
    for a in peers {
        if known.iter().any(|(host, _)| host == a) {
            gluster(&["peer", "detach", a]).await?;
        }
    }
    Ok(())
}

async fn clear_brick(volume: &str) -> Result<(), String> {
    let path = brick_path(volume);
    if Path::new(&path).exists() {
        tokio::fs::remove_dir_all(&path)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_list_gives_each_peer_and_whether_it_is_connected() {
        let list = "UUID\t\t\t\t\tHostname  \tState\n\
            c5cc4c88-ef5a-41b3-84b5-1df1b03d085d\t10.77.0.12\tConnected \n\
            9c313dc3-1bcb-43d1-9388-91f855efa361\t10.77.0.13\tDisconnected \n\
            9c8e1e2c-1a85-4268-b700-422e377feb67\tlocalhost \tConnected \n";
        assert_eq!(
            pool(list),
            vec![
                ("10.77.0.12".into(), true),
                ("10.77.0.13".into(), false),
                ("localhost".into(), true),
            ]
        );
        assert!(pool("").is_empty());
    }

    #[test]
    fn only_peers_in_the_cluster_and_connected_count() {
        let status = "Number of Peers: 3\n\nHostname: 10.77.0.12\nUuid: c5cc\n\
            State: Peer in Cluster (Connected)\n\nHostname: 10.77.0.13\nUuid: 9c31\n\
            State: Peer in Cluster (Disconnected)\nOther names:\nedge-3\n\n\
            Hostname: 10.77.0.14\nUuid: 9c8e\nState: Accepted peer request (Connected)\n";
        assert_eq!(in_cluster(status), vec!["10.77.0.12".to_string()]);
        assert!(in_cluster("Number of Peers: 0\n").is_empty());
    }

    #[test]
    fn the_volume_info_gives_its_bricks() {
        let info = "\nVolume Name: flotilla\nType: Replicate\nStatus: Started\n\
            Number of Bricks: 1 x 3 = 3\nTransport-type: tcp\nBricks:\n\
            Brick1: 10.77.0.11:/var/lib/flotilla/bricks/flotilla\n\
            Brick2: 10.77.0.14:/var/lib/flotilla/bricks/flotilla\n\
            Brick3: 10.77.0.13:/var/lib/flotilla/bricks/flotilla\n\
            Options Reconfigured:\nnetwork.ping-timeout: 5\n";
        assert_eq!(
            bricks_of(info),
            vec![
                "10.77.0.11:/var/lib/flotilla/bricks/flotilla",
                "10.77.0.14:/var/lib/flotilla/bricks/flotilla",
                "10.77.0.13:/var/lib/flotilla/bricks/flotilla",
            ]
        );
        assert!(bricks_of("Volume flotilla does not exist").is_empty());
    }

    #[test]
    fn a_copy_moves_only_between_two_plain_addresses() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let same = rt.block_on(move_copy("flotilla", "10.77.0.12", "10.77.0.12"));
        assert!(same.is_err_and(|e| e.contains("to itself")));
        let bad = rt.block_on(move_copy("flotilla", "10.77.0.12", "-o x"));
        assert!(bad.is_err_and(|e| e.contains("not an IP address")));
        let name = rt.block_on(move_copy("../x", "10.77.0.12", "10.77.0.14"));
        assert!(name.is_err_and(|e| e.contains("not a volume name")));
    }

    #[test]
    fn only_plain_names_and_ip_addresses_reach_the_tools() {
        assert_eq!(checked_name("flotilla"), Ok("flotilla"));
        for bad in ["", "../etc", "a b", "x/y", &"v".repeat(65)] {
            assert!(checked_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            addresses_of(&["10.77.0.11".into()]),
            Ok(vec!["10.77.0.11".to_string()])
        );
        assert!(addresses_of(&["-o evil".into()]).is_err());
        assert!(addresses_of(&["host.example".into()]).is_err());
    }

    #[test]
    fn a_brick_outside_the_volume_path_is_refused_before_any_call() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let bad = rt.block_on(create_volume(
            "flotilla",
            &["10.77.0.11:/etc".into(), "10.77.0.12:/etc".into()],
        ));
        assert!(bad.is_err_and(|e| e.contains("brick path")));
        let few = rt.block_on(create_volume(
            "flotilla",
            &[format!("10.77.0.11:{}", brick_path("flotilla"))],
        ));
        assert!(few.is_err_and(|e| e.contains("at least 2")));
    }
}
