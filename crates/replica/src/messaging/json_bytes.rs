//! How message bytes (arguments, replies) are written in the JSON records of the durable
//! state: as one base64 string. serde_json writes a `Vec<u8>` as an array of numbers, about
//! 3.6 bytes per byte, encoded and decoded number by number; a 2 MB reply kept for replay
//! protection became a 7 MB record. Records written that way by earlier versions still
//! decode: a sequence of numbers is read as before.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{Error, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};

pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_any(BytesVisitor)
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("bytes as a base64 string (or, from earlier versions, an array of numbers)")
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Vec<u8>, E> {
        STANDARD
            .decode(v)
            .map_err(|e| E::custom(format!("bad base64: {e}")))
    }

    fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Message, Payload};

    #[test]
    fn a_reply_is_written_as_base64_and_read_back() {
        let p = Payload::Reply(vec![0, 1, 2, 255]);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"Reply":"AAEC/w=="}"#);
        assert_eq!(serde_json::from_str::<Payload>(&json).unwrap(), p);
    }

    #[test]
    fn records_of_earlier_versions_with_arrays_of_numbers_still_decode() {
        let p: Payload = serde_json::from_str(r#"{"Reply":[0,1,2,255]}"#).unwrap();
        assert_eq!(p, Payload::Reply(vec![0, 1, 2, 255]));
        let old = r#"{"Request":{"caller":"aaaaa-aa","callee":"aaaaa-aa","method":"m","arg":[68,73,68,76,0,0],"cycles":0,"callback":1,"deadline":0}}"#;
        let Message::Request { arg, .. } = serde_json::from_str::<Message>(old).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(arg, b"DIDL\0\0");
    }

    #[test]
    fn bad_base64_is_an_error_not_a_panic() {
        assert!(serde_json::from_str::<Payload>(r#"{"Reply":"**"}"#).is_err());
        assert!(serde_json::from_str::<Payload>(r#"{"Reply":[256]}"#).is_err());
    }
}
