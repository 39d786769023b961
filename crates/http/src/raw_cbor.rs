//! A CBOR item parsed once, its byte and text strings lent by the body ([`RawCbor`]): what a
//! request envelope is read from ([`crate::envelope`]).
//!
//! One parse serves both readings of an envelope. It serialises as itself for the request-id
//! hash, so the id covers the content as sent, fields this server does not know included. And
//! it deserialises into the typed envelope, lending its strings as a decoder over the bytes
//! lends them: a `Principal` inside the internally tagged `EnvelopeContent` takes only lent
//! bytes. A map keeps its entries in the order sent, duplicates too, so a duplicated field is
//! refused as it is when the bytes are decoded straight into the type. Nothing here panics on
//! input; the nesting is bounded by the CBOR decoder's recursion limit.

use std::borrow::Cow;

use serde::de::value::{
    BorrowedStrDeserializer, MapAccessDeserializer, MapDeserializer, SeqDeserializer,
};
use serde::de::{self, Deserialize, IntoDeserializer, Unexpected, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::Serialize;

/// One CBOR data item (tags dropped, as the IC's decoder drops them).
#[derive(Debug, Clone, PartialEq)]
pub enum RawCbor<'a> {
    Unsigned(u64),
    Negative(i64),
    Bytes(Cow<'a, [u8]>),
    Text(Cow<'a, str>),
    Bool(bool),
    Null,
    Float(f64),
    Array(Vec<RawCbor<'a>>),
    Map(Vec<(RawCbor<'a>, RawCbor<'a>)>),
}

/// How many elements a length read from the body may reserve room for at once.
const MAX_RESERVED: usize = 1024;

impl<'a> RawCbor<'a> {
    /// The value of the first entry keyed `name` of a map.
    pub fn field(&self, name: &str) -> Option<&RawCbor<'a>> {
        match self {
            RawCbor::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, RawCbor::Text(t) if t == name))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for RawCbor<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawCbor<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a CBOR data item")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(RawCbor::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(RawCbor::Unsigned(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(RawCbor::Negative(v), RawCbor::Unsigned))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(RawCbor::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(RawCbor::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(RawCbor::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(RawCbor::Text(Cow::Owned(v)))
    }
    fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        Ok(RawCbor::Bytes(Cow::Borrowed(v)))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(RawCbor::Bytes(Cow::Owned(v.to_vec())))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Self::Value, E> {
        Ok(RawCbor::Bytes(Cow::Owned(v)))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(RawCbor::Null)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(RawCbor::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        RawCbor::deserialize(d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_RESERVED));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawCbor::Array(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(MAX_RESERVED));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(RawCbor::Map(entries))
    }
}

/// As the request-id hash reads it: integers as unsigned or signed numbers, strings, and
/// arrays and maps of them.
impl Serialize for RawCbor<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RawCbor::Unsigned(u) => s.serialize_u64(*u),
            RawCbor::Negative(i) => s.serialize_i64(*i),
            RawCbor::Bytes(b) => s.serialize_bytes(b),
            RawCbor::Text(t) => s.serialize_str(t),
            RawCbor::Bool(b) => s.serialize_bool(*b),
            RawCbor::Null => s.serialize_none(),
            RawCbor::Float(f) => s.serialize_f64(*f),
            RawCbor::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            RawCbor::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// The error of reading a [`RawCbor`] into a type.
pub type RawError = de::value::Error;

impl<'de> de::Deserializer<'de> for &'de RawCbor<'de> {
    type Error = RawError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        match self {
            RawCbor::Unsigned(u) => visitor.visit_u64(*u),
            RawCbor::Negative(i) => visitor.visit_i64(*i),
            RawCbor::Bytes(b) => visitor.visit_borrowed_bytes(b),
            RawCbor::Text(t) => visitor.visit_borrowed_str(t),
            RawCbor::Bool(b) => visitor.visit_bool(*b),
            RawCbor::Null => visitor.visit_none(),
            RawCbor::Float(f) => visitor.visit_f64(*f),
            RawCbor::Array(items) => {
                let mut seq = SeqDeserializer::new(items.iter());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            RawCbor::Map(entries) => {
                let mut map = entries_of(entries);
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        match self {
            RawCbor::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, RawError> {
        visitor.visit_newtype_struct(self)
    }

    /// A unit variant is its name as text; any other variant a map of one entry.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RawError> {
        match self {
            RawCbor::Text(t) => visitor.visit_enum(BorrowedStrDeserializer::new(t)),
            RawCbor::Map(entries) if entries.len() == 1 => {
                visitor.visit_enum(MapAccessDeserializer::new(entries_of(entries)))
            }
            _ => Err(de::Error::invalid_type(
                Unexpected::Other("a CBOR item other than text or a map of one entry"),
                &visitor,
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de> IntoDeserializer<'de, RawError> for &'de RawCbor<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

type Entries<'de> = std::iter::Map<
    std::slice::Iter<'de, (RawCbor<'de>, RawCbor<'de>)>,
    fn(&'de (RawCbor<'de>, RawCbor<'de>)) -> (&'de RawCbor<'de>, &'de RawCbor<'de>),
>;

fn entries_of<'de>(
    entries: &'de [(RawCbor<'de>, RawCbor<'de>)],
) -> MapDeserializer<'de, Entries<'de>, RawError> {
    MapDeserializer::new(entries.iter().map(|(k, v)| (k, v)))
}
