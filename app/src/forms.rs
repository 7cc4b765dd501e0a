//! What every form shares: the field errors a server function answered with, and a form's inline
//! errors — the domain's own checks once the form was tried, else what the server refused.
use domain::{AppError, ValidationError};
use leptos::prelude::*;

/// The field errors of an error answer (422); none for any other error.
pub fn field_errors(e: &AppError) -> Vec<ValidationError> {
    match e {
        AppError::Invalid(all) => all.clone(),
        AppError::Validation(v) => vec![v.clone()],
        _ => vec![],
    }
}

/// The field errors in a server action's latest answer.
pub fn refused<T>(answer: Option<Result<T, AppError>>) -> Vec<ValidationError> {
    match answer {
        Some(Err(e)) => field_errors(&e),
        _ => vec![],
    }
}

/// A form's inline errors: once it was tried, what the domain's validation (`local`) finds;
/// while that finds nothing, the fields the server refused in its latest answer (`answer`).
pub fn form_errors<T: 'static>(
    tried: impl Fn() -> bool + Send + Sync + 'static,
    local: impl Fn() -> Vec<ValidationError> + Send + Sync + 'static,
    answer: impl Fn() -> Option<Result<T, AppError>> + Send + Sync + 'static,
) -> Memo<Vec<ValidationError>> {
    Memo::new(move |_| {
        let local = if tried() { local() } else { vec![] };
        if local.is_empty() {
            refused(answer())
        } else {
            local
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_field_errors_are_refused_fields() {
        let name = ValidationError::new("name", "taken");
        let all = vec![name.clone()];
        assert_eq!(
            refused::<()>(Some(Err(AppError::Invalid(all.clone())))),
            all
        );
        assert_eq!(
            refused::<()>(Some(Err(AppError::Validation(name.clone())))),
            [name]
        );
        assert!(refused::<()>(Some(Err(AppError::Forbidden))).is_empty());
        assert!(refused(Some(Ok(()))).is_empty());
        assert!(refused::<()>(None).is_empty());
    }
}
