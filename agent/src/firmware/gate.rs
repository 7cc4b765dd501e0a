//! The HTTP check of a rollout gate (see `domain::firmware::gates`): one plain GET from this
//! node, which passes when the answer has the expected status.
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// `GET url` within `timeout`; `Err` says what was answered instead, or why nothing was.
pub async fn http_check(url: &str, status: u16, timeout: Duration) -> Result<(), String> {
    let answered = tokio::time::timeout(timeout, get(url))
        .await
        .map_err(|_| format!("GET {url}: no answer within {} s", timeout.as_secs()))??;
    if answered == status {
        Ok(())
    } else {
        Err(format!("GET {url} answered {answered}, not {status}"))
    }
}

async fn get(url: &str) -> Result<u16, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url}: only http:// is checked"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{url}: no host"))?
        .clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("GET {url}: cannot connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let conn = tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = http::Request::get(path)
        .header(http::header::HOST, authority.as_str())
        .header(http::header::USER_AGENT, "flotilla-agent (rollout gate)")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("GET {url}: {e}"))?;
    let answer = sender
        .send_request(request)
        .await
        .map_err(|e| format!("GET {url}: {e}"));
    conn.abort();
    Ok(answer?.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server on loopback that answers `status` to the first request.
    async fn serve(status: u16) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn passes_on_the_expected_status_only() {
        let port = serve(200).await;
        let url = format!("http://127.0.0.1:{port}/health");
        assert_eq!(http_check(&url, 200, Duration::from_secs(5)).await, Ok(()));
        let port = serve(503).await;
        let url = format!("http://127.0.0.1:{port}/");
        let e = http_check(&url, 200, Duration::from_secs(5)).await;
        assert_eq!(e, Err(format!("GET {url} answered 503, not 200")));
    }

    #[tokio::test]
    async fn says_why_nothing_answered() {
        // A port nothing listens on (bound, then closed).
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let e = http_check(
            &format!("http://127.0.0.1:{port}/"),
            200,
            Duration::from_secs(5),
        )
        .await
        .err()
        .unwrap_or_default();
        assert!(e.contains("cannot connect"), "{e}");
    }
}
