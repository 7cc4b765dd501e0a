//! The error type that crosses the wire to the browser.
//!
//! Lower layers (store, gateway, Docker adapter) have their own error types; they are mapped into
//! [`AppError`] in one place (`control::error`), where the full cause chain is logged and only a
//! safe message is kept for the user. `Internal` therefore never carries raw SQL or Docker text.
use serde::{Deserialize, Serialize};

/// A field-level validation failure, shown inline next to the offending input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in.")]
    Unauthorized,
    #[error("Wrong username or password.")]
    BadCredentials,
    #[error("Your role does not allow this.")]
    Forbidden,
    #[error("{0} not found.")]
    NotFound(String),
    #[error("{0}")]
    Validation(ValidationError),
    /// Several fields need attention (forms with many fields).
    #[error("{} field(s) need attention: {}", .0.len(), .0.first().map(|e| e.message.as_str()).unwrap_or_default())]
    Invalid(Vec<ValidationError>),
    #[error("{0}")]
    Conflict(String),
    #[error("Too many failed attempts. Try again in {retry_after_secs} s.")]
    Throttled { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// Something went wrong on the server; the reference ties the message to the server log.
    #[error("Something went wrong on the server (reference {0}).")]
    Internal(String),
    /// The request never reached the server function or its answer could not be read.
    #[error("The panel could not be reached: {0}")]
    Transport(String),
}

impl AppError {
    /// The HTTP status a server function answers with for this error.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized | AppError::BadCredentials => 401,
            AppError::Forbidden => 403,
            AppError::NotFound(_) => 404,
            AppError::Validation(_) | AppError::Invalid(_) => 422,
            AppError::Conflict(_) => 409,
            AppError::Throttled { .. } => 429,
            AppError::Unavailable(_) => 503,
            AppError::Internal(_) | AppError::Transport(_) => 500,
        }
    }

    /// The validation failure for `field`, if this error is one.
    pub fn field_error(&self, field: &str) -> Option<&str> {
        match self {
            AppError::Validation(v) if v.field == field => Some(&v.message),
            AppError::Invalid(all) => all
                .iter()
                .find(|v| v.field == field)
                .map(|v| v.message.as_str()),
            _ => None,
        }
    }
}

impl From<ValidationError> for AppError {
    fn from(value: ValidationError) -> Self {
        AppError::Validation(value)
    }
}

#[cfg(feature = "server-fn")]
mod server_fn_impl {
    use super::AppError;
    use server_fn::codec::JsonEncoding;
    use server_fn::error::{FromServerFnError, ServerFnErrorErr};

    impl FromServerFnError for AppError {
        type Encoder = JsonEncoding;

        fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
            match value {
                ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                    AppError::Validation(super::request_error(&m))
                }
                // On the server this is a request body that does not decode: the client's
                // mistake (4xx). In the browser it is an answer that does not decode.
                #[cfg(not(target_arch = "wasm32"))]
                ServerFnErrorErr::Deserialization(m) => {
                    AppError::Validation(super::request_error(&m))
                }
                other => AppError::Transport(other.to_string()),
            }
        }
    }
}

/// A request whose arguments do not decode, keyed by the field the decoder names
/// ("missing field `label`") so the answer says which one; `request` when it names none.
pub fn request_error(message: &str) -> ValidationError {
    let field = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| {
            let rest = &message[message.find(p)? + p.len()..];
            rest.find('`').map(|end| &rest[..end])
        })
        .filter(|f| !f.is_empty() && f.len() <= 64 && !f.contains(' '))
        .unwrap_or("request");
    ValidationError::new(field, format!("The request is malformed: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_http_semantics() {
        assert_eq!(AppError::Unauthorized.status(), 401);
        assert_eq!(AppError::Forbidden.status(), 403);
        assert_eq!(
            AppError::Throttled {
                retry_after_secs: 3
            }
            .status(),
            429
        );
        assert_eq!(
            AppError::Validation(ValidationError::new("a", "b")).status(),
            422
        );
    }

    #[test]
    fn malformed_requests_name_their_field() {
        assert_eq!(request_error("missing field `label`").field, "label");
        assert_eq!(
            request_error("missing field `draft` at line 1 column 2").field,
            "draft"
        );
        assert_eq!(request_error("expected value at line 1").field, "request");
        assert!(
            request_error("missing field `label`")
                .message
                .contains("missing field `label`")
        );
    }

    #[test]
    fn field_error_only_matches_its_field() {
        let e = AppError::from(ValidationError::new("username", "too short"));
        assert_eq!(e.field_error("username"), Some("too short"));
        assert_eq!(e.field_error("password"), None);
        assert_eq!(AppError::Forbidden.field_error("username"), None);
    }

    #[test]
    fn internal_message_shows_only_the_reference() {
        let e = AppError::Internal("ab12".into());
        assert_eq!(
            e.to_string(),
            "Something went wrong on the server (reference ab12)."
        );
    }
}
