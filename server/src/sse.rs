//! `GET /events`: server-sent change notifications for signed-in browsers.
use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use control::auth::session_token_from_cookies;
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;

pub async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(axum::http::header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session_token_from_cookies);
    if state.panel.auth.session(token).await.is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Sse::new(stream_events(state))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn stream_events(state: AppState) -> impl Stream<Item = Result<Event, Infallible>> {
    let rx = state.panel.events.subscribe();
    stream::unfold((rx, state.stopping), |(mut rx, mut stopping)| async move {
        let received = tokio::select! {
            _ = stopping.wait_for(|s| *s) => return None,
            received = rx.recv() => received,
        };
        let event = match received {
            Ok(event) => {
                let data = serde_json::to_string(&event).unwrap_or_default();
                Event::default().event("change").data(data)
            }
            // A slow browser missed events: tell it to reload everything.
            Err(RecvError::Lagged(_)) => Event::default().event("resync").data("{}"),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (rx, stopping)))
    })
}
