//! A cluster's own rollout gates: checks that must pass after each node of a firmware rollout
//! serves again, before the next node goes down. An HTTP check is a GET sent by the upgraded
//! node's agent (so it reaches what the node reaches: a VIP, the node's own published port); a
//! job check is a one-shot Swarm job (a replicated job, one completion, never restarted) that
//! must complete.
use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// At most this many gates per cluster.
pub const MAX_GATES: usize = 10;
/// Bounds of how long one gate may take (seconds).
pub const TIMEOUT_SECS: std::ops::RangeInclusive<u32> = 1..=600;
const MAX_NAME: usize = 64;
const MAX_URL: usize = 512;
const MAX_IMAGE: usize = 255;
const MAX_ARGS: usize = 32;
const MAX_ARG: usize = 256;

/// What a gate checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GateCheck {
    /// `GET url` from the upgraded node answers with `status`.
    Http { url: String, status: u16 },
    /// A one-shot job of `image` (with `command`, else the image's own) completes.
    Job { image: String, command: Vec<String> },
}

impl GateCheck {
    /// "GET http://…/health → 200", "job busybox:1 sh -c …", for lists and reasons.
    pub fn describe(&self) -> String {
        match self {
            GateCheck::Http { url, status } => format!("GET {url} → {status}"),
            GateCheck::Job { image, command } if command.is_empty() => format!("job {image}"),
            GateCheck::Job { image, command } => format!("job {image} {}", command.join(" ")),
        }
    }
}

/// A gate as stored and shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub id: String,
    pub name: String,
    pub check: GateCheck,
    pub timeout_secs: u32,
}

/// The add-gate form as typed. `kind` is `http` or `job`; `url` and `status` are read for an
/// HTTP check, `image` and `command` (words separated by spaces) for a job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateDraft {
    pub name: String,
    pub kind: String,
    pub url: String,
    pub status: String,
    pub image: String,
    pub command: String,
    pub timeout_secs: String,
}

/// A checked draft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGate {
    pub name: String,
    pub check: GateCheck,
    pub timeout_secs: u32,
}

impl GateDraft {
    /// Fields: `name`, `kind`, `url`, `status`, `image`, `command`, `timeout_secs`.
    pub fn validate(&self) -> Result<NewGate, Vec<ValidationError>> {
        let mut errors = vec![];
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            errors.push(ValidationError::new(
                "name",
                format!("Give the gate a name (at most {MAX_NAME} characters)"),
            ));
        }
        let timeout = self.timeout_secs.trim().parse::<u32>().ok();
        let timeout = match timeout.filter(|t| TIMEOUT_SECS.contains(t)) {
            Some(t) => t,
            None => {
                errors.push(ValidationError::new(
                    "timeout_secs",
                    format!(
                        "Seconds the gate may take: {} to {}",
                        TIMEOUT_SECS.start(),
                        TIMEOUT_SECS.end()
                    ),
                ));
                0
            }
        };
        let check = match self.kind.as_str() {
            "http" => {
                let url = self.url.trim();
                if let Err(m) = check_url(url) {
                    errors.push(ValidationError::new("url", m));
                }
                let status = self.status.trim().parse::<u16>().ok();
                let status = match status.filter(|s| (100..=599).contains(s)) {
                    Some(s) => s,
                    None => {
                        errors.push(ValidationError::new(
                            "status",
                            "The HTTP status that passes: 100 to 599",
                        ));
                        0
                    }
                };
                Some(GateCheck::Http {
                    url: url.to_owned(),
                    status,
                })
            }
            "job" => {
                let image = self.image.trim();
                if image.is_empty()
                    || image.len() > MAX_IMAGE
                    || !image
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
                {
                    errors.push(ValidationError::new(
                        "image",
                        "Give the job's image, e.g. registry.local/checks:1",
                    ));
                }
                let command: Vec<String> =
                    self.command.split_whitespace().map(str::to_owned).collect();
                if command.len() > MAX_ARGS || command.iter().any(|a| a.len() > MAX_ARG) {
                    errors.push(ValidationError::new(
                        "command",
                        format!("At most {MAX_ARGS} words of at most {MAX_ARG} characters"),
                    ));
                }
                Some(GateCheck::Job {
                    image: image.to_owned(),
                    command,
                })
            }
            _ => {
                errors.push(ValidationError::new(
                    "kind",
                    "Choose an HTTP check or a job",
                ));
                None
            }
        };
        match check {
            Some(check) if errors.is_empty() => Ok(NewGate {
                name: name.to_owned(),
                check,
                timeout_secs: timeout,
            }),
            _ => Err(errors),
        }
    }
}

/// `http://host[:port][/path]`: the agents speak plain HTTP to the services they check.
fn check_url(url: &str) -> Result<(), String> {
    let bad = || "An http:// address, e.g. http://10.0.0.10:8080/health".to_string();
    if url.len() > MAX_URL || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, rest)) => (h, Some(rest.strip_prefix(':').ok_or_else(bad)?)),
            None => return Err(bad()),
        },
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    if host.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    if let Some(p) = port
        && p.parse::<u16>().ok().filter(|p| *p > 0).is_none()
    {
        return Err("The port must be 1 to 65535".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str, status: &str) -> GateDraft {
        GateDraft {
            name: "web answers".into(),
            kind: "http".into(),
            url: url.into(),
            status: status.into(),
            timeout_secs: "10".into(),
            ..GateDraft::default()
        }
    }

    fn fields(d: &GateDraft) -> Vec<String> {
        d.validate()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn an_http_gate_needs_an_http_address_and_a_status() {
        let ok = http(" http://10.77.0.102:8080/health ", "200").validate();
        assert_eq!(
            ok.map(|g| g.check),
            Ok(GateCheck::Http {
                url: "http://10.77.0.102:8080/health".into(),
                status: 200
            })
        );
        for good in ["http://svc", "http://[::1]:8080/x", "http://[fd00::1]/"] {
            assert!(http(good, "204").validate().is_ok(), "{good}");
        }
        for bad in [
            "https://x/",
            "ftp://x",
            "http://",
            "http://:80/",
            "http://a b/",
            "http://u@x/",
            "http://x:0/",
            "http://x:99999/",
            "http://[::1/",
            "http://[::1]x/",
        ] {
            assert_eq!(fields(&http(bad, "200")), ["url"], "{bad}");
        }
        assert_eq!(fields(&http("http://x/", "99")), ["status"]);
        assert_eq!(fields(&http("http://x/", "")), ["status"]);
    }

    #[test]
    fn a_job_gate_needs_an_image_and_words() {
        let d = GateDraft {
            name: "smoke".into(),
            kind: "job".into(),
            image: "flotilla-lab/busybox:1".into(),
            command: "sh -c  true".into(),
            timeout_secs: "60".into(),
            ..GateDraft::default()
        };
        assert_eq!(
            d.validate().map(|g| g.check.describe()),
            Ok("job flotilla-lab/busybox:1 sh -c true".into())
        );
        let bad = GateDraft {
            image: "no spaces allowed".into(),
            command: "x".repeat(300),
            ..d
        };
        assert_eq!(fields(&bad), ["image", "command"]);
    }

    #[test]
    fn name_kind_and_timeout_are_named() {
        let d = GateDraft {
            timeout_secs: "0".into(),
            ..GateDraft::default()
        };
        assert_eq!(fields(&d), ["name", "timeout_secs", "kind"]);
        let d = GateDraft {
            timeout_secs: "601".into(),
            ..http("http://x/", "200")
        };
        assert_eq!(fields(&d), ["timeout_secs"]);
    }
}
