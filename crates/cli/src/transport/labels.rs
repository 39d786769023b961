//! drydock's record of the snapshots it took itself on a network: the IC keeps no label with
//! a snapshot, so `canister upgrade --network` writes one here for each automatic snapshot,
//! and may later replace only those, never a user's.
//!
//! The record is one JSON file (`<state-dir>/network-snapshots.json`), keyed by the network's
//! root key (two local networks may reuse canister and snapshot ids; their root keys differ)
//! and the canister id. A label whose snapshot no longer exists on the network is harmless:
//! only listed snapshots are looked up.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use candid::Principal;

use crate::error::CliError;

/// The labels of one network's snapshots, kept in a file.
pub struct SnapshotLabels {
    path: PathBuf,
    /// Hex of the network's root key (DER).
    network: String,
}

/// The file's content: network → canister → snapshot id (hex) → label.
type Record = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;

impl SnapshotLabels {
    pub fn new(path: PathBuf, root_key: &[u8]) -> SnapshotLabels {
        SnapshotLabels {
            path,
            network: hex::encode(root_key),
        }
    }

    fn read(&self) -> Record {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// drydock's labels of `canister`'s snapshots on this network, by snapshot id.
    pub fn of(&self, canister: Principal) -> HashMap<Vec<u8>, String> {
        self.read()
            .get(&self.network)
            .and_then(|c| c.get(&canister.to_text()))
            .map(|snaps| {
                snaps
                    .iter()
                    .filter_map(|(id, label)| Some((hex::decode(id).ok()?, label.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records `label` for snapshot `id` of `canister` (written to a temporary file, then
    /// renamed over the record).
    pub fn record(&self, canister: Principal, id: &[u8], label: &str) -> Result<(), CliError> {
        let mut all = self.read();
        all.entry(self.network.clone())
            .or_default()
            .entry(canister.to_text())
            .or_default()
            .insert(hex::encode(id), label.to_string());
        let fail = |e: std::io::Error| {
            CliError::internal(format!(
                "cannot record drydock's snapshot label in {}: {e}",
                self.path.display()
            ))
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&all)
            .map_err(|e| CliError::internal(format!("encoding the snapshot labels: {e}")))?;
        std::fs::write(&tmp, bytes).map_err(fail)?;
        std::fs::rename(&tmp, &self.path).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_kept_per_network_and_canister() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("network-snapshots.json");
        let a = SnapshotLabels::new(path.clone(), b"root a");
        let b = SnapshotLabels::new(path, b"root b");
        let c1 = Principal::from_slice(&[1]);
        let c2 = Principal::from_slice(&[2]);
        assert!(a.of(c1).is_empty(), "no file yet");
        a.record(c1, &[9, 9], "drydock auto: one").expect("record");
        a.record(c1, &[9, 10], "drydock auto: two").expect("record");
        assert_eq!(a.of(c1).len(), 2);
        assert_eq!(a.of(c1)[&vec![9, 9]], "drydock auto: one");
        assert!(a.of(c2).is_empty(), "another canister");
        assert!(b.of(c1).is_empty(), "another network with the same ids");
    }
}
