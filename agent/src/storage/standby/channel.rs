//! The node-to-node channel that carries snapshots from the primary to the standby: TCP, with
//! both ends proving they hold the cluster's sync key (a challenge and an answer each way, HMAC
//! SHA-256 over both sides' random nonces), then every frame sealed with ChaCha20-Poly1305 under
//! a key of that session. A frame that is changed, replayed, dropped or reordered fails to open;
//! the stream ends only with a sealed end frame, so a cut connection is never taken for a
//! complete snapshot.
use ring::aead::{self, Aad, BoundKey, Nonce, NonceSequence, OpeningKey, SealingKey, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The most plaintext one frame carries.
pub const FRAME: usize = 64 * 1024;
const TAG: usize = 16;
const NONCE: usize = 32;

/// What went wrong on the channel (shown in the sync's last error).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("the peer did not prove it holds the cluster's sync key")]
    Unauthenticated,
    #[error("a frame did not open (changed, replayed or out of order)")]
    Tampered,
    #[error("the connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the sync key is not usable")]
    Key,
}

/// What a frame holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A piece of the snapshot stream.
    Data(Vec<u8>),
    /// The stream is complete.
    End,
    /// A message (JSON) of the sync's own conversation.
    Message(Vec<u8>),
}

const DATA: u8 = 0;
const END: u8 = 1;
const MESSAGE: u8 = 2;

/// Nonces for one direction: 4 bytes saying the direction, then a counter.
struct Counter {
    direction: u8,
    next: u64,
}

impl NonceSequence for Counter {
    fn advance(&mut self) -> Result<Nonce, ring::error::Unspecified> {
        let mut n = [0u8; aead::NONCE_LEN];
        n[0] = self.direction;
        n[4..].copy_from_slice(&self.next.to_be_bytes());
        self.next = self.next.checked_add(1).ok_or(ring::error::Unspecified)?;
        Ok(Nonce::assume_unique_for_key(n))
    }
}

/// One side of an authenticated session.
pub struct Channel<S> {
    stream: S,
    seal: SealingKey<Counter>,
    open: OpeningKey<Counter>,
}

fn mac(key: &hmac::Key, label: &[u8], a: &[u8], b: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(label);
    ctx.update(a);
    ctx.update(b);
    ctx.sign()
}

fn nonce() -> Result<[u8; NONCE], ChannelError> {
    let mut n = [0u8; NONCE];
    SystemRandom::new()
        .fill(&mut n)
        .map_err(|_| ChannelError::Key)?;
    Ok(n)
}

fn keys(
    key: &hmac::Key,
    server: &[u8],
    client: &[u8],
    i_am_client: bool,
) -> Result<(SealingKey<Counter>, OpeningKey<Counter>), ChannelError> {
    let session = mac(key, b"flotilla-sync-session", server, client);
    let unbound = || {
        UnboundKey::new(&aead::CHACHA20_POLY1305, session.as_ref()).map_err(|_| ChannelError::Key)
    };
    let (mine, theirs) = if i_am_client { (0, 1) } else { (1, 0) };
    Ok((
        SealingKey::new(
            unbound()?,
            Counter {
                direction: mine,
                next: 0,
            },
        ),
        OpeningKey::new(
            unbound()?,
            Counter {
                direction: theirs,
                next: 0,
            },
        ),
    ))
}

impl<S: AsyncRead + AsyncWrite + Unpin> Channel<S> {
    /// The primary's side: answers the standby's challenge and checks its answer.
    pub async fn client(mut stream: S, key: &[u8]) -> Result<Self, ChannelError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, key);
        let mut server = [0u8; NONCE];
        stream.read_exact(&mut server).await?;
        let client = nonce()?;
        stream.write_all(&client).await?;
        stream
            .write_all(mac(&key, b"flotilla-sync-client", &server, &client).as_ref())
            .await?;
        let mut proof = [0u8; 32];
        stream.read_exact(&mut proof).await?;
        hmac::verify(
            &key,
            &[b"flotilla-sync-server".as_slice(), &client, &server].concat(),
            &proof,
        )
        .map_err(|_| ChannelError::Unauthenticated)?;
        let (seal, open) = keys(&key, &server, &client, true)?;
        Ok(Self { stream, seal, open })
    }

    /// The standby's side: challenges the primary, checks its answer, proves itself.
    pub async fn server(mut stream: S, key: &[u8]) -> Result<Self, ChannelError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, key);
        let server = nonce()?;
        stream.write_all(&server).await?;
        let mut client = [0u8; NONCE];
        stream.read_exact(&mut client).await?;
        let mut proof = [0u8; 32];
        stream.read_exact(&mut proof).await?;
        hmac::verify(
            &key,
            &[b"flotilla-sync-client".as_slice(), &server, &client].concat(),
            &proof,
        )
        .map_err(|_| ChannelError::Unauthenticated)?;
        stream
            .write_all(mac(&key, b"flotilla-sync-server", &client, &server).as_ref())
            .await?;
        let (seal, open) = keys(&key, &server, &client, false)?;
        Ok(Self { stream, seal, open })
    }

    pub async fn send(&mut self, frame: &Frame) -> Result<(), ChannelError> {
        let (kind, body) = match frame {
            Frame::Data(b) => (DATA, b.as_slice()),
            Frame::End => (END, [].as_slice()),
            Frame::Message(b) => (MESSAGE, b.as_slice()),
        };
        let mut buf = Vec::with_capacity(body.len() + 1 + TAG);
        buf.push(kind);
        buf.extend_from_slice(body);
        self.seal
            .seal_in_place_append_tag(Aad::empty(), &mut buf)
            .map_err(|_| ChannelError::Key)?;
        let len = u32::try_from(buf.len()).map_err(|_| ChannelError::Key)?;
        self.stream.write_all(&len.to_be_bytes()).await?;
        self.stream.write_all(&buf).await?;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<(), ChannelError> {
        Ok(self.stream.flush().await?)
    }

    pub async fn receive(&mut self) -> Result<Frame, ChannelError> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if !(1 + TAG..=FRAME + 1 + TAG).contains(&len) {
            return Err(ChannelError::Tampered);
        }
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf).await?;
        let plain = self
            .open
            .open_in_place(Aad::empty(), &mut buf)
            .map_err(|_| ChannelError::Tampered)?;
        let (kind, body) = plain.split_first().ok_or(ChannelError::Tampered)?;
        match *kind {
            DATA => Ok(Frame::Data(body.to_vec())),
            END if body.is_empty() => Ok(Frame::End),
            MESSAGE => Ok(Frame::Message(body.to_vec())),
            _ => Err(ChannelError::Tampered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair(
        client_key: &'static [u8],
        server_key: &'static [u8],
    ) -> (
        Result<Channel<tokio::io::DuplexStream>, ChannelError>,
        Result<Channel<tokio::io::DuplexStream>, ChannelError>,
    ) {
        let (a, b) = tokio::io::duplex(1 << 20);
        tokio::join!(
            Channel::client(a, client_key),
            Channel::server(b, server_key)
        )
    }

    #[tokio::test]
    async fn frames_pass_between_holders_of_the_key_in_order() {
        let (c, s) = pair(b"the key", b"the key").await;
        let (mut c, mut s) = (c.expect("client"), s.expect("server"));
        c.send(&Frame::Message(b"{\"epoch\":1}".to_vec()))
            .await
            .expect("send");
        c.send(&Frame::Data(vec![7; FRAME])).await.expect("send");
        c.send(&Frame::End).await.expect("send");
        assert_eq!(
            s.receive().await.expect("message"),
            Frame::Message(b"{\"epoch\":1}".to_vec())
        );
        assert_eq!(
            s.receive().await.expect("data"),
            Frame::Data(vec![7; FRAME])
        );
        assert_eq!(s.receive().await.expect("end"), Frame::End);
        s.send(&Frame::Message(b"ok".to_vec()))
            .await
            .expect("answer");
        assert_eq!(
            c.receive().await.expect("answer"),
            Frame::Message(b"ok".to_vec())
        );
    }

    #[tokio::test]
    async fn a_peer_without_the_key_is_refused_on_both_sides() {
        let (c, s) = pair(b"a guess", b"the key").await;
        assert!(matches!(s, Err(ChannelError::Unauthenticated)), "server");
        // The server said nothing more: the client's wait for its proof ends with the stream.
        assert!(c.is_err(), "client");
    }

    #[test]
    fn a_changed_replayed_or_skipped_frame_does_not_open() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
        let (mut seal, _) = keys(&key, &[1; NONCE], &[2; NONCE], true).expect("keys");
        let (_, mut open) = keys(&key, &[1; NONCE], &[2; NONCE], false).expect("keys");
        let sealed = |seal: &mut SealingKey<Counter>, body: &[u8]| {
            let mut buf = [&[DATA], body].concat();
            seal.seal_in_place_append_tag(Aad::empty(), &mut buf)
                .expect("seal");
            buf
        };
        let first = sealed(&mut seal, b"first");
        let second = sealed(&mut seal, b"second");
        let mut changed = first.clone();
        changed[2] ^= 1;
        assert!(
            open.open_in_place(Aad::empty(), &mut changed).is_err(),
            "changed"
        );
        // A failed open still used its nonce: the receiver's session is over, as it should be.
        let (_, mut open) = keys(&key, &[1; NONCE], &[2; NONCE], false).expect("keys");
        let mut skipped = second.clone();
        assert!(
            open.open_in_place(Aad::empty(), &mut skipped).is_err(),
            "out of order"
        );
        let (_, mut open) = keys(&key, &[1; NONCE], &[2; NONCE], false).expect("keys");
        let mut ok = first.clone();
        assert!(
            open.open_in_place(Aad::empty(), &mut ok).is_ok(),
            "in order"
        );
        let mut replayed = first;
        assert!(
            open.open_in_place(Aad::empty(), &mut replayed).is_err(),
            "replayed"
        );
    }
}
