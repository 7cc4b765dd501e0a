//! `GET /events`: server-sent change notifications for signed-in browsers. The stream checks its
//! session again every [`RECHECK`], so a browser that signed out (or whose user was disabled or
//! deleted, or whose session expired) stops receiving within seconds.
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use control::auth::session_token_from_cookies;
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;

/// How often an open stream checks that its session is still valid.
pub const RECHECK: Duration = Duration::from_secs(3);

pub async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(axum::http::header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session_token_from_cookies)
        .map(str::to_owned);
    if state.panel.auth.session(token.as_deref()).await.is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Sse::new(stream_events(state, token.unwrap_or_default()))
        .keep_alive(KeepAlive::default())
        .into_response()
}

struct Open {
    state: AppState,
    token: String,
    rx: tokio::sync::broadcast::Receiver<domain::event::UiEvent>,
    recheck: tokio::time::Interval,
}

fn stream_events(state: AppState, token: String) -> impl Stream<Item = Result<Event, Infallible>> {
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let open = Open {
        rx: state.panel.events.subscribe(),
        state,
        token,
        recheck,
    };
    stream::unfold(open, |mut open| async move {
        let mut stopping = open.state.stopping.clone();
        let received = loop {
            tokio::select! {
                () = crate::serve::stopped(&mut stopping) => return None,
                _ = open.recheck.tick() => {
                    if open.state.panel.auth.session(Some(&open.token)).await.is_err() {
                        return None;
                    }
                }
                received = open.rx.recv() => break received,
            }
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
        Some((Ok(event), open))
    })
}
