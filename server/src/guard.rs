//! Request guards every response of the panel passes through:
//! * [`client_addr`]: who is asking (the TCP peer, or behind a trusted proxy the address it
//!   forwards), as [`ClientAddr`] for throttling and logs;
//! * [`same_origin`]: state-changing requests from another site are refused (CSRF); SameSite
//!   cookies alone do not cover another port of the same host, nor `text/plain` bodies that
//!   skip the CORS preflight;
//! * [`security_headers`]: a Content-Security-Policy with a per-response nonce that the
//!   hydration scripts carry, and the usual hardening headers (HSTS when serving TLS);
//! * [`client_errors`]: a server-function call whose arguments do not decode is the client's
//!   mistake, answered 4xx like any other validation error, not 500.
use std::net::IpAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use control::auth::ClientAddr;
use domain::AppError;

use crate::tls::PeerAddr;

/// Addresses of reverse proxies whose `X-Forwarded-For` the panel believes.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Vec<IpAddr>);

/// Puts the client's address into the request's extensions: the peer, or — when the peer is a
/// trusted proxy — the last address it appended to `X-Forwarded-For`.
pub async fn client_addr(
    State(proxies): State<TrustedProxies>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let addr = forwarded_client(peer.ip(), req.headers(), &proxies).unwrap_or(peer.ip());
    req.extensions_mut().insert(ClientAddr(addr));
    next.run(req).await
}

fn forwarded_client(peer: IpAddr, headers: &HeaderMap, proxies: &TrustedProxies) -> Option<IpAddr> {
    if !proxies.0.contains(&peer) {
        return None;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|a| a.trim().parse().ok())
}

/// Refuses state-changing requests that a browser says come from another origin.
///
/// Browsers send `Sec-Fetch-Site` (and `Origin`) with every POST; a request that has neither is
/// not from a browser and cannot be a forged cross-site one. Mirrors the check of Go's
/// `http.CrossOriginProtection`.
pub async fn same_origin(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || !is_cross_origin(req.headers())
    {
        return next.run(req).await;
    }
    tracing::warn!(
        method = %req.method(),
        path = %req.uri().path(),
        origin = ?req.headers().get(header::ORIGIN),
        site = ?req.headers().get("sec-fetch-site"),
        "cross-origin request refused"
    );
    let body = serde_json::to_string(&AppError::Forbidden).unwrap_or_default();
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn is_cross_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !(site == "same-origin" || site == "none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(scheme, rest)| (scheme, rest.trim_end_matches('/')));
    match (origin_host, host) {
        (Some((scheme, authority)), Some(host)) => {
            strip_default_port(scheme, authority) != strip_default_port(scheme, host)
        }
        // `Origin: null` (sandboxed frames, some redirects) or no Host: refuse.
        _ => true,
    }
}

fn strip_default_port<'a>(scheme: &str, authority: &'a str) -> &'a str {
    match scheme {
        "https" => authority.strip_suffix(":443").unwrap_or(authority),
        "http" => authority.strip_suffix(":80").unwrap_or(authority),
        _ => authority,
    }
}

/// The nonce of one response's Content-Security-Policy; the server hands it to Leptos so the
/// hydration scripts carry it.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// Whether the panel serves TLS (HSTS is sent only then).
#[derive(Clone, Copy, Debug)]
pub struct Tls(pub bool);

pub async fn security_headers(
    State(Tls(tls)): State<Tls>,
    mut req: Request,
    next: Next,
) -> Response {
    let nonce = control::secret::token("");
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    let fixed: [(HeaderName, &str); 4] = [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        h.insert(name, HeaderValue::from_static(value));
    }
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    res
}

/// Most of an error body worth reading back.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A server function that failed before its body ran (its arguments did not decode) answers 500
/// with the error in JSON; this sets the status the error itself calls for (4xx).
pub async fn client_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR || !json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ERROR_BODY_LIMIT).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "response too large").into_response();
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes)
        && let Ok(status) = StatusCode::from_u16(error.status())
    {
        parts.status = status;
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cross_origin_requests_are_recognised() {
        let same = headers(&[("host", "panel:3000"), ("origin", "https://panel:3000")]);
        assert!(!is_cross_origin(&same));
        let other_port = headers(&[("host", "panel:3000"), ("origin", "https://panel:4000")]);
        assert!(
            is_cross_origin(&other_port),
            "another port is another origin"
        );
        let default_port = headers(&[("host", "panel:443"), ("origin", "https://panel")]);
        assert!(!is_cross_origin(&default_port));
        assert!(is_cross_origin(&headers(&[
            ("host", "panel"),
            ("origin", "null")
        ])));
        assert!(
            !is_cross_origin(&headers(&[("host", "panel")])),
            "not a browser"
        );
        assert!(is_cross_origin(&headers(&[(
            "sec-fetch-site",
            "same-site"
        )])));
        assert!(is_cross_origin(&headers(&[(
            "sec-fetch-site",
            "cross-site"
        )])));
        assert!(!is_cross_origin(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
    }

    #[test]
    fn only_trusted_proxies_may_name_the_client() {
        let proxy: IpAddr = "10.0.0.2".parse().expect("ip");
        let trusted = TrustedProxies(vec![proxy]);
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.4")]);
        assert_eq!(
            forwarded_client(proxy, &h, &trusted),
            "198.51.100.4".parse().ok(),
            "the address the proxy itself appended"
        );
        let stranger: IpAddr = "10.0.0.3".parse().expect("ip");
        assert_eq!(forwarded_client(stranger, &h, &trusted), None);
    }
}
