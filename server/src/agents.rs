//! The agent endpoints: adapt axum WebSockets to the gateway's transport-agnostic session.
use std::time::Duration;

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use control::auth::ClientAddr;
use control::gateway::Inbound;
use control::store::AgentIdentity;
use control::{ControlError, Panel};
use domain::protocol::{CONNECT_PATH, ENROL_PATH, EnrolRequest, EnrolResponse, MAX_FRAME_BYTES};
use futures_util::{SinkExt, StreamExt, future};

use crate::AppState;
use crate::limit::AgentLimits;

const ENROL_TIMEOUT: Duration = Duration::from_secs(10);
/// Agent frames are small (a heartbeat is ~40 bytes, facts a few KiB); small per-connection
/// buffers keep thousands of idle agents cheap (see BENCHMARKS.md).
const LINK_BUFFER: usize = 4 * 1024;

fn limits(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(LINK_BUFFER)
        .write_buffer_size(LINK_BUFFER)
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(ENROL_PATH, get(enrol))
        .route(CONNECT_PATH, get(connect))
        .route(
            &format!("{}/{{id}}", domain::protocol::FIRMWARE_PATH),
            get(crate::firmware::download),
        )
}

/// 429 with a hint when to come back.
fn too_many(retry_after_secs: u32) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, retry_after_secs.to_string())],
        "too many attempts from this address",
    )
        .into_response()
}

async fn enrol(
    State(panel): State<Panel>,
    State(rate): State<Arc<AgentLimits>>,
    Extension(ClientAddr(source)): Extension<ClientAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    if !rate.enrol.take(source) {
        tracing::warn!(%source, "enrolment attempts over the limit refused");
        return too_many(5);
    }
    limits(ws).on_upgrade(move |socket| run_enrolment(panel, socket))
}

async fn run_enrolment(panel: Panel, mut socket: WebSocket) {
    let answer = match tokio::time::timeout(ENROL_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => {
            match serde_json::from_str::<EnrolRequest>(text.as_str()) {
                Ok(request) => match panel.enrolment.enrol(request).await {
                    Ok(answer) => answer,
                    Err(e) => {
                        tracing::error!(error = %control::error::chain(&e), "enrolment failed");
                        EnrolResponse::Refused {
                            reason: "panel error, try again".into(),
                        }
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "malformed enrolment request");
                    EnrolResponse::Refused {
                        reason: "malformed enrolment request".into(),
                    }
                }
            }
        }
        _ => return,
    };
    let json = serde_json::to_string(&answer).unwrap_or_default();
    let _ = socket.send(Message::Text(json.into())).await;
    let _ = socket.send(Message::Close(None)).await;
}

/// The node whose token a request bears (`Authorization: Bearer …`), or the answer that refuses
/// it: 401 for an unknown or revoked token (counted against the source), 429 for a source that
/// kept presenting bad tokens — refused before its token is even looked up.
pub(crate) async fn authenticate(
    panel: &Panel,
    rate: &AgentLimits,
    source: std::net::IpAddr,
    headers: &HeaderMap,
) -> Result<AgentIdentity, Response> {
    if !rate.refused_connects.allows(source) {
        return Err(too_many(1));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match panel.gateway.authenticate(token, &source.to_string()).await {
        Ok(agent) => Ok(agent),
        Err(ControlError::Unauthenticated) => {
            rate.refused_connects.take(source);
            Err((StatusCode::UNAUTHORIZED, "unknown or revoked node token").into_response())
        }
        Err(e) => {
            tracing::error!(error = %control::error::chain(&e), "agent authentication failed");
            Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

async fn connect(
    State(panel): State<Panel>,
    State(rate): State<Arc<AgentLimits>>,
    Extension(ClientAddr(source)): Extension<ClientAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let agent = match authenticate(&panel, &rate, source, &headers).await {
        Ok(agent) => agent,
        Err(refused) => return refused,
    };
    limits(ws).on_upgrade(move |socket| run_session(panel, agent, socket))
}

async fn run_session(panel: Panel, agent: AgentIdentity, socket: WebSocket) {
    let (mut sink, stream) = socket.split();
    // The session ends at the agent's close frame or a transport error; pings are answered by axum.
    let incoming = stream
        .take_while(|m| future::ready(matches!(m, Ok(msg) if !matches!(msg, Message::Close(_)))))
        .filter_map(|m| {
            future::ready(match m {
                Ok(Message::Text(t)) => Some(Inbound::Text(t.as_str().to_owned())),
                Ok(Message::Binary(_)) => Some(Inbound::Binary),
                _ => None,
            })
        });
    let close = {
        let outgoing = (&mut sink)
            .with(|text: String| future::ready(Ok::<_, axum::Error>(Message::Text(text.into()))));
        panel
            .gateway
            .serve(agent, Box::pin(incoming), Box::pin(outgoing))
            .await
    };
    let frame = CloseFrame {
        code: close.code,
        reason: close.reason.into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}
