//! The textual form of principals (CRC-32 + base32, dashes every five characters), for the
//! few error messages that quote one the way the IC does.

/// The most bytes a principal may have.
pub(crate) const MAX_PRINCIPAL_BYTES: usize = 29;

/// The Cycles Minting Canister, `rkp4c-7iaaa-aaaaa-aaaca-cai`.
pub(crate) const CYCLES_MINTING_CANISTER: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 4, 1, 1];

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// The text of a principal given as bytes.
pub(crate) fn to_text(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut data = crc32(bytes).to_be_bytes().to_vec();
    data.extend_from_slice(bytes);
    let mut chars = Vec::with_capacity(data.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &byte in &data {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            chars.push(ALPHABET[((acc >> bits) & 31) as usize]);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        chars.push(ALPHABET[((acc << (5 - bits)) & 31) as usize]);
    }
    let mut out = String::with_capacity(chars.len() + chars.len() / 5);
    for (i, c) in chars.iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(char::from(*c));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_texts() {
        assert_eq!(to_text(&[]), "aaaaa-aa");
        assert_eq!(to_text(&[4]), "2vxsx-fae");
        assert_eq!(
            to_text(&CYCLES_MINTING_CANISTER),
            "rkp4c-7iaaa-aaaaa-aaaca-cai"
        );
    }
}
