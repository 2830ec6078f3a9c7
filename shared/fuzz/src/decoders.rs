//! The decoders of everything that crosses the bus or comes from a file. Oracle: no
//! panic, and what decodes re-encodes stably: encoding it, decoding that and encoding
//! again gives the same bytes (compared as bytes, so a NaN is no false alarm).

use qm_model::{decode, decode_value, encode, encode_value, ActuationEvent, DecisionRecorded, InputEvent, InputRejected};
use qm_model::{Envelope, IngestReply, PolicyConfig};


/// Decodes `bytes` as an envelope of `T`; a success must survive a round trip.
fn envelope_round_trip<T: qm_model::Body>(bytes: &[u8]) {
    if let Ok(envelope) = decode::<T>(bytes) {
        let once = encode(&envelope).expect("a decoded envelope encodes");
        let back: Envelope<T> = decode(&once).expect("an encoded envelope decodes");
        assert_eq!(encode(&back).expect("encodes again"), once, "envelope round trip changed the value");
    }
}

/// Decodes `bytes` as a bare `T` (requests and replies); a success must survive a round trip.
fn value_round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(bytes: &[u8]) {
    if let Ok(value) = decode_value::<T>(bytes) {
        let once = encode_value(&value).expect("a decoded value encodes");
        let back = decode_value::<T>(&once).expect("an encoded value decodes");
        assert_eq!(encode_value(&back).expect("encodes again"), once, "value round trip changed it");
    }
}

/// The envelope of every stream's body type.
pub fn envelope(bytes: &[u8]) {
    envelope_round_trip::<InputEvent>(bytes);
    envelope_round_trip::<DecisionRecorded>(bytes);
    envelope_round_trip::<ActuationEvent>(bytes);
    envelope_round_trip::<InputRejected>(bytes);
}

/// Bare events as sent to ingest, and ingest's replies.
pub fn event(bytes: &[u8]) {
    value_round_trip::<InputEvent>(bytes);
    value_round_trip::<ActuationEvent>(bytes);
    value_round_trip::<IngestReply>(bytes);
}

/// A policy file: TOML parse, then the core's validation. Oracle: no panic; a policy the
/// core accepts survives a TOML round trip.
pub fn policy_toml(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let Ok(policy) = toml::from_str::<PolicyConfig>(text) else { return };
    if qm_core::validate_policy(&policy).is_ok() {
        let once = toml::to_string(&policy).expect("a valid policy writes as TOML");
        let back = toml::from_str::<PolicyConfig>(&once).expect("and reads back");
        assert_eq!(toml::to_string(&back).expect("writes again"), once, "policy TOML round trip");
    }
}
