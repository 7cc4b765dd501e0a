//! Secrets at rest: XChaCha20-Poly1305 under a master key generated on first start and kept in a
//! file of its own (mode 0600, next to the database by default). Each sealed value is bound to
//! what it is (the associated data), so a value copied into another row does not open there.
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::ControlError;

const PREFIX: &str = "v1:";

#[derive(Clone)]
pub struct Vault {
    cipher: Arc<XChaCha20Poly1305>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<key redacted>)")
    }
}

impl Vault {
    /// Reads the master key, creating it (0600) when the file does not exist.
    pub fn open_or_create(path: &Path) -> Result<Vault, ControlError> {
        let io = |e: std::io::Error| ControlError::Vault(format!("{}: {e}", path.display()));
        let key = match std::fs::read(path) {
            Ok(bytes) => {
                let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "master key is readable by others; chmod 600 it");
                }
                bytes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut key = vec![0u8; 32];
                rand::rng().fill_bytes(&mut key);
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(io)?;
                f.write_all(&key).and_then(|_| f.sync_all()).map_err(io)?;
                tracing::info!(path = %path.display(), "created the master key for secrets at rest");
                key
            }
            Err(e) => return Err(io(e)),
        };
        if key.len() != 32 {
            return Err(ControlError::Vault(format!(
                "{}: a master key has 32 bytes, this file has {}",
                path.display(),
                key.len()
            )));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&key)
            .map_err(|e| ControlError::Vault(e.to_string()))?;
        Ok(Vault {
            cipher: Arc::new(cipher),
        })
    }

    pub fn seal(&self, plaintext: &str, context: &str) -> Result<String, ControlError> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| ControlError::Vault("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        ))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<String, ControlError> {
        let bad = || {
            ControlError::Vault(format!(
                "a sealed value for {context} does not open (wrong key or tampered)"
            ))
        };
        let raw = sealed.strip_prefix(PREFIX).ok_or_else(bad)?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(raw)
            .map_err(|_| bad())?;
        if bytes.len() < 24 {
            return Err(bad());
        }
        let (nonce, ct) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_in_context_and_with_the_key() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("master.key");
        let v = Vault::open_or_create(&path).expect("created");
        assert_eq!(
            std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        let sealed = v
            .seal("SWMTKN-1-secret", "cluster:a:worker")
            .expect("sealed");
        assert!(sealed.starts_with("v1:") && !sealed.contains("SWMTKN"));
        assert_eq!(
            v.open(&sealed, "cluster:a:worker").expect("opens"),
            "SWMTKN-1-secret"
        );
        assert!(
            v.open(&sealed, "cluster:b:worker").is_err(),
            "bound to its context"
        );
        let again = Vault::open_or_create(&path).expect("reopened");
        assert_eq!(
            again.open(&sealed, "cluster:a:worker").expect("same key"),
            "SWMTKN-1-secret"
        );
        let other = Vault::open_or_create(&dir.path().join("other.key")).expect("created");
        assert!(other.open(&sealed, "cluster:a:worker").is_err());
        assert!(v.open("v1:@@@", "x").is_err());
        std::fs::write(dir.path().join("short.key"), b"short").expect("write");
        assert!(Vault::open_or_create(&dir.path().join("short.key")).is_err());
    }
}
