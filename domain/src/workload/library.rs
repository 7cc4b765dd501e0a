//! The library: apps and AI models the panel can install on clusters, each with versions. A
//! version is a compose file that parses ([`super::compose`]); a model is an app whose image
//! serves a model artifact, and its card says which kind ("model: onnx").
use serde::{Deserialize, Serialize};

use super::compose::{self, Compose, ServiceMode};
use crate::ValidationError;

pub const MAX_APP_NAME: usize = 60;
pub const MAX_DESCRIPTION: usize = 500;
pub const MAX_VERSION: usize = 40;
/// The most versions one app keeps.
pub const MAX_VERSIONS: usize = 100;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    #[default]
    App,
    Model,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::App => "app",
            WorkloadKind::Model => "model",
        }
    }

    pub fn parse(text: &str) -> Option<WorkloadKind> {
        match text {
            "app" => Some(WorkloadKind::App),
            "model" => Some(WorkloadKind::Model),
            _ => None,
        }
    }
}

/// What the "New app" form sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppDraft {
    pub name: String,
    pub kind: WorkloadKind,
    /// For models: the artifact's format (onnx, tflite, openvino…).
    pub model_format: String,
    pub description: String,
}

/// A validated app or model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApp {
    pub name: String,
    pub kind: WorkloadKind,
    pub model_format: Option<String>,
    pub description: String,
}

impl AppDraft {
    pub fn validate(&self) -> Result<NewApp, Vec<ValidationError>> {
        let mut errors = Vec::new();
        let name = self.name.trim();
        if name.is_empty() {
            errors.push(ValidationError::new("name", "Give the app a name."));
        } else if name.chars().count() > MAX_APP_NAME {
            errors.push(ValidationError::new(
                "name",
                format!("Use at most {MAX_APP_NAME} characters."),
            ));
        } else if name.chars().any(char::is_control) {
            errors.push(ValidationError::new(
                "name",
                "Control characters are not allowed.",
            ));
        }
        let format = self.model_format.trim();
        let model_format = match self.kind {
            WorkloadKind::App => None,
            WorkloadKind::Model => {
                if format.is_empty()
                    || format.len() > 20
                    || !format
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                {
                    errors.push(ValidationError::new(
                        "model_format",
                        "Name the model's format in letters and digits, e.g. onnx or tflite.",
                    ));
                }
                Some(format.to_ascii_lowercase())
            }
        };
        let description = self.description.trim();
        if description.chars().count() > MAX_DESCRIPTION {
            errors.push(ValidationError::new(
                "description",
                format!("Use at most {MAX_DESCRIPTION} characters."),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NewApp {
            name: name.to_owned(),
            kind: self.kind,
            model_format,
            description: description.to_owned(),
        })
    }
}

/// What the "New version" form sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionDraft {
    pub version: String,
    pub compose: String,
}

impl VersionDraft {
    /// The version label and the parsed compose file; every compose problem is an error of the
    /// `compose` field with its line.
    pub fn validate(&self) -> Result<(String, Compose), Vec<ValidationError>> {
        let mut errors = Vec::new();
        let version = self.version.trim();
        if version.is_empty()
            || version.len() > MAX_VERSION
            || !version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
        {
            errors.push(ValidationError::new(
                "version",
                format!("Write the version in letters, digits, '.', '-', '_' or '+' (at most {MAX_VERSION}), e.g. 1.4.2."),
            ));
        }
        let parsed = compose::parse(&self.compose).map_err(|e| {
            e.0.into_iter()
                .map(|e| ValidationError::new("compose", e.to_string()))
                .collect::<Vec<_>>()
        });
        match parsed {
            Ok(c) if errors.is_empty() => Ok((version.to_owned(), c)),
            Ok(_) => Err(errors),
            Err(mut more) => {
                errors.append(&mut more);
                Err(errors)
            }
        }
    }
}

/// One service of a version, as the library lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub name: String,
    pub image: String,
    pub mode: ServiceMode,
    pub replicas: Option<u64>,
}

impl ServiceSummary {
    pub fn of(compose: &Compose) -> Vec<ServiceSummary> {
        compose
            .services
            .iter()
            .map(|s| ServiceSummary {
                name: s.name.clone(),
                image: s.image.clone(),
                mode: s.deploy.mode,
                replicas: s.deploy.replicas,
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionView {
    pub id: String,
    pub version: String,
    pub created_at_ms: i64,
    pub created_by: String,
    pub services: Vec<ServiceSummary>,
}

/// An app or model with its versions, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppView {
    pub id: String,
    pub name: String,
    pub kind: WorkloadKind,
    pub model_format: Option<String>,
    pub description: String,
    pub created_at_ms: i64,
    pub versions: Vec<VersionView>,
}

impl AppView {
    /// The kind as the card shows it: "app" or "model: onnx".
    pub fn kind_label(&self) -> String {
        match (&self.kind, &self.model_format) {
            (WorkloadKind::Model, Some(f)) => format!("model: {f}"),
            (kind, _) => kind.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_and_models_validate() {
        let app = AppDraft {
            name: "  Line monitor ".into(),
            ..Default::default()
        }
        .validate()
        .expect("valid");
        assert_eq!(
            (app.name.as_str(), app.model_format),
            ("Line monitor", None)
        );
        let model = AppDraft {
            name: "Defects".into(),
            kind: WorkloadKind::Model,
            model_format: "ONNX".into(),
            description: String::new(),
        }
        .validate()
        .expect("valid");
        assert_eq!(model.model_format.as_deref(), Some("onnx"));
        let bad = AppDraft {
            name: " ".into(),
            kind: WorkloadKind::Model,
            model_format: "on nx".into(),
            description: "x".repeat(MAX_DESCRIPTION + 1),
        }
        .validate()
        .expect_err("invalid");
        let fields: Vec<&str> = bad.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "model_format", "description"]);
    }

    #[test]
    fn versions_need_a_label_and_a_compose_file_that_parses() {
        let (v, c) = VersionDraft {
            version: "1.0.0".into(),
            compose: "services:\n  web:\n    image: busybox\n".into(),
        }
        .validate()
        .expect("valid");
        assert_eq!((v.as_str(), c.services.len()), ("1.0.0", 1));
        let bad = VersionDraft {
            version: "one point oh".into(),
            compose: "services:\n  web:\n    image: busybox\n    build: .\n".into(),
        }
        .validate()
        .expect_err("invalid");
        assert_eq!(bad[0].field, "version");
        assert_eq!(bad[1].field, "compose");
        assert!(
            bad[1].message.starts_with("line 4: `build`"),
            "{}",
            bad[1].message
        );
    }

    #[test]
    fn the_card_names_a_model_by_its_format() {
        let view = AppView {
            id: "a".into(),
            name: "Defects".into(),
            kind: WorkloadKind::Model,
            model_format: Some("onnx".into()),
            description: String::new(),
            created_at_ms: 0,
            versions: vec![],
        };
        assert_eq!(view.kind_label(), "model: onnx");
    }
}
