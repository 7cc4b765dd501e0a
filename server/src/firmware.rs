//! Firmware over HTTP: the upload (a streamed request body, too large for a server function) and
//! the agents' resumable download.
//!
//! * `POST /api/firmware/upload?version=…&target=…&notes=…` with the file as the raw body: the
//!   session's role and the metadata are checked before a byte is stored (the Origin check of
//!   [`crate::guard::same_origin`] applies as to every POST); the body streams to disk.
//!   Answers the artifact as JSON, or the wire error with its status (422 naming the field).
//! * `GET /agent/firmware/<id>` with the node token: the file, honouring one `Range: bytes=N-[M]`
//!   so an interrupted download resumes (206 with `Content-Range`).
use std::io::SeekFrom;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use control::auth::{ClientAddr, session_token_from_cookies};
use control::{ControlError, Panel};
use domain::AppError;
use domain::firmware::FirmwareDraft;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::limit::AgentLimits;

pub const UPLOAD_PATH: &str = "/api/firmware/upload";
const CHUNK: usize = 64 * 1024;

fn error(e: ControlError) -> Response {
    let e = AppError::from(e);
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(e)).into_response()
}

pub async fn upload(
    State(panel): State<Panel>,
    headers: HeaderMap,
    Query(draft): Query<FirmwareDraft>,
    body: Body,
) -> Response {
    let token = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session_token_from_cookies);
    let actor = match panel.auth.session(token).await {
        Ok(actor) => actor,
        Err(e) => return error(e),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut upload = match panel.firmware.begin_upload(&actor, &draft, declared).await {
        Ok(u) => u,
        Err(e) => return error(e),
    };
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let written = match chunk {
            Ok(bytes) => upload.write(&bytes).await,
            Err(e) => {
                tracing::warn!(user = %actor.username, error = %e, "firmware upload interrupted");
                panel.firmware.abandon(upload).await;
                return (StatusCode::BAD_REQUEST, "the upload was interrupted").into_response();
            }
        };
        if let Err(e) = written {
            panel.firmware.abandon(upload).await;
            return error(e);
        }
    }
    match panel.firmware.finish(upload).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => error(e),
    }
}

/// `bytes=N-` or `bytes=N-M` within `size`: the first and last byte to send.
fn range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let spec = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("bytes="))
        .ok_or(())?;
    let (first, last) = spec.split_once('-').ok_or(())?;
    let first: u64 = first.trim().parse().map_err(|_| ())?;
    let last = match last.trim() {
        "" => size.saturating_sub(1),
        l => l
            .parse::<u64>()
            .map_err(|_| ())?
            .min(size.saturating_sub(1)),
    };
    if first >= size || first > last {
        return Err(());
    }
    Ok(Some((first, last)))
}

pub async fn download(
    State(panel): State<Panel>,
    State(rate): State<Arc<AgentLimits>>,
    Extension(ClientAddr(source)): Extension<ClientAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let agent = match crate::agents::authenticate(&panel, &rate, source, &headers).await {
        Ok(agent) => agent,
        Err(refused) => return refused,
    };
    let (path, size) = match panel.firmware.file_for_agent(&id).await {
        Ok(found) => found,
        Err(e) => return error(e),
    };
    let (first, last, status) = match range(&headers, size) {
        Ok(Some((f, l))) => (f, l, StatusCode::PARTIAL_CONTENT),
        Ok(None) => (0, size.saturating_sub(1), StatusCode::OK),
        Err(()) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
            )
                .into_response();
        }
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "firmware file missing");
            return StatusCode::NOT_FOUND.into_response();
        }
    };
    if let Err(e) = file.seek(SeekFrom::Start(first)).await {
        tracing::error!(path = %path.display(), error = %e, "firmware file unreadable");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    tracing::info!(node = %agent.node_id, artifact = %id, from = first, "firmware download");
    let length = last + 1 - first;
    let chunks = futures_util::stream::unfold(
        (file.take(length), vec![0u8; CHUNK]),
        |(mut file, mut buf)| async move {
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    let chunk = axum::body::Bytes::copy_from_slice(&buf[..n]);
                    Some((Ok::<_, std::io::Error>(chunk), (file, buf)))
                }
                Err(e) => Some((Err(e), (file, buf))),
            }
        },
    );
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{size}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_range(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn ranges_resume_and_refuse_what_is_outside() {
        assert_eq!(range(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(range(&with_range("bytes=4-"), 10), Ok(Some((4, 9))));
        assert_eq!(range(&with_range("bytes=2-5"), 10), Ok(Some((2, 5))));
        assert_eq!(range(&with_range("bytes=2-50"), 10), Ok(Some((2, 9))));
        assert_eq!(range(&with_range("bytes=10-"), 10), Err(()));
        assert_eq!(range(&with_range("bytes=5-2"), 10), Err(()));
        assert_eq!(range(&with_range("items=1-"), 10), Err(()));
    }
}
