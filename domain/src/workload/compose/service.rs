//! One service of a compose file, with its deploy section.
use super::read::Cx;
use super::{
    Deploy, EndpointMode, FailureAction, FileRef, Healthcheck, Mount, MountKind, Placement, Port,
    Protocol, PublishMode, Resources, RestartCondition, RestartPolicy, Service, ServiceMode,
    UpdateOrder, UpdatePolicy,
};
use crate::workload::placement::{Constraint, MAX_CONSTRAINTS, Spread};
use crate::workload::yaml::{Node, Value};

/// The most replicas a service may ask for.
pub const MAX_REPLICAS: u64 = 1000;

pub fn parse(cx: &mut Cx, name: &str, line: usize, node: &Node) -> Option<Service> {
    let what = format!("service {name}");
    let fields = cx.fields(
        node,
        &what,
        &[
            "image",
            "command",
            "entrypoint",
            "environment",
            "ports",
            "volumes",
            "networks",
            "secrets",
            "configs",
            "deploy",
            "healthcheck",
            "labels",
        ],
    )?;
    let mut service = Service {
        name: name.to_owned(),
        line,
        image: String::new(),
        command: None,
        entrypoint: None,
        environment: vec![],
        ports: vec![],
        mounts: vec![],
        networks: vec![],
        secrets: vec![],
        configs: vec![],
        deploy: Deploy::default(),
        healthcheck: None,
        labels: vec![],
    };
    let mut ok = true;
    for (key, value) in fields {
        let done = match key {
            "image" => image(cx, value).map(|i| service.image = i),
            "command" => cx
                .words(value, "command")
                .map(|c| service.command = Some(c)),
            "entrypoint" => cx
                .words(value, "entrypoint")
                .map(|c| service.entrypoint = Some(c)),
            "environment" => cx
                .pairs(value, "environment")
                .map(|e| service.environment = e),
            "labels" => cx.pairs(value, "labels").map(|l| service.labels = l),
            "ports" => list(cx, value, "ports", port).map(|p| service.ports = p),
            "volumes" => list(cx, value, "volumes", mount).map(|m| service.mounts = m),
            "networks" => networks(cx, value).map(|n| service.networks = n),
            "secrets" => list(cx, value, "secrets", file_ref).map(|s| service.secrets = s),
            "configs" => list(cx, value, "configs", file_ref).map(|c| service.configs = c),
            "healthcheck" => healthcheck(cx, value).map(|h| service.healthcheck = h),
            _ => deploy(cx, value).map(|d| service.deploy = d),
        };
        ok &= done.is_some();
    }
    if service.deploy.endpoint_mode == EndpointMode::Dnsrr
        && service.ports.iter().any(|p| p.mode == PublishMode::Ingress)
    {
        cx.errors.push(crate::workload::yaml::YamlError {
            line,
            message: format!(
                "{what}: endpoint_mode dnsrr cannot publish through the ingress mesh; publish its ports with mode: host"
            ),
        });
        return None;
    }
    if service.image.is_empty() {
        cx.errors.push(crate::workload::yaml::YamlError {
            line,
            message: format!("{what} needs an `image`"),
        });
        return None;
    }
    ok.then_some(service)
}

fn image(cx: &mut Cx, node: &Node) -> Option<String> {
    let image = cx.name(node, "image", 255)?;
    if image.contains(char::is_whitespace) {
        return cx.fail(node, format!("image {image:?} must not contain spaces"));
    }
    Some(image)
}

fn list<T>(
    cx: &mut Cx,
    node: &Node,
    what: &str,
    each: fn(&mut Cx, &Node) -> Option<T>,
) -> Option<Vec<T>> {
    let items = cx.list(node, what)?;
    if items.len() > 100 {
        return cx.fail(node, format!("at most 100 {what}"));
    }
    let parsed: Vec<Option<T>> = items.iter().map(|i| each(cx, i)).collect();
    parsed.into_iter().collect()
}

/// `"8080:80/udp"`, `"80"` or `{target, published, protocol, mode}`.
fn port(cx: &mut Cx, node: &Node) -> Option<Port> {
    if let Value::Map(_) = node.value {
        let mut port = Port {
            target: 0,
            published: None,
            protocol: Protocol::Tcp,
            mode: PublishMode::Ingress,
        };
        for (key, value) in
            cx.fields(node, "a port", &["target", "published", "protocol", "mode"])?
        {
            match key {
                "target" => port.target = cx.port(value, "target")?,
                "published" => port.published = Some(cx.port(value, "published")?),
                "protocol" => port.protocol = protocol(cx, value)?,
                _ => {
                    port.mode = match cx.text(value, "mode")?.as_str() {
                        "ingress" => PublishMode::Ingress,
                        "host" => PublishMode::Host,
                        other => {
                            return cx.fail(
                                value,
                                format!("port mode is ingress or host, not {other:?}"),
                            );
                        }
                    }
                }
            }
        }
        if port.target == 0 {
            return cx.fail(node, "a port needs a `target`");
        }
        return Some(port);
    }
    let text = cx.text(node, "a port")?;
    let (ports, proto) = match text.split_once('/') {
        Some((p, proto)) => (p, Some(proto)),
        None => (text.as_str(), None),
    };
    let protocol = match proto {
        None | Some("tcp") => Protocol::Tcp,
        Some("udp") => Protocol::Udp,
        Some(other) => return cx.fail(node, format!("protocol is tcp or udp, not {other:?}")),
    };
    if ports.contains('-') {
        return cx.fail(
            node,
            format!("port ranges ({text}) are not supported yet: list the ports"),
        );
    }
    let parts: Vec<&str> = ports.split(':').collect();
    let number = |cx: &mut Cx, p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 => Some(n),
        _ => cx.fail(
            node,
            format!("{p:?} in {text:?} is not a port between 1 and 65535"),
        ),
    };
    match parts.as_slice() {
        [target] => Some(Port {
            target: number(cx, target)?,
            published: None,
            protocol,
            mode: PublishMode::Ingress,
        }),
        [published, target] => Some(Port {
            target: number(cx, target)?,
            published: Some(number(cx, published)?),
            protocol,
            mode: PublishMode::Ingress,
        }),
        _ => cx.fail(
            node,
            format!("{text:?}: Swarm publishes on every address; write PUBLISHED:TARGET"),
        ),
    }
}

fn protocol(cx: &mut Cx, node: &Node) -> Option<Protocol> {
    match cx.text(node, "protocol")?.as_str() {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        other => cx.fail(node, format!("protocol is tcp or udp, not {other:?}")),
    }
}

fn absolute(cx: &mut Cx, node: &Node, path: &str) -> Option<String> {
    if !path.starts_with('/') || path.len() > 4096 {
        return cx.fail(node, format!("{path:?} must be an absolute path"));
    }
    Some(path.to_owned())
}

/// `"data:/var/lib/data:ro"`, `"/host:/in"`, `"/anonymous"` or the long form.
fn mount(cx: &mut Cx, node: &Node) -> Option<Mount> {
    if let Value::Map(_) = node.value {
        let mut kind = MountKind::Volume;
        let (mut source, mut target, mut read_only) = (None, None, false);
        for (key, value) in
            cx.fields(node, "a volume", &["type", "source", "target", "read_only"])?
        {
            match key {
                "type" => {
                    kind = match cx.text(value, "type")?.as_str() {
                        "volume" => MountKind::Volume,
                        "bind" => MountKind::Bind,
                        "tmpfs" => MountKind::Tmpfs,
                        other => {
                            return cx.fail(
                                value,
                                format!("a mount type is volume, bind or tmpfs, not {other:?}"),
                            );
                        }
                    }
                }
                "source" => source = Some(cx.name(value, "source", 4096)?),
                "target" => target = Some(cx.text(value, "target")?),
                _ => read_only = cx.flag(value, "read_only")?,
            }
        }
        let Some(target) = target else {
            return cx.fail(node, "a mount needs a `target`");
        };
        let target = absolute(cx, node, &target)?;
        match (kind, &source) {
            (MountKind::Bind, None) => return cx.fail(node, "a bind mount needs a `source`"),
            (MountKind::Bind, Some(s)) => {
                absolute(cx, node, s)?;
            }
            (MountKind::Tmpfs, Some(_)) => return cx.fail(node, "a tmpfs mount has no `source`"),
            _ => {}
        }
        return Some(Mount {
            kind,
            source,
            target,
            read_only,
        });
    }
    let text = cx.text(node, "a volume")?;
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, read_only) = match parts.as_slice() {
        [target] => (None, *target, false),
        [source, target] => (Some(*source), *target, false),
        [source, target, "ro"] => (Some(*source), *target, true),
        [source, target, "rw"] => (Some(*source), *target, false),
        _ => return cx.fail(node, format!("{text:?} is not SOURCE:TARGET[:ro]")),
    };
    let target = absolute(cx, node, target)?;
    let kind = match source {
        Some(s) if s.starts_with('.') || s.starts_with('~') => {
            return cx.fail(
                node,
                format!("{s:?} is relative to a folder the panel does not have: use a named volume or an absolute path"),
            );
        }
        Some(s) if s.starts_with('/') => MountKind::Bind,
        _ => MountKind::Volume,
    };
    Some(Mount {
        kind,
        source: source.map(str::to_owned),
        target,
        read_only,
    })
}

fn networks(cx: &mut Cx, node: &Node) -> Option<Vec<String>> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| {
                cx.fields(v, "a service's network", &[])?;
                cx.text(k, "a network")
            })
            .collect(),
        _ => list(cx, node, "networks", |cx, n| cx.text(n, "a network")),
    }
}

/// `"name"` or `{source, target, mode}`.
fn file_ref(cx: &mut Cx, node: &Node) -> Option<FileRef> {
    if let Value::Map(_) = node.value {
        let mut r = FileRef {
            source: String::new(),
            target: None,
            mode: None,
        };
        for (key, value) in cx.fields(
            node,
            "a secret or config",
            &["source", "target", "mode", "uid", "gid"],
        )? {
            match key {
                "source" => r.source = cx.name(value, "source", 64)?,
                "target" => r.target = Some(cx.name(value, "target", 4096)?),
                "mode" => {
                    let text = cx.text(value, "mode")?;
                    let digits = text.trim_start_matches("0o");
                    r.mode = Some(match u32::from_str_radix(digits, 8) {
                        Ok(m) if m <= 0o777 => m,
                        _ => {
                            return cx
                                .fail(value, format!("mode {text:?} is not an octal file mode"));
                        }
                    });
                }
                _ => {
                    cx.fail::<()>(value, format!("`{key}` is not supported by Flotilla yet"));
                }
            }
        }
        if r.source.is_empty() {
            return cx.fail(node, "a secret or config needs a `source`");
        }
        return Some(r);
    }
    Some(FileRef {
        source: cx.name(node, "a secret or config", 64)?,
        target: None,
        mode: None,
    })
}

fn healthcheck(cx: &mut Cx, node: &Node) -> Option<Option<Healthcheck>> {
    let mut check = Healthcheck {
        test: vec![],
        interval_ns: None,
        timeout_ns: None,
        retries: None,
        start_period_ns: None,
    };
    let mut disabled = false;
    for (key, value) in cx.fields(
        node,
        "healthcheck",
        &[
            "test",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "disable",
        ],
    )? {
        match key {
            "test" => {
                check.test = match &value.value {
                    Value::Scalar { text, .. } => vec!["CMD-SHELL".into(), text.clone()],
                    _ => cx.words(value, "test")?,
                };
                match check.test.first().map(String::as_str) {
                    Some("CMD" | "CMD-SHELL") if check.test.len() > 1 => {}
                    Some("NONE") => disabled = true,
                    _ => {
                        return cx.fail(
                            value,
                            "test is a command, or a list starting with CMD, CMD-SHELL or NONE",
                        );
                    }
                }
            }
            "interval" => check.interval_ns = Some(cx.duration(value, "interval")?),
            "timeout" => check.timeout_ns = Some(cx.duration(value, "timeout")?),
            "start_period" => check.start_period_ns = Some(cx.duration(value, "start_period")?),
            "retries" => check.retries = Some(cx.uint(value, "retries")?),
            _ => disabled |= cx.flag(value, "disable")?,
        }
    }
    if disabled {
        return Some(Some(Healthcheck {
            test: vec!["NONE".into()],
            ..check
        }));
    }
    if check.test.is_empty() {
        return cx.fail(node, "healthcheck needs a `test`");
    }
    Some(Some(check))
}

fn deploy(cx: &mut Cx, node: &Node) -> Option<Deploy> {
    let mut d = Deploy::default();
    let mut replicas_at = None;
    let mut update_at = None;
    for (key, value) in cx.fields(
        node,
        "deploy",
        &[
            "mode",
            "replicas",
            "placement",
            "update_config",
            "rollback_config",
            "resources",
            "restart_policy",
            "labels",
            "endpoint_mode",
        ],
    )? {
        match key {
            "mode" => {
                let text = cx.text(value, "mode")?;
                d.mode = match ServiceMode::parse(&text) {
                    Some(m) => m,
                    None => {
                        return cx.fail(
                            value,
                            format!("mode is replicated, global, replicated-job or global-job, not {text:?}"),
                        );
                    }
                };
            }
            "replicas" => {
                let n = cx.uint(value, "replicas")?;
                if n > MAX_REPLICAS {
                    return cx.fail(value, format!("at most {MAX_REPLICAS} replicas"));
                }
                d.replicas = Some(n);
                replicas_at = Some(value);
            }
            "placement" => d.placement = placement(cx, value)?,
            "update_config" => {
                d.update = Some(update_policy(cx, value, "update_config")?);
                update_at = Some(value);
            }
            "rollback_config" => d.rollback = Some(update_policy(cx, value, "rollback_config")?),
            "resources" => d.resources = resources(cx, value)?,
            "restart_policy" => d.restart = Some(restart_policy(cx, value)?),
            "endpoint_mode" => {
                d.endpoint_mode = match cx.text(value, "endpoint_mode")?.as_str() {
                    "vip" => EndpointMode::Vip,
                    "dnsrr" => EndpointMode::Dnsrr,
                    other => {
                        return cx.fail(
                            value,
                            format!("endpoint_mode is vip or dnsrr, not {other:?}"),
                        );
                    }
                };
            }
            _ => d.labels = cx.pairs(value, "labels")?,
        }
    }
    if let Some(at) = replicas_at
        && !d.mode.has_replicas()
    {
        return cx.fail(
            at,
            format!("replicas does not apply to {} services", d.mode.as_str()),
        );
    }
    if let Some(at) = update_at
        && d.mode.is_job()
    {
        return cx.fail(
            at,
            "update_config does not apply to jobs (they run to completion)",
        );
    }
    if let (Some(max), Some(n)) = (d.placement.max_replicas_per_node, d.replicas)
        && max == 0
        && n > 0
    {
        return cx.fail(node, "max_replicas_per_node must be at least 1");
    }
    Some(d)
}

fn placement(cx: &mut Cx, node: &Node) -> Option<Placement> {
    let mut p = Placement::default();
    for (key, value) in cx.fields(
        node,
        "placement",
        &["constraints", "preferences", "max_replicas_per_node"],
    )? {
        match key {
            "constraints" => {
                let items = cx.list(value, "constraints")?;
                if items.len() > MAX_CONSTRAINTS {
                    return cx.fail(value, format!("at most {MAX_CONSTRAINTS} constraints"));
                }
                for item in items {
                    let text = cx.text(item, "a constraint")?;
                    match Constraint::parse(&text) {
                        Ok(c) => p.constraints.push(c),
                        Err(e) => return cx.fail(item, e),
                    }
                }
            }
            "preferences" => {
                for item in cx.list(value, "preferences")? {
                    let fields = cx.fields(item, "a preference", &["spread"])?;
                    for (_, spread) in fields {
                        let text = cx.text(spread, "spread")?;
                        match Spread::parse(&text) {
                            Ok(s) => p.preferences.push(s),
                            Err(e) => return cx.fail(spread, e),
                        }
                    }
                }
            }
            _ => p.max_replicas_per_node = Some(cx.uint(value, "max_replicas_per_node")?),
        }
    }
    Some(p)
}

fn update_policy(cx: &mut Cx, node: &Node, what: &str) -> Option<UpdatePolicy> {
    let mut u = UpdatePolicy::default();
    for (key, value) in cx.fields(
        node,
        what,
        &[
            "parallelism",
            "delay",
            "failure_action",
            "monitor",
            "max_failure_ratio",
            "order",
        ],
    )? {
        match key {
            "parallelism" => u.parallelism = Some(cx.uint(value, "parallelism")?),
            "delay" => u.delay_ns = Some(cx.duration(value, "delay")?),
            "monitor" => u.monitor_ns = Some(cx.duration(value, "monitor")?),
            "failure_action" => {
                u.failure_action = Some(match cx.text(value, "failure_action")?.as_str() {
                    "continue" => FailureAction::Continue,
                    "pause" => FailureAction::Pause,
                    "rollback" if what == "update_config" => FailureAction::Rollback,
                    other => {
                        return cx.fail(value, format!("failure_action {other:?} is not continue, pause or (for updates) rollback"));
                    }
                })
            }
            "max_failure_ratio" => {
                let text = cx.text(value, "max_failure_ratio")?;
                u.max_failure_ratio = match text.parse::<f32>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => Some(r),
                    _ => {
                        return cx.fail(
                            value,
                            format!("max_failure_ratio {text:?} is not between 0 and 1"),
                        );
                    }
                }
            }
            _ => {
                u.order = Some(match cx.text(value, "order")?.as_str() {
                    "stop-first" => UpdateOrder::StopFirst,
                    "start-first" => UpdateOrder::StartFirst,
                    other => {
                        return cx.fail(
                            value,
                            format!("order is stop-first or start-first, not {other:?}"),
                        );
                    }
                })
            }
        }
    }
    Some(u)
}

fn resources(cx: &mut Cx, node: &Node) -> Option<Resources> {
    let mut r = Resources::default();
    for (key, value) in cx.fields(node, "resources", &["limits", "reservations"])? {
        let limits = key == "limits";
        let known: &[&str] = if limits {
            &["cpus", "memory", "pids"]
        } else {
            &["cpus", "memory"]
        };
        for (k, v) in cx.fields(value, key, known)? {
            match (limits, k) {
                (true, "cpus") => r.limit_nano_cpus = Some(cx.cpus(v, "cpus")?),
                (true, "memory") => r.limit_memory = Some(cx.bytes(v, "memory")?),
                (true, _) => r.limit_pids = Some(cx.uint(v, "pids")?),
                (false, "cpus") => r.reserve_nano_cpus = Some(cx.cpus(v, "cpus")?),
                (false, _) => r.reserve_memory = Some(cx.bytes(v, "memory")?),
            }
        }
    }
    Some(r)
}

fn restart_policy(cx: &mut Cx, node: &Node) -> Option<RestartPolicy> {
    let mut r = RestartPolicy {
        condition: None,
        delay_ns: None,
        max_attempts: None,
        window_ns: None,
    };
    for (key, value) in cx.fields(
        node,
        "restart_policy",
        &["condition", "delay", "max_attempts", "window"],
    )? {
        match key {
            "condition" => {
                r.condition = Some(match cx.text(value, "condition")?.as_str() {
                    "none" => RestartCondition::None,
                    "on-failure" => RestartCondition::OnFailure,
                    "any" => RestartCondition::Any,
                    other => {
                        return cx.fail(
                            value,
                            format!("condition is none, on-failure or any, not {other:?}"),
                        );
                    }
                })
            }
            "delay" => r.delay_ns = Some(cx.duration(value, "delay")?),
            "window" => r.window_ns = Some(cx.duration(value, "window")?),
            _ => r.max_attempts = Some(cx.uint(value, "max_attempts")?),
        }
    }
    Some(r)
}
