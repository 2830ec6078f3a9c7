//! Reading the golden vectors and decoding each as the type its name says.

use qm_model::*;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

/// `schemas/` at the repository root.
pub fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

/// One golden case: its name, the bytes on the wire and the same value as JSON.
pub struct Vector {
    pub name: String,
    pub bytes: Vec<u8>,
    pub json: String,
}

/// A vector decoded as the type its name's prefix says.
pub enum Decoded {
    Input(Envelope<InputEvent>),
    Decision(Envelope<DecisionRecorded>),
    Actuation(Envelope<ActuationEvent>),
    Dead(Envelope<InputRejected>),
    Request(InputEvent),
    Reply(IngestReply),
}

impl Decoded {
    /// The bytes on the wire and the same value as pretty JSON: what the writer stores
    /// for this case (`examples/write_golden`), so both sides share one list of kinds.
    pub fn encode(&self) -> Result<(Vec<u8>, String), Box<dyn std::error::Error>> {
        fn json<T: serde::Serialize>(value: &T) -> serde_json::Result<String> {
            serde_json::to_string_pretty(value).map(|s| s + "\n")
        }
        Ok(match self {
            Self::Input(e) => (encode(e)?, json(e)?),
            Self::Decision(e) => (encode(e)?, json(e)?),
            Self::Actuation(e) => (encode(e)?, json(e)?),
            Self::Dead(e) => (encode(e)?, json(e)?),
            Self::Request(v) => (encode_value(v)?, json(v)?),
            Self::Reply(v) => (encode_value(v)?, json(v)?),
        })
    }

    pub fn envelope_id(&self) -> Option<Uuid> {
        match self {
            Self::Input(e) => Some(e.id),
            Self::Decision(e) => Some(e.id),
            Self::Actuation(e) => Some(e.id),
            Self::Dead(e) => Some(e.id),
            Self::Request(_) | Self::Reply(_) => None,
        }
    }
}

/// Every vector in `schemas/golden`, sorted by name; each `.msgpack` must have a `.json`.
pub fn load_all() -> Vec<Vector> {
    let dir = schemas_dir().join("golden");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        let paired = match name.rsplit_once('.') {
            Some((stem, "json")) => format!("{stem}.msgpack"),
            Some((stem, "msgpack")) => format!("{stem}.json"),
            _ => panic!("unexpected file schemas/golden/{name}"),
        };
        assert!(names.contains(&paired), "schemas/golden/{name} has no {paired}");
    }
    names
        .iter()
        .filter_map(|name| name.strip_suffix(".msgpack"))
        .map(|stem| Vector {
            name: stem.to_owned(),
            bytes: std::fs::read(dir.join(format!("{stem}.msgpack"))).expect("read msgpack"),
            json: std::fs::read_to_string(dir.join(format!("{stem}.json"))).expect("read json"),
        })
        .collect()
}

impl Vector {
    fn kind(&self) -> &str {
        self.name.split('.').next().unwrap_or_default()
    }

    /// Decodes the bytes, checks them against the JSON and against re-encoding; panics
    /// with the vector's name on any difference.
    pub fn decode(&self) -> Decoded {
        match self.kind() {
            "input" => Decoded::Input(self.check(decode, encode)),
            "decision" => Decoded::Decision(self.check(decode, encode)),
            "actuation" => Decoded::Actuation(self.check(decode, encode)),
            "dead" => Decoded::Dead(self.check(decode, encode)),
            "request" => Decoded::Request(self.check(decode_value, encode_value)),
            "reply" => Decoded::Reply(self.check(decode_value, encode_value)),
            other => panic!("{}: unknown prefix {other}", self.name),
        }
    }

    /// Decodes possibly corrupted bytes as this vector's type; only the error matters.
    pub fn decode_other(&self, bytes: &[u8]) -> Result<(), DecodeError> {
        match self.kind() {
            "input" => decode::<InputEvent>(bytes).map(drop),
            "decision" => decode::<DecisionRecorded>(bytes).map(drop),
            "actuation" => decode::<ActuationEvent>(bytes).map(drop),
            "dead" => decode::<InputRejected>(bytes).map(drop),
            "request" => decode_value::<InputEvent>(bytes).map(drop),
            "reply" => decode_value::<IngestReply>(bytes).map(drop),
            other => panic!("{}: unknown prefix {other}", self.name),
        }
    }

    /// The schema file and JSON pointer this vector's JSON must fit.
    pub fn schema(&self) -> (String, String) {
        let second = self.name.split('.').nth(1).unwrap_or_default();
        let (file, pointer) = match self.kind() {
            "input" | "actuation" => (second, "/$defs/envelope"),
            "decision" => ("DecisionRecorded", "/$defs/envelope"),
            "dead" => ("InputRejected", "/$defs/envelope"),
            "request" => (second, ""),
            _ => ("IngestReply", ""),
        };
        (file.to_owned(), pointer.to_owned())
    }

    fn check<T, E>(&self, decode: fn(&[u8]) -> Result<T, DecodeError>, encode: fn(&T) -> Result<Vec<u8>, E>) -> T
    where
        T: DeserializeOwned + PartialEq + Debug,
        E: Debug,
    {
        let name = &self.name;
        let value = decode(&self.bytes).unwrap_or_else(|e| panic!("{name}.msgpack does not decode: {e}"));
        let from_json: T =
            serde_json::from_str(&self.json).unwrap_or_else(|e| panic!("{name}.json does not decode: {e}"));
        assert_eq!(value, from_json, "{name}: .msgpack and .json hold different values");
        let again = encode(&value).unwrap_or_else(|e| panic!("{name}: cannot re-encode: {e:?}"));
        assert!(again == self.bytes, "{name}: re-encoding changed the bytes; if on purpose, regenerate the vectors");
        value
    }
}
