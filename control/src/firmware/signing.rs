//! The panel's Ed25519 key that signs firmware manifests: made once, its PKCS#8 document sealed
//! by the vault and kept in the database (so every panel process signs with the same key).
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::ControlError;
use crate::store::Store;
use crate::vault::Vault;

const KEY_NAME: &str = "firmware-signing";

pub struct Signer {
    pair: Ed25519KeyPair,
}

impl Signer {
    pub async fn load_or_create(store: &Store, vault: &Vault) -> Result<Signer, ControlError> {
        if store.panel_key(KEY_NAME).await?.is_none() {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| ControlError::Vault("cannot make the firmware signing key".into()))?;
            let sealed = vault.seal(&STANDARD.encode(pkcs8.as_ref()), KEY_NAME)?;
            store.insert_panel_key(KEY_NAME, &sealed).await?;
        }
        // Read back: another panel process may have stored its key first.
        let sealed = store
            .panel_key(KEY_NAME)
            .await?
            .ok_or_else(|| ControlError::Corrupt("the firmware signing key vanished".into()))?;
        let pkcs8 = STANDARD
            .decode(vault.open(&sealed, KEY_NAME)?)
            .map_err(|e| ControlError::Corrupt(format!("firmware signing key: {e}")))?;
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|e| ControlError::Corrupt(format!("firmware signing key: {e}")))?;
        Ok(Signer { pair })
    }

    /// The public key, base64.
    pub fn public_key(&self) -> String {
        STANDARD.encode(self.pair.public_key().as_ref())
    }

    /// The signature of `message`, base64.
    pub fn sign(&self, message: &[u8]) -> String {
        STANDARD.encode(self.pair.sign(message).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ED25519, UnparsedPublicKey};

    #[tokio::test]
    async fn one_key_per_database_that_verifies_its_signatures() {
        let (store, dir) = crate::store::testing::temp_store().await;
        let vault = Vault::open_or_create(&dir.path().join("key")).expect("vault");
        let a = Signer::load_or_create(&store, &vault).await.expect("key");
        let b = Signer::load_or_create(&store, &vault).await.expect("key");
        assert_eq!(a.public_key(), b.public_key(), "the stored key is reused");
        let signature = STANDARD.decode(a.sign(b"manifest")).expect("base64");
        let public = STANDARD.decode(a.public_key()).expect("base64");
        let key = UnparsedPublicKey::new(&ED25519, &public);
        assert!(key.verify(b"manifest", &signature).is_ok());
        assert!(key.verify(b"manifesT", &signature).is_err());
    }
}
