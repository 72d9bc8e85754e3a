//! The complex handshake's HMAC-SHA256 digests and signatures.
//!
//! A complex C1 or S1 hides a 32-byte digest inside its 1528 random bytes. Where it sits depends
//! on the [`Schema`]; what it is: HMAC-SHA256 over the 1536-byte packet without those 32 bytes,
//! keyed with a prefix of the sender's well-known key. A complex C2 or S2 ends with a signature
//! over its first 1504 bytes, keyed with HMAC-SHA256(full key, the peer's digest).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::PACKET_SIZE;

/// Length of a digest or signature.
pub const DIGEST_SIZE: usize = 32;

/// Offset of the signature at the end of a complex C2/S2.
const SIGNATURE_OFFSET: usize = PACKET_SIZE - DIGEST_SIZE;

/// The 32 bytes that follow the ASCII text in both well-known keys.
const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

// Evaluated at compile time: an index out of range would fail the build, not a connection.
#[allow(clippy::indexing_slicing)]
const fn join<const A: usize, const N: usize>(text: &[u8; A]) -> [u8; N] {
    let mut key = [0; N];
    let mut i = 0;
    while i < A {
        key[i] = text[i];
        i += 1;
    }
    while i < N {
        key[i] = KEY_TAIL[i - A];
        i += 1;
    }
    key
}

/// The client's key (62 bytes); C1 digests use its first 30 bytes (the ASCII part).
pub const FLASH_PLAYER_KEY: [u8; 62] = join(b"Genuine Adobe Flash Player 001");

/// The server's key (68 bytes); S1 digests use its first 36 bytes (the ASCII part).
pub const FLASH_MEDIA_SERVER_KEY: [u8; 68] = join(b"Genuine Adobe Flash Media Server 001");

/// The part of the client key that signs C1.
pub(crate) const CLIENT_DIGEST_KEY: &[u8] = FLASH_PLAYER_KEY.split_at(30).0;

/// The part of the server key that signs S1.
pub(crate) const SERVER_DIGEST_KEY: &[u8] = FLASH_MEDIA_SERVER_KEY.split_at(36).0;

/// Where the key and digest blocks sit in a complex C1/S1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schema {
    /// Schema 0: key block at byte 8, digest block at byte 772.
    KeyFirst,
    /// Schema 1: digest block at byte 8, key block at byte 772.
    DigestFirst,
}

impl Schema {
    /// Both schemas, in the order a server tries them.
    pub const ALL: [Schema; 2] = [Schema::DigestFirst, Schema::KeyFirst];

    /// The offset of the digest within `packet`, derived from the four bytes at the start of the
    /// digest block. Always at most 1503, so the digest fits in the packet.
    pub fn digest_offset(self, packet: &[u8; PACKET_SIZE]) -> usize {
        let block = match self {
            Schema::KeyFirst => 772,
            Schema::DigestFirst => 8,
        };
        let [a, b, c, d] = read4(packet, block);
        let sum = usize::from(a) + usize::from(b) + usize::from(c) + usize::from(d);
        sum % 728 + block + 4
    }
}

fn read4(packet: &[u8; PACKET_SIZE], offset: usize) -> [u8; 4] {
    let mut bytes = [0; 4];
    if let Some(src) = packet.get(offset..offset + 4) {
        bytes.copy_from_slice(src);
    }
    bytes
}

/// HMAC-SHA256 of the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_SIZE] {
    #[allow(clippy::expect_used)]
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of every length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The packet split around its digest: (before, digest, after).
fn around_digest(packet: &[u8; PACKET_SIZE], schema: Schema) -> (&[u8], &[u8], &[u8]) {
    let offset = schema.digest_offset(packet);
    let (before, rest) = packet.split_at(offset);
    let (digest, after) = rest.split_at(DIGEST_SIZE);
    (before, digest, after)
}

/// The digest that belongs in `packet` under `schema`, keyed with `key`.
pub(crate) fn compute_digest(
    packet: &[u8; PACKET_SIZE],
    schema: Schema,
    key: &[u8],
) -> [u8; DIGEST_SIZE] {
    let (before, _, after) = around_digest(packet, schema);
    hmac_sha256(key, &[before, after])
}

/// Writes the digest of `packet` into its place under `schema` and returns it.
pub(crate) fn write_digest(
    packet: &mut [u8; PACKET_SIZE],
    schema: Schema,
    key: &[u8],
) -> [u8; DIGEST_SIZE] {
    let digest = compute_digest(packet, schema, key);
    let offset = schema.digest_offset(packet);
    if let Some(slot) = packet.get_mut(offset..offset + DIGEST_SIZE) {
        slot.copy_from_slice(&digest);
    }
    digest
}

/// Looks for a valid digest in `packet` under either schema (schema 1 first), keyed with `key`.
pub(crate) fn find_digest(
    packet: &[u8; PACKET_SIZE],
    key: &[u8],
) -> Option<(Schema, [u8; DIGEST_SIZE])> {
    Schema::ALL.into_iter().find_map(|schema| {
        let (_, found, _) = around_digest(packet, schema);
        let expected = compute_digest(packet, schema, key);
        (found == expected).then_some((schema, expected))
    })
}

/// The signature that ends a complex C2/S2: keyed with HMAC(`full_key`, `peer_digest`), over the
/// packet's first 1504 bytes.
fn signature(
    packet: &[u8; PACKET_SIZE],
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_SIZE],
) -> [u8; DIGEST_SIZE] {
    let key = hmac_sha256(full_key, &[peer_digest]);
    hmac_sha256(&key, &[packet.split_at(SIGNATURE_OFFSET).0])
}

/// Writes the signature into the last 32 bytes of `packet`.
pub(crate) fn sign(
    packet: &mut [u8; PACKET_SIZE],
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_SIZE],
) {
    let signature = signature(packet, full_key, peer_digest);
    packet
        .split_at_mut(SIGNATURE_OFFSET)
        .1
        .copy_from_slice(&signature);
}

/// Whether the last 32 bytes of `packet` are the right signature.
pub(crate) fn is_signed(
    packet: &[u8; PACKET_SIZE],
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_SIZE],
) -> bool {
    packet.split_at(SIGNATURE_OFFSET).1 == signature(packet, full_key, peer_digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_well_known_ones() {
        assert_eq!(&FLASH_PLAYER_KEY[..30], b"Genuine Adobe Flash Player 001");
        assert_eq!(
            &FLASH_MEDIA_SERVER_KEY[..36],
            b"Genuine Adobe Flash Media Server 001"
        );
        assert_eq!(FLASH_PLAYER_KEY[30..], KEY_TAIL);
        assert_eq!(FLASH_MEDIA_SERVER_KEY[36..], KEY_TAIL);
        assert_eq!(CLIENT_DIGEST_KEY.len(), 30);
        assert_eq!(SERVER_DIGEST_KEY.len(), 36);
    }

    #[test]
    fn digest_offset_stays_inside_the_packet() {
        let packet = [0xFF; PACKET_SIZE];
        for schema in Schema::ALL {
            assert!(schema.digest_offset(&packet) + DIGEST_SIZE <= PACKET_SIZE);
        }
        assert_eq!(
            Schema::KeyFirst.digest_offset(&packet),
            (4 * 255) % 728 + 776
        );
        assert_eq!(Schema::DigestFirst.digest_offset(&[0; PACKET_SIZE]), 12);
    }

    #[test]
    fn written_digest_is_found_in_its_schema_only() {
        for schema in Schema::ALL {
            let mut packet = [7u8; PACKET_SIZE];
            packet[8] = 200;
            packet[772] = 100;
            let digest = write_digest(&mut packet, schema, CLIENT_DIGEST_KEY);
            assert_eq!(
                find_digest(&packet, CLIENT_DIGEST_KEY),
                Some((schema, digest))
            );
            assert_eq!(find_digest(&packet, SERVER_DIGEST_KEY), None);
        }
    }
}
