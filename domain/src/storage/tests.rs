use super::*;
use crate::cluster::Candidate;

fn disk(path: &str, fs: &str, free_mib: u64) -> Option<DiskFacts> {
    Some(DiskFacts {
        path: path.into(),
        fs: fs.into(),
        total_bytes: 1 << 30,
        available_bytes: free_mib * 1024 * 1024,
    })
}

fn ready() -> StorageFacts {
    StorageFacts {
        gluster: Some("10.3".into()),
        glusterd: true,
        fuse: true,
        btrfs_tools: true,
        bricks: disk(BRICKS_DIR, "xfs", 500),
        snapshots: disk(SNAPSHOTS_DIR, "btrfs", 200),
        mount: None,
        fenced: false,
        copies: None,
        standby: None,
        peers: None,
    }
}

#[test]
fn the_mode_follows_the_number_of_nodes() {
    assert!(VolumeMode::for_nodes(1).is_err());
    assert_eq!(VolumeMode::for_nodes(2), Ok(VolumeMode::AsyncStandby));
    assert_eq!(VolumeMode::for_nodes(3), Ok(VolumeMode::Replicated));
    assert_eq!(VolumeMode::for_nodes(7), Ok(VolumeMode::Replicated));
}

#[test]
fn a_ready_node_lacks_nothing_in_either_mode() {
    assert!(missing(VolumeMode::Replicated, &ready()).is_empty());
    assert!(missing(VolumeMode::AsyncStandby, &ready()).is_empty());
}

#[test]
fn each_missing_part_is_named() {
    let none = StorageFacts::default();
    let replicated = missing(VolumeMode::Replicated, &none);
    assert_eq!(replicated.len(), 3, "{replicated:?}");
    assert!(replicated[0].contains("GlusterFS is not installed"));
    assert!(replicated[1].contains("FUSE"));
    assert!(replicated[2].contains(BRICKS_DIR));
    let asynchronous = missing(VolumeMode::AsyncStandby, &none);
    assert_eq!(asynchronous.len(), 2, "{asynchronous:?}");

    let quiet = StorageFacts {
        glusterd: false,
        ..ready()
    };
    assert_eq!(
        missing(VolumeMode::Replicated, &quiet),
        vec!["glusterd does not answer".to_string()]
    );
    let wrong_fs = StorageFacts {
        bricks: disk(BRICKS_DIR, "btrfs", 500),
        snapshots: disk(SNAPSHOTS_DIR, "ext4", 500),
        ..ready()
    };
    assert!(missing(VolumeMode::Replicated, &wrong_fs)[0].contains("is btrfs, not xfs or ext4"));
    assert!(missing(VolumeMode::AsyncStandby, &wrong_fs)[0].contains("is ext4, not btrfs"));
    let full = StorageFacts {
        bricks: disk(BRICKS_DIR, "xfs", 20),
        ..ready()
    };
    assert!(missing(VolumeMode::Replicated, &full)[0].contains("20 MiB free"));
}

#[test]
fn each_node_that_lacks_a_part_is_named_with_its_reasons() {
    let node = |id: &str, storage: StorageFacts| Candidate {
        node_id: id.into(),
        hostname: format!("edge-{id}"),
        online: true,
        cluster: None,
        swarm_state: "inactive".into(),
        interfaces: vec![],
        storage,
    };
    let (a, b) = (node("a", ready()), node("b", StorageFacts::default()));
    let mut problems = vec![];
    assert_eq!(
        check_nodes(3, &[&a, &b], &mut problems),
        Some(VolumeMode::Replicated)
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].field, "members.b.volumes");
    assert!(
        problems[0]
            .message
            .starts_with("edge-b cannot hold replicated volumes: GlusterFS is not installed"),
        "{}",
        problems[0].message
    );
    let mut problems = vec![];
    assert_eq!(check_nodes(1, &[&a], &mut problems), None);
    assert_eq!(problems[0].field, "volumes");
    let mut problems = vec![];
    assert_eq!(
        check_nodes(2, &[&a], &mut problems),
        Some(VolumeMode::AsyncStandby)
    );
    assert!(problems.is_empty());
}

#[test]
fn the_sync_interval_is_whole_seconds_within_bounds() {
    assert_eq!(parse_sync_secs("5"), Ok(5));
    assert_eq!(parse_sync_secs(" 3600 "), Ok(3600));
    for bad in ["0", "-1", "0.5", "3601", "", "five"] {
        assert!(parse_sync_secs(bad).is_err(), "{bad}");
    }
}

#[test]
fn free_space_is_not_a_change() {
    let mut later = ready();
    if let Some(d) = later.bricks.as_mut() {
        d.available_bytes -= 1;
    }
    assert_eq!(ready().stable(), later.stable());
    assert_ne!(ready().stable(), StorageFacts::default().stable());
}

#[test]
fn sizes_move_without_a_change_of_state_and_are_bounded() {
    let size = |dir: &str, bytes| VolumeSize {
        dir: dir.into(),
        bytes,
    };
    let beat = VolumeBeat {
        sizes: vec![size("keeper/data", 4096)],
        ..Default::default()
    };
    let grown = VolumeBeat {
        sizes: vec![size("keeper/data", 8192)],
        ..Default::default()
    };
    assert_eq!(beat.quiet(), grown.quiet());
    assert_ne!(beat, grown);
    let mut many = VolumeBeat {
        sizes: (0..MAX_SIZES + 3)
            .map(|i| size(&format!("app{i}/{}", "v".repeat(300)), 1))
            .collect(),
        ..Default::default()
    };
    assert!(many.cap());
    assert_eq!(many.sizes.len(), MAX_SIZES);
    assert!(
        many.sizes
            .iter()
            .all(|s| s.dir.len() <= crate::node::caps::TEXT)
    );
    let mut small = beat.clone();
    assert!(!small.cap());
    assert_eq!(small, beat);
}

#[test]
fn a_leaving_copy_moves_to_the_first_member_beyond_the_copies() {
    assert_eq!(CopyOnLeave::of(1, 5), CopyOnLeave::MovesTo(3));
    assert_eq!(CopyOnLeave::of(0, 4), CopyOnLeave::MovesTo(3));
    assert_eq!(CopyOnLeave::of(2, 3), CopyOnLeave::Nowhere);
    assert_eq!(CopyOnLeave::of(3, 4), CopyOnLeave::NoCopy);
    assert_eq!(CopyOnLeave::of(4, 5), CopyOnLeave::NoCopy);
}
