//! Server-side helpers for the server functions (compiled only with `ssr`): find the control
//! plane, authenticate the caller from the session cookie, and turn errors into HTTP statuses.
use std::net::{IpAddr, Ipv4Addr};

use control::Panel;
use control::auth::{Actor, ClientAddr, session_token_from_cookies};
use domain::{AppError, Permission};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

pub fn panel() -> Result<Panel, AppError> {
    use_context::<Panel>().ok_or_else(|| {
        tracing::error!("control plane missing from the request context");
        AppError::Internal("ctx".into())
    })
}

/// The session cookie's token, if any.
pub async fn session_token() -> Option<String> {
    let headers: HeaderMap = leptos_axum::extract().await.ok()?;
    let cookies = headers.get(COOKIE)?.to_str().ok()?;
    session_token_from_cookies(cookies).map(str::to_owned)
}

/// The signed-in caller if their role allows `permission`: `Unauthorized` without a valid
/// session, `Forbidden` without the role. Every server function that needs a session starts
/// here, before it looks at its input; the use case checks the role again.
pub async fn authorize(permission: Permission) -> Result<(Panel, Actor), AppError> {
    let panel = panel()?;
    let token = session_token().await;
    let actor = panel.auth.session(token.as_deref()).await.map_err(fail)?;
    actor.require(permission).map_err(fail)?;
    Ok((panel, actor))
}

/// The address the request comes from (set by the server for every request).
pub async fn client_addr() -> IpAddr {
    let parts: Option<http::request::Parts> = leptos_axum::extract().await.ok();
    parts
        .and_then(|p| p.extensions.get::<ClientAddr>().copied())
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ClientAddr(ip)| ip)
}

/// Maps an error into the wire error and sets the response status to match.
pub fn fail(e: impl Into<AppError>) -> AppError {
    let e = e.into();
    if let Some(res) = use_context::<ResponseOptions>() {
        res.set_status(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        );
    }
    e
}

pub fn set_cookie(value: &str) {
    if let (Some(res), Ok(v)) = (
        use_context::<ResponseOptions>(),
        HeaderValue::from_str(value),
    ) {
        res.append_header(SET_COOKIE, v);
    }
}

pub fn now_ms() -> i64 {
    control::secret::now_ms()
}
