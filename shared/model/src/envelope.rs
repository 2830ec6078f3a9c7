//! The versioned envelope and its MessagePack codec.
//!
//! Bodies are encoded as maps with field names (`rmp_serde::to_vec_named`) so a reader
//! can skip fields it does not know and default fields it lacks: that is what lets a
//! schema grow without a version bump. A change that breaks readers bumps
//! [`SCHEMA_VERSION`] and adds an upgrade step in [`decode`].

use crate::events::{ActuationEvent, DecisionRecorded, InputEvent, InputRejected};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The schema version this build writes, and the newest it reads.
pub const SCHEMA_VERSION: u16 = 1;

/// A message body that can travel in an [`Envelope`].
pub trait Body: Serialize + DeserializeOwned {
    /// The event's type name, as written in the envelope.
    fn type_name(&self) -> &'static str;
}

impl Body for InputEvent {
    fn type_name(&self) -> &'static str {
        InputEvent::type_name(self)
    }
}

impl Body for ActuationEvent {
    fn type_name(&self) -> &'static str {
        ActuationEvent::type_name(self)
    }
}

impl Body for DecisionRecorded {
    fn type_name(&self) -> &'static str {
        "DecisionRecorded"
    }
}

impl Body for InputRejected {
    fn type_name(&self) -> &'static str {
        "InputRejected"
    }
}

/// Every message on every stream travels in one of these.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// UUIDv7: unique, and ordered by creation time.
    pub id: Uuid,
    /// The body's type name, e.g. `DemandDeclared`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Schema version of the body.
    #[serde(rename = "v")]
    pub schema_version: u16,
    /// When the fact happened (stamped by ingest for input), unix milliseconds.
    pub time_ms: i64,
    /// Who produced the message: a service instance or a sender's name.
    pub source: String,
    /// The message that caused this one, if any (a decision's input, an actuation's decision).
    pub causation_id: Option<Uuid>,
    pub body: T,
}

impl<T: Body> Envelope<T> {
    /// Wraps a body with a fresh envelope of the current schema version.
    pub fn new(id: Uuid, time_ms: i64, source: impl Into<String>, causation_id: Option<Uuid>, body: T) -> Self {
        Self {
            id,
            event_type: body.type_name().to_owned(),
            schema_version: SCHEMA_VERSION,
            time_ms,
            source: source.into(),
            causation_id,
            body,
        }
    }
}

/// Why bytes could not be read as an envelope. Each case is reported to the sender
/// (ingest) or dead-lettered (consumers); none is ever a panic.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// The bytes are not MessagePack of the expected shape; the message is unusable.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Written by a newer build; upgrade this reader, the message itself may be fine.
    #[error("unsupported schema version {found} of {event_type}: this build reads versions 1 to {supported}")]
    UnsupportedVersion { event_type: String, found: u16, supported: u16 },
    /// The envelope's type does not match its body: a producer bug.
    #[error("envelope says type {declared} but the body is {actual}")]
    TypeMismatch { declared: String, actual: String },
}

/// Why a value could not be encoded. Only a bug (a non-string map key, say) gets here.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode message: {0}")]
pub struct EncodeError(String);

/// Encodes an envelope as named MessagePack.
pub fn encode<T: Body>(envelope: &Envelope<T>) -> Result<Vec<u8>, EncodeError> {
    rmp_serde::to_vec_named(envelope).map_err(|e| EncodeError(e.to_string()))
}

/// Encodes any body-like value (what a sender puts on `qm.in.>`) as named MessagePack.
pub fn encode_value<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodeError> {
    rmp_serde::to_vec_named(value).map_err(|e| EncodeError(e.to_string()))
}

/// Decodes a bare value written by [`encode_value`].
pub fn decode_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    rmp_serde::from_slice(bytes).map_err(|e| malformed::<T>(bytes, e))
}

/// Only the header, so the version can be checked before the body is trusted.
#[derive(Deserialize)]
struct Header {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(rename = "v")]
    schema_version: u16,
}

/// Decodes an envelope, checking its version and that its type matches its body.
/// One parse in the common case; the header is parsed on its own only to explain a
/// failure (a newer version whose body this build cannot read is not "malformed").
pub fn decode<T: Body>(bytes: &[u8]) -> Result<Envelope<T>, DecodeError> {
    let mut reader = bytes;
    let parsed = Envelope::<T>::deserialize(&mut rmp_serde::Deserializer::new(&mut reader));
    let envelope = match parsed {
        Ok(envelope) => envelope,
        Err(e) => {
            check_version(bytes)?;
            return Err(malformed::<Envelope<T>>(bytes, e));
        }
    };
    if envelope.schema_version == 0 || envelope.schema_version > SCHEMA_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            event_type: envelope.event_type,
            found: envelope.schema_version,
            supported: SCHEMA_VERSION,
        });
    }
    if !reader.is_empty() {
        return Err(DecodeError::Malformed(format!("{} bytes after the end of the message", reader.len())));
    }
    let actual = envelope.body.type_name();
    if actual != envelope.event_type {
        return Err(DecodeError::TypeMismatch { declared: envelope.event_type, actual: actual.to_owned() });
    }
    Ok(envelope)
}

/// `Err(UnsupportedVersion)` when the header is readable and names a version this build
/// does not read.
fn check_version(bytes: &[u8]) -> Result<(), DecodeError> {
    match rmp_serde::from_slice::<Header>(bytes) {
        Ok(header) if header.schema_version == 0 || header.schema_version > SCHEMA_VERSION => Err(DecodeError::UnsupportedVersion {
            event_type: header.event_type,
            found: header.schema_version,
            supported: SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}

/// A UUIDv7 fixed by its inputs, for messages that a restarted writer must reproduce
/// exactly (decisions, actuation reports), so the same position always gives the same id.
///
/// Byte layout (RFC 9562 order): bytes 0-5 are `time_ms` (48 bits, big-endian; times
/// before 1970 map to 0); byte 6 is the version (`7`) and the 4-bit `stream_tag`;
/// byte 7 holds bits 14-21 of `index`; byte 8 the variant (`10`) and bits 8-13 of
/// `index`; bytes 9-14 the low 48 bits of `sequence`; byte 15 bits 0-7 of `index`.
/// So ids are distinct for distinct (tag, sequence, index) up to 2^48 sequences and
/// 2^22 indices. (Until this layout was written down, byte 7 held bits 16-23 and bits
/// 14-15 were lost: indices 16384 apart collided. Ids of indices below 16384, every
/// recorded decision so far, are unchanged.)
pub fn deterministic_id(time_ms: i64, stream_tag: u8, sequence: u64, index: u32) -> Uuid {
    let mut rest = [0u8; 10];
    let byte = |shift: u32, mask: u32| u8::try_from((index >> shift) & mask).unwrap_or(0);
    rest[0] = stream_tag & 0x0f;
    rest[1] = byte(14, 0xff);
    rest[2] = byte(8, 0x3f);
    rest[3..9].copy_from_slice(&sequence.to_be_bytes()[2..8]);
    rest[9] = byte(0, 0xff);
    let millis = u64::try_from(time_ms).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &rest).into_uuid()
}

/// A `Malformed` error that names the field it failed on (`at body.DemandDeclared.spec
/// .chips_min: invalid type ...`). The bytes are parsed again with path tracking only
/// after a failure, so reads that succeed (the hot path) pay nothing for it.
fn malformed<T: DeserializeOwned>(bytes: &[u8], error: impl std::fmt::Display) -> DecodeError {
    let mut deserializer = rmp_serde::Deserializer::new(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(e) if e.path().iter().next().is_some() => DecodeError::Malformed(format!("at {}: {}", e.path(), e.inner())),
        _ => DecodeError::Malformed(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::InputEvent;

    fn tick() -> Envelope<InputEvent> {
        Envelope::new(deterministic_id(1_700_000_000_000, 1, 7, 0), 1_700_000_000_000, "test", None, InputEvent::Tick)
    }

    #[test]
    fn round_trips_an_envelope() {
        let env = tick();
        let bytes = encode(&env).expect("encode");
        assert_eq!(decode::<InputEvent>(&bytes).expect("decode"), env);
    }

    #[test]
    fn rejects_a_newer_version_with_a_typed_error() {
        let mut env = tick();
        env.schema_version = SCHEMA_VERSION + 1;
        let bytes = encode(&env).expect("encode");
        assert!(matches!(decode::<InputEvent>(&bytes), Err(DecodeError::UnsupportedVersion { found, .. }) if found == SCHEMA_VERSION + 1));
    }

    #[test]
    fn rejects_a_type_that_does_not_match_the_body() {
        let mut env = tick();
        env.event_type = "DemandDeclared".into();
        let bytes = encode(&env).expect("encode");
        assert!(matches!(decode::<InputEvent>(&bytes), Err(DecodeError::TypeMismatch { .. })));
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let mut bytes = encode(&tick()).expect("encode");
        bytes.push(0xc0);
        assert!(matches!(decode::<InputEvent>(&bytes), Err(DecodeError::Malformed(m)) if m.contains("after the end")));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bytes in [&b""[..], b"\xc1", b"\x92\x01", b"{\"json\":true}", &[0xff; 64]] {
            assert!(matches!(decode::<InputEvent>(bytes), Err(DecodeError::Malformed(_))), "{bytes:?}");
        }
    }

    #[test]
    fn deterministic_ids_are_stable_and_distinct() {
        let a = deterministic_id(5_000, 2, 42, 0);
        assert_eq!(a, deterministic_id(5_000, 2, 42, 0));
        assert_ne!(a, deterministic_id(5_000, 2, 42, 1));
        assert_ne!(a, deterministic_id(5_000, 2, 43, 0));
        assert_ne!(a, deterministic_id(5_000, 3, 42, 0));
        assert_eq!(a.get_version_num(), 7);
        // Every bit the layout promises survives: high sequence and index bits included.
        assert_ne!(deterministic_id(5_000, 2, 1 << 39, 0), deterministic_id(5_000, 2, 0, 0));
        assert_ne!(deterministic_id(5_000, 2, 1 << 47, 0), deterministic_id(5_000, 2, 0, 0));
        assert_ne!(deterministic_id(5_000, 2, 0, 1 << 21), deterministic_id(5_000, 2, 0, 0));
        assert_ne!(deterministic_id(5_000, 2, 0, 1 << 13), deterministic_id(5_000, 2, 0, 0));
        assert_ne!(deterministic_id(5_000, 15, 0, 0), deterministic_id(5_000, 14, 0, 0));
        for bit in 0..22 {
            assert_ne!(deterministic_id(5_000, 2, 0, 1 << bit), deterministic_id(5_000, 2, 0, 0), "index bit {bit}");
        }
        assert_eq!(deterministic_id(5_000, 2, 0, 1 << 22), deterministic_id(5_000, 2, 0, 0), "22 bits of index, no more");
    }

    #[test]
    fn deterministic_id_bytes_follow_the_documented_layout() {
        let id = deterministic_id(0x0102_0304_0506, 0xa, 0x1112_1314_1516_1718, 0b11_0101_0110_1001_1010_0111);
        let index: u32 = 0b11_0101_0110_1001_1010_0111;
        let bytes = id.as_bytes();
        assert_eq!(&bytes[0..6], &0x0102_0304_0506_u64.to_be_bytes()[2..8]);
        assert_eq!(bytes[6], 0x7a);
        assert_eq!(u32::from(bytes[7]), (index >> 14) & 0xff);
        assert_eq!(bytes[8], 0x80 | u8::try_from((index >> 8) & 0x3f).expect("6 bits"));
        assert_eq!(&bytes[9..15], &0x1112_1314_1516_1718_u64.to_be_bytes()[2..8]);
        assert_eq!(u32::from(bytes[15]), index & 0xff);
    }

    #[test]
    fn a_malformed_field_is_named_with_its_path() {
        let mut env = tick();
        env.body = InputEvent::UsageReported { workload: "w1".into(), chips_busy: 1.0, window_s: 10 };
        let good = encode(&env).expect("encode");
        // Replace the u32 `window_s = 10` (positive fixint 0x0a, the last byte) with a string.
        let mut bad = good[..good.len() - 1].to_vec();
        bad.extend_from_slice(&[0xa3, b't', b'e', b'n']);
        match decode::<InputEvent>(&bad) {
            Err(DecodeError::Malformed(m)) => assert!(m.starts_with("at body.UsageReported.window_s: "), "{m}"),
            other => panic!("expected Malformed, got {other:?}"),
        }
        let bare = encode_value(&env.body).expect("encode");
        let mut bad = bare[..bare.len() - 1].to_vec();
        bad.extend_from_slice(&[0xa3, b't', b'e', b'n']);
        match decode_value::<InputEvent>(&bad) {
            Err(DecodeError::Malformed(m)) => assert!(m.starts_with("at UsageReported.window_s: "), "{m}"),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = decode::<InputEvent>(&bytes);
            let _ = decode::<ActuationEvent>(&bytes);
            let _ = decode::<DecisionRecorded>(&bytes);
        }
    }
}
