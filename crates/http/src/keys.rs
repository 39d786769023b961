//! The replica's keys, kept in the state directory: the BLS12-381 key that signs the certified
//! state tree (the *root key* agents fetch from `/api/v2/status`), and the Ed25519 key of the
//! one node, which signs query replies.
//!
//! Both live in `<state dir>/http/keys.json`, written once (temporary file, fsync, rename) the
//! first time a server starts on the directory, so the root key stays the same across restarts
//! and icp-cli's fetched root key stays valid.
//!
//! ```text
//! { "version": 1, "bls_secret": "<64 hex>", "node_secret": "<64 hex>" }
//! ```

use std::io::Write;
use std::path::Path;

use candid::Principal;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::Signer;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::HttpError;

/// The DER prefix of a BLS12-381 G2 public key, as the IC encodes its root key.
pub const BLS_DER_PREFIX: &[u8; 37] = b"\x30\x81\x82\x30\x1d\x06\x0d\x2b\x06\x01\x04\x01\x82\xdc\x7c\x05\x03\x01\x02\x01\x06\x0c\x2b\x06\x01\x04\x01\x82\xdc\x7c\x05\x03\x02\x01\x03\x61\x00";
/// The domain separation tag of the IC's BLS signatures (signatures in G1, keys in G2).
const BLS_DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

#[derive(Serialize, Deserialize)]
struct KeyFile {
    version: u32,
    bls_secret: String,
    node_secret: String,
}

/// The subnet's signing key and the node's key.
pub struct Keys {
    bls: blst::min_sig::SecretKey,
    root_key_der: Vec<u8>,
    node: ed25519_dalek::SigningKey,
    node_key_der: Vec<u8>,
}

impl Keys {
    /// Loads the keys of `state_dir`, creating them on first use.
    pub fn load_or_create(state_dir: &Path) -> Result<Keys, HttpError> {
        let dir = state_dir.join("http");
        let path = dir.join("keys.json");
        let io = |e: std::io::Error| HttpError::Keys(format!("{}: {e}", path.display()));
        let file: KeyFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| HttpError::Keys(format!("{} is corrupt: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut rng = rand::thread_rng();
                let mut bls = [0u8; 32];
                let mut node = [0u8; 32];
                rng.fill_bytes(&mut bls);
                rng.fill_bytes(&mut node);
                let file = KeyFile {
                    version: 1,
                    bls_secret: hex::encode(bls),
                    node_secret: hex::encode(node),
                };
                std::fs::create_dir_all(&dir).map_err(io)?;
                let tmp = dir.join("keys.json.tmp");
                let mut f = std::fs::File::create(&tmp).map_err(io)?;
                f.write_all(&serde_json::to_vec_pretty(&file).unwrap_or_default())
                    .map_err(io)?;
                f.sync_all().map_err(io)?;
                std::fs::rename(&tmp, &path).map_err(io)?;
                std::fs::File::open(&dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io)?;
                file
            }
            Err(e) => return Err(io(e)),
        };
        Keys::from_secrets(&file.bls_secret, &file.node_secret)
            .map_err(|why| HttpError::Keys(format!("{}: {why}", path.display())))
    }

    fn from_secrets(bls_hex: &str, node_hex: &str) -> Result<Keys, String> {
        let ikm: [u8; 32] = hex::decode(bls_hex)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("bls_secret is not 32 bytes of hex")?;
        let bls =
            blst::min_sig::SecretKey::key_gen(&ikm, &[]).map_err(|e| format!("bls key: {e:?}"))?;
        let mut root_key_der = BLS_DER_PREFIX.to_vec();
        root_key_der.extend_from_slice(&bls.sk_to_pk().compress());
        let node: [u8; 32] = hex::decode(node_hex)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("node_secret is not 32 bytes of hex")?;
        let node = ed25519_dalek::SigningKey::from_bytes(&node);
        let node_key_der = node
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| format!("node key: {e}"))?
            .into_vec();
        Ok(Keys {
            bls,
            root_key_der,
            node,
            node_key_der,
        })
    }

    /// The root key in DER, as `/api/v2/status` serves it.
    pub fn root_key_der(&self) -> &[u8] {
        &self.root_key_der
    }

    /// The subnet id: the self-authenticating principal of the root key, which is what agents
    /// take the subnet of a certificate without delegation to be.
    pub fn subnet_id(&self) -> Principal {
        Principal::self_authenticating(&self.root_key_der)
    }

    /// The node's public key in DER (Ed25519, 44 bytes).
    pub fn node_key_der(&self) -> &[u8] {
        &self.node_key_der
    }

    /// The root key without its DER prefix: the 96 bytes of the BLS12-381 G2 point.
    pub fn root_key(&self) -> &[u8] {
        &self.root_key_der[BLS_DER_PREFIX.len()..]
    }

    /// The node id: the self-authenticating principal of its key.
    pub fn node_id(&self) -> Principal {
        Principal::self_authenticating(&self.node_key_der)
    }

    /// Signs a state-tree root hash: BLS over `"\x0Dic-state-root" ++ root_hash`.
    pub fn sign_root(&self, root_hash: &[u8; 32]) -> Vec<u8> {
        let mut msg = b"\x0Dic-state-root".to_vec();
        msg.extend_from_slice(root_hash);
        self.bls.sign(&msg, BLS_DST, &[]).compress().to_vec()
    }

    /// Signs a query response's signable bytes with the node key.
    pub fn sign_query(&self, signable: &[u8]) -> Vec<u8> {
        self.node.sign(signable).to_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_a_reopen_and_sign_verifiably() {
        let dir = tempfile::tempdir().unwrap();
        let a = Keys::load_or_create(dir.path()).unwrap();
        let b = Keys::load_or_create(dir.path()).unwrap();
        assert_eq!(a.root_key_der(), b.root_key_der());
        assert_eq!(a.node_id(), b.node_id());
        assert_eq!(a.root_key_der().len(), 37 + 96);
        assert_eq!(a.node_key_der().len(), 44);
        let sig = a.sign_root(&[7; 32]);
        let pk = blst::min_sig::PublicKey::from_bytes(&a.root_key_der()[37..]).unwrap();
        let sig = blst::min_sig::Signature::from_bytes(&sig).unwrap();
        let mut msg = b"\x0Dic-state-root".to_vec();
        msg.extend_from_slice(&[7; 32]);
        assert_eq!(
            sig.verify(true, &msg, BLS_DST, &[], &pk, true),
            blst::BLST_ERROR::BLST_SUCCESS
        );
    }
}
