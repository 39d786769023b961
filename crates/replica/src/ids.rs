//! Principals drydock hands out: canister ids in the IC's format and the management canister.

use candid::Principal;

/// The management canister, `aaaaa-aa`.
pub const MANAGEMENT_CANISTER: Principal = Principal::management_canister();

/// The first index drydock allocates canister ids from. The low indices are the system
/// canisters' on the IC (ledger, cycles minting); `crate::system` serves three of them.
pub const FIRST_CANISTER_INDEX: u64 = 1 << 20;

/// The canister id with this index: 8 bytes big-endian followed by the opaque-id class bytes
/// `0x01 0x01`, as the IC builds them.
pub fn canister_id_from_index(index: u64) -> Principal {
    let mut bytes = [0u8; 10];
    bytes[..8].copy_from_slice(&index.to_be_bytes());
    bytes[8] = 0x01;
    bytes[9] = 0x01;
    Principal::from_slice(&bytes)
}

/// The index of a canister id in the IC's format, if `id` is one.
pub fn canister_index(id: &Principal) -> Option<u64> {
    let b = id.as_slice();
    if b.len() != 10 || b[8] != 0x01 || b[9] != 0x01 {
        return None;
    }
    let mut index = [0u8; 8];
    index.copy_from_slice(&b[..8]);
    Some(u64::from_be_bytes(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_zero_is_the_ics_first_canister_id() {
        assert_eq!(
            canister_id_from_index(0).to_text(),
            "rwlgt-iiaaa-aaaaa-aaaaa-cai"
        );
        assert_eq!(
            canister_id_from_index(2).to_text(),
            "ryjl3-tyaaa-aaaaa-aaaba-cai"
        );
    }
}
