use super::*;

fn good() -> DefinitionDraft {
    DefinitionDraft {
        name: "line-3".into(),
        vip_enabled: true,
        vips: vec![VipDraft {
            address: "10.77.0.100/24".into(),
            track_port: "8080".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn the_list_search_finds_a_cluster_by_name_or_vip_address() {
    let d = good().validate().expect("valid");
    for needle in ["line", "line-3", "10.77.0.100", "0.100/24"] {
        assert!(d.matches(needle), "{needle}");
    }
    assert!(!d.matches("line-4"));
    assert!(!d.matches("LINE"), "the needle comes lowercase");
}

fn candidate(id: &str, ip: &str) -> Candidate {
    Candidate {
        node_id: id.into(),
        hostname: format!("edge-{id}"),
        online: true,
        cluster: None,
        swarm_state: "inactive".into(),
        storage: Default::default(),
        interfaces: vec![
            NetInterface {
                name: "lo".into(),
                mac: None,
                up: true,
                addresses: vec!["127.0.0.1/8".into()],
            },
            NetInterface {
                name: "eth0".into(),
                mac: None,
                up: true,
                addresses: vec![format!("{ip}/24")],
            },
            NetInterface {
                name: "docker0".into(),
                mac: None,
                up: true,
                addresses: vec!["172.31.1.1/24".into()],
            },
        ],
    }
}

fn member(id: &str, role: SwarmRole) -> MemberDraft {
    MemberDraft {
        node_id: id.into(),
        role,
        labels: String::new(),
        interface: "eth0".into(),
        vip: true,
    }
}

fn fields(r: Result<impl std::fmt::Debug, Vec<ValidationError>>) -> Vec<String> {
    r.err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn oversized_drafts_are_refused_by_their_size() {
    let mut d = good();
    d.vip_enabled = true;
    d.vips = vec![VipDraft::default(); 5_000];
    d.pools = vec!["10.0.0.0/8".into(); 5_000];
    assert_eq!(fields(d.validate()), vec!["vips", "pools"]);
    let mut d = good();
    d.vips[0].peers = "10.0.0.1 ".repeat(33);
    assert_eq!(fields(d.validate()), vec!["vips.0.peers"]);
    d.vips[0].peers = "x".repeat(limits::TEXT + 1);
    assert!(fields(d.validate()).contains(&"definition".to_string()));

    let draft = ClusterDraft {
        definition: good(),
        members: (0..10_000)
            .map(|i| member(&format!("n{i}"), SwarmRole::Manager))
            .collect(),
    };
    assert_eq!(fields(draft.validate(&[])), vec!["members"]);
}

#[test]
fn a_good_definition_passes_with_defaults() {
    let d = good().validate().expect("valid");
    assert_eq!(d.synctime_cs, 10);
    assert_eq!(d.data_path_port, 4789);
    assert_eq!(d.listen_port, 2377);
    assert_eq!(d.subnet_size, 24);
    assert_eq!(d.pools[0].to_string(), "10.200.0.0/16");
    assert_eq!(d.vips[0].address.to_string(), "10.77.0.100/24");
    assert_eq!(d.vips[0].track_port, Some(8080));
}

#[test]
fn every_field_reports_its_own_problem() {
    let bad = DefinitionDraft {
        name: "-x".into(),
        volumes: true,
        volume_sync: "0".into(),
        vip_enabled: true,
        vips: vec![VipDraft {
            address: "10.77.0.0/24".into(),
            interface: "eth 0".into(),
            peers: "10.0.0.1, nope".into(),
            track_port: "0".into(),
        }],
        synctime: "0.005".into(),
        pools: vec!["10.200.1.0/16".into(), "300.1.1.1/8".into()],
        subnet_size: "12".into(),
        data_path_port: "80".into(),
        listen_port: "70000".into(),
    };
    let f = fields(bad.validate());
    for want in [
        "name",
        "volume_sync",
        "synctime",
        "data_path_port",
        "listen_port",
        "pools.0",
        "pools.1",
        "subnet_size",
        "vips.0.address",
        "vips.0.interface",
        "vips.0.peers",
        "vips.0.track_port",
    ] {
        assert!(f.contains(&want.to_string()), "missing {want} in {f:?}");
    }
}

#[test]
fn pools_must_not_overlap_and_must_fit_the_subnet_size() {
    let mut d = good();
    d.pools = vec!["10.200.0.0/16".into(), "10.200.128.0/17".into()];
    assert_eq!(fields(d.validate()), vec!["pools.1"]);
    d.pools = vec!["10.200.0.0/29".into()];
    assert_eq!(
        fields(d.validate()),
        vec!["pools.0"],
        "pools longer than /28 are too small"
    );
}

#[test]
fn subnet_size_fits_every_pool() {
    let mut d = good();
    d.pools = vec!["10.200.0.0/16".into(), "10.210.0.0/26".into()];
    d.subnet_size = "24".into();
    let problems = d.validate().expect_err("does not fit");
    assert_eq!(
        problem(&problems, "subnet_size"),
        Some("a /24 subnet does not fit in pool 10.210.0.0/26")
    );
}

#[test]
fn synctime_and_ports() {
    assert_eq!(parse_synctime("0.006"), Ok(1));
    assert_eq!(parse_synctime("1"), Ok(100));
    assert!(parse_synctime("0.005").is_err());
    assert!(parse_synctime("41").is_err());
    assert!(parse_synctime("NaN").is_err());
    let mut d = good();
    d.listen_port = "4789".into();
    assert_eq!(fields(d.validate()), vec!["listen_port"]);
    d.listen_port = "7946".into();
    assert_eq!(fields(d.validate()), vec!["listen_port"]);
}

#[test]
fn names() {
    assert!(parse_cluster_name("line-3").is_ok());
    assert!(parse_cluster_name("x").is_err());
    assert!(parse_cluster_name("_x").is_err());
    assert!(parse_cluster_name("a b").is_err());
}

#[test]
fn a_three_node_cluster_validates_against_its_nodes() {
    let cands = [
        candidate("1", "10.77.0.11"),
        candidate("2", "10.77.0.12"),
        candidate("3", "10.77.0.13"),
    ];
    let draft = ClusterDraft {
        definition: good(),
        members: vec![
            member("1", SwarmRole::Manager),
            member("2", SwarmRole::Worker),
            member("3", SwarmRole::Worker),
        ],
    };
    let spec = draft.validate(&cands).expect("valid");
    assert_eq!(spec.members.len(), 3);
    assert!(warnings(&spec).is_empty());
}

#[test]
fn an_edit_checks_the_sync_interval_only_with_volumes_on() {
    let mut edit = ClusterEdit {
        name: "line-3".into(),
        synctime: "0.1".into(),
        volumes: true,
        volume_sync: "0".into(),
    };
    assert_eq!(fields(edit.validate()), vec!["volume_sync"]);
    edit.volume_sync = "30".into();
    let spec = edit.validate().expect("valid");
    assert_eq!((spec.volumes, spec.volume_sync_secs), (true, Some(30)));
    edit.volumes = false;
    edit.volume_sync = "x".into();
    let spec = edit.validate().expect("valid: volumes off");
    assert_eq!(
        spec.volume_sync_secs, None,
        "the cluster's interval is kept"
    );
}

#[test]
fn cluster_volumes_are_checked_on_every_chosen_node() {
    let ready = crate::storage::StorageFacts {
        gluster: Some("10.3".into()),
        glusterd: true,
        fuse: true,
        btrfs_tools: true,
        bricks: Some(crate::storage::DiskFacts {
            path: crate::storage::BRICKS_DIR.into(),
            fs: "xfs".into(),
            total_bytes: 1 << 30,
            available_bytes: 1 << 29,
        }),
        snapshots: None,
        mount: None,
        fenced: false,
        copies: None,
        standby: None,
        peers: None,
    };
    let mut cands = vec![
        candidate("1", "10.77.0.11"),
        candidate("2", "10.77.0.12"),
        candidate("3", "10.77.0.13"),
    ];
    for c in &mut cands[..2] {
        c.storage = ready.clone();
    }
    let mut definition = good();
    definition.volumes = true;
    let draft = ClusterDraft {
        definition,
        members: vec![
            member("1", SwarmRole::Manager),
            member("2", SwarmRole::Worker),
            member("3", SwarmRole::Worker),
        ],
    };
    assert_eq!(fields(draft.validate(&cands)), vec!["members.3.volumes"]);
    cands[2].storage = ready.clone();
    let spec = draft.validate(&cands).expect("every node is ready");
    assert!(spec.definition.volumes);
    assert_eq!(spec.definition.volume_sync_secs, 5);
    // Two nodes make it async standby: the bricks disk is no use there.
    let two = ClusterDraft {
        members: draft.members[..2].to_vec(),
        ..draft.clone()
    };
    assert_eq!(
        fields(two.validate(&cands)),
        vec!["members.1.volumes", "members.2.volumes"]
    );
    let mut off = draft.clone();
    off.definition.volumes = false;
    off.definition.volume_sync = "nonsense".into();
    cands[2].storage = Default::default();
    assert!(
        off.validate(&cands).is_ok(),
        "nothing is checked while volumes are off"
    );
}

#[test]
fn node_checks() {
    let mut cands = vec![candidate("1", "10.77.0.11"), candidate("2", "10.77.0.12")];
    let mut draft = ClusterDraft {
        definition: good(),
        members: vec![
            member("1", SwarmRole::Worker),
            member("2", SwarmRole::Worker),
        ],
    };
    assert!(
        fields(draft.validate(&cands)).contains(&"members".to_string()),
        "zero managers refused"
    );

    draft.members[0].role = SwarmRole::Manager;
    draft.members[1].interface = "wlan0".into();
    draft.members[1].labels = "Bad=1".into();
    let f = fields(draft.validate(&cands));
    assert!(
        f.contains(&"members.2.interface".to_string())
            && f.contains(&"members.2.labels".to_string()),
        "{f:?}"
    );

    draft.members[1] = member("2", SwarmRole::Manager);
    let spec = draft.validate(&cands).expect("valid");
    assert_eq!(warnings(&spec).len(), 1, "two managers draw a warning");

    cands[1].online = false;
    assert_eq!(fields(draft.validate(&cands)), vec!["members.2.node"]);
    cands[1].online = true;
    cands[1].cluster = Some("other".into());
    assert_eq!(fields(draft.validate(&cands)), vec!["members.2.node"]);
}

#[test]
fn an_added_node_is_checked_against_the_cluster() {
    let def = good().validate().expect("valid");
    let cands = [candidate("4", "10.77.0.14"), candidate("5", "10.200.3.4")];
    assert!(
        member("4", SwarmRole::Worker)
            .validate_addition(&cands, &def)
            .is_ok()
    );
    let clash = member("5", SwarmRole::Worker)
        .validate_addition(&cands, &def)
        .expect_err("overlap");
    assert_eq!(clash[0].field, "members.5.node");
    let mut bad = member("4", SwarmRole::Worker);
    bad.labels = "x".into();
    bad.interface = "wlan0".into();
    let problems = bad.validate_addition(&cands, &def).expect_err("bad");
    assert_eq!(problems.len(), 2);
}

#[test]
fn pools_must_not_overlap_the_nodes_networks_and_vips_must_be_reachable() {
    let cands = [candidate("1", "10.77.0.11")];
    let mut draft = ClusterDraft {
        definition: good(),
        members: vec![member("1", SwarmRole::Manager)],
    };
    draft.definition.pools = vec!["10.0.0.0/8".into()];
    let problems = draft.validate(&cands).expect_err("overlap");
    assert_eq!(
        problem(&problems, "pools.0"),
        Some("overlaps edge-1's network 10.77.0.0/24")
    );

    draft.definition.pools = vec!["10.200.0.0/16".into()];
    draft.definition.vips[0].address = "192.168.9.9/24".into();
    let problems = draft.validate(&cands).expect_err("unreachable vip");
    assert!(problem(&problems, "vips.0.address").is_some_and(|m| m.contains("not in the network")));

    draft.definition.vips[0].address = "10.77.0.11/24".into();
    let problems = draft.validate(&cands).expect_err("node address");
    assert!(problem(&problems, "vips.0.address").is_some_and(|m| m.contains("own address")));

    draft.definition.vips[0].address = "10.77.0.100/24".into();
    draft.members[0].vip = false;
    assert_eq!(fields(draft.validate(&cands)), vec!["members"]);
}
