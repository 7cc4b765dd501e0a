//! The control plane's one error type, and its single mapping into the wire error.
//!
//! Use `ControlError` everywhere inside `control`. At the boundary (`From<ControlError> for
//! AppError`) user-meaningful variants pass through; infrastructure failures are logged with their
//! whole cause chain under a short reference, and the user sees only that reference.
use domain::{AppError, ValidationError};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("{} fields are invalid", .0.len())]
    Invalid(Vec<ValidationError>),
    #[error("no valid session")]
    Unauthenticated,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("role does not allow this action")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("too many failed attempts, retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("background task failed")]
    Join(#[from] tokio::task::JoinError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("secrets vault: {0}")]
    Vault(String),
}

impl ControlError {
    /// True when a unique constraint refused the write (e.g. a taken username).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, ControlError::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
    }
}

/// Renders an error and every `source()` below it, for logs.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut cur = error.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

/// What a workflow step shows when it failed on the panel's own error (the store, a corrupt
/// row): the cause goes to the log under `context` (the cluster or workflow), the step's
/// timeline points there.
pub fn in_step(context: &str, e: ControlError) -> String {
    tracing::error!(context, error = %chain(&e), "step failed on a panel error");
    "panel error (see the panel log)".to_owned()
}

impl From<ControlError> for AppError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Validation(v) => AppError::Validation(v),
            ControlError::Invalid(all) => AppError::Invalid(all),
            ControlError::Unauthenticated => AppError::Unauthorized,
            ControlError::BadCredentials => AppError::BadCredentials,
            ControlError::Forbidden => AppError::Forbidden,
            ControlError::NotFound(what) => AppError::NotFound(what.to_owned()),
            ControlError::Conflict(m) => AppError::Conflict(m),
            ControlError::Throttled { retry_after_secs } => {
                AppError::Throttled { retry_after_secs }
            }
            ControlError::Unavailable(m) => AppError::Unavailable(m),
            internal => {
                let reference = crate::secret::reference();
                tracing::error!(reference = %reference, error = %chain(&internal), "request failed");
                AppError::Internal(reference)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let e: AppError =
            ControlError::Corrupt("facts column: expected value at line 1".into()).into();
        match e {
            AppError::Internal(reference) => assert_eq!(reference.len(), 8),
            other => panic!("expected Internal, got {other:?}"),
        }
    }

    #[test]
    fn user_errors_pass_through() {
        assert_eq!(AppError::from(ControlError::Forbidden), AppError::Forbidden);
        assert_eq!(
            AppError::from(ControlError::Throttled {
                retry_after_secs: 4
            }),
            AppError::Throttled {
                retry_after_secs: 4
            }
        );
    }
}
