//! Serving connections: the panel's own accept loop over hyper (HTTP/1.1, with upgrades for
//! WebSockets), so that every connection gets what `axum::serve` does not offer:
//! * a header read timeout ([`Limits::header_read_timeout`]): a client that opens a connection
//!   and never finishes its request head is dropped, so half-sent requests cannot pile up;
//! * a cap on open connections per listener ([`Limits::max_connections`]); a connection over it
//!   is closed at once rather than left waiting in the kernel's queue;
//! * the peer's address as `ConnectInfo<PeerAddr>` for handlers, as with axum's own serve.
//!
//! On shutdown the loop stops accepting, asks every connection to finish its request in flight
//! and waits for them (upgraded WebSockets and event streams end through their own signals).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::tls::{PanelListener, PeerAddr};

/// Bounds on one listener's connections.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// How long a client may take to send a request's head (also between keep-alive requests).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `stopping` turns true, then drains.
pub async fn serve(
    mut listener: PanelListener,
    router: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refused = Arc::new(AtomicU64::new(0));
    // Every connection task holds a clone; the loop waits until all are gone.
    let (all_done, connections) = watch::channel(());
    loop {
        let (io, peer) = tokio::select! {
            () = stopped(&mut stopping) => break,
            accepted = listener.accept() => accepted,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            // Logged at the first refusal and then every thousandth, not per connection.
            let n = refused.fetch_add(1, Ordering::Relaxed);
            if n.is_multiple_of(1000) {
                tracing::warn!(%peer, refused = n + 1, max = limits.max_connections, "connection limit reached; closing new connections");
            }
            drop(io);
            continue;
        };
        let router = router.clone();
        let mut stopping = stopping.clone();
        let connections = connections.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
                let router = router.clone();
                async move { router.oneshot(req.map(Body::new)).await }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                () = stopped(&mut stopping) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
            drop(connections);
        });
    }
    drop(connections);
    drop(listener);
    all_done.closed().await;
    Ok(())
}

/// Resolves once `stopping` turns true (or its sender is gone); holds no borrow of the value.
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}
