//! Golden vectors and schemas in `schemas/` (see `schemas/README.md`).
//!
//! Every `schemas/golden/<name>.msgpack` must decode as the type its name's prefix says,
//! equal the value in `<name>.json`, and re-encode to exactly the same bytes: a change to
//! the wire format fails here until the vectors are regenerated on purpose with
//! `cargo run -p qm-model --example write_golden`. Every enum variant must have a
//! vector, every type a schema, and every golden JSON must fit its schema's shape.

// A test crate's root resolves modules beside it, where cargo would build each file as
// a test of its own; the helpers live in tests/golden/ instead.
#[path = "golden/corrupt.rs"]
mod corrupt;
#[path = "golden/schema.rs"]
mod schema;
#[path = "golden/vectors.rs"]
mod vectors;

use qm_model::*;
use std::collections::BTreeSet;
use vectors::{load_all, Decoded};

/// Lists an enum's variants through an exhaustive match, so a new variant does not
/// compile until it is named here, and then the coverage test demands a vector for it.
macro_rules! variants {
    ($name_fn:ident, $all:ident, $ty:ident { $($variant:ident),* $(,)? }) => {
        fn $name_fn(value: &$ty) -> &'static str {
            match value {
                $($ty::$variant { .. } => stringify!($variant),)*
            }
        }
        const $all: &[&str] = &[$(stringify!($variant)),*];
    };
}

variants!(
    input_variant,
    INPUT_VARIANTS,
    InputEvent {
        PoolDeclared,
        PoolRetired,
        TeamDeclared,
        PolicyPublished,
        DemandDeclared,
        UsageReported,
        WorkloadFinished,
        Tick,
        HaltResolved,
    }
);
variants!(action_variant, ACTION_VARIANTS, Action { Grant, Reclaim, Revoke, Release, Pending });
variants!(
    actuation_variant,
    ACTUATION_VARIANTS,
    ActuationEvent { GrantApplied, DrainRequested, GrantRevoked, ActuationFailed }
);
variants!(cause_variant, CAUSE_VARIANTS, ReclaimCause { IdleGiveBack, OwnerReclaim, Preemption, Move, PoolShrink });
variants!(reply_variant, REPLY_VARIANTS, IngestReply { Accepted, Rejected });
variants!(
    code_variant,
    CODE_VARIANTS,
    RejectCode { Malformed, TooLarge, BadSubject, OutOfRange, Unknown, Forbidden, Unavailable, Conflict, UnsupportedVersion, RateLimited }
);
variants!(tier_variant, TIER_VARIANTS, PriorityTier { Low, Normal, High, Critical });
variants!(kind_variant, KIND_VARIANTS, WorkloadKind { Training, Inference, Batch, Interactive });

#[test]
fn every_vector_decodes_matches_its_json_and_reencodes_to_the_same_bytes() {
    let vectors = load_all();
    assert!(!vectors.is_empty(), "no golden vectors found");
    for vector in &vectors {
        // `decode` does the three checks; the name must also agree with the content.
        let decoded = vector.decode();
        let second = vector.name.split('.').nth(1).expect("names are <kind>.<type>[.<case>]");
        let named = match &decoded {
            Decoded::Input(e) => e.event_type.as_str(),
            Decoded::Request(event) => input_variant(event),
            Decoded::Decision(_) => "DecisionRecorded",
            Decoded::Actuation(e) => e.event_type.as_str(),
            Decoded::Dead(_) => "InputRejected",
            Decoded::Reply(reply) => reply_variant(reply),
        };
        let named_by_action =
            matches!(&decoded, Decoded::Decision(e) if action_variant(&e.body.decision.action) == second);
        assert!(
            named == second || named_by_action,
            "{}: the name says {second}, the vector holds {named}",
            vector.name
        );
        if let Some(envelope_id) = decoded.envelope_id() {
            assert_eq!(envelope_id.get_version_num(), 7, "{}: envelope ids are UUIDv7", vector.name);
        }
        // What the writer (`examples/write_golden`) would store for this value is the file.
        let (bytes, json) = decoded.encode().unwrap_or_else(|e| panic!("{}: {e}", vector.name));
        assert!(bytes == vector.bytes && json == vector.json, "{}: the writer would store other bytes", vector.name);
    }
}

#[test]
fn every_variant_has_a_vector() {
    let mut seen = BTreeSet::new();
    let mut saw = |ty: &'static str, variant: &'static str| seen.insert((ty, variant));
    for vector in load_all() {
        match vector.decode() {
            Decoded::Input(Envelope { body: event, .. }) | Decoded::Request(event) => {
                saw("InputEvent", input_variant(&event));
                match &event {
                    InputEvent::TeamDeclared(team) => saw("PriorityTier", tier_variant(&team.tier)),
                    InputEvent::DemandDeclared { spec, .. } => saw("WorkloadKind", kind_variant(&spec.kind)),
                    _ => false,
                };
            }
            Decoded::Decision(envelope) => {
                let action = &envelope.body.decision.action;
                saw("Action", action_variant(action));
                if let Action::Reclaim { cause, .. } = action {
                    saw("ReclaimCause", cause_variant(cause));
                }
            }
            Decoded::Actuation(envelope) => {
                saw("ActuationEvent", actuation_variant(&envelope.body));
            }
            Decoded::Dead(_) => {
                saw("InputRejected", "InputRejected");
            }
            Decoded::Reply(reply) => {
                saw("IngestReply", reply_variant(&reply));
                if let IngestReply::Rejected { code, .. } = &reply {
                    saw("RejectCode", code_variant(code));
                }
            }
        }
    }
    let all: [(&str, &[&str]); 9] = [
        ("InputEvent", INPUT_VARIANTS),
        ("Action", ACTION_VARIANTS),
        ("ActuationEvent", ACTUATION_VARIANTS),
        ("ReclaimCause", CAUSE_VARIANTS),
        ("IngestReply", REPLY_VARIANTS),
        ("RejectCode", CODE_VARIANTS),
        ("PriorityTier", TIER_VARIANTS),
        ("WorkloadKind", KIND_VARIANTS),
        ("InputRejected", &["InputRejected"]),
    ];
    let missing: Vec<String> = all
        .iter()
        .flat_map(|(ty, variants)| variants.iter().map(move |v| (*ty, *v)))
        .filter(|key| !seen.contains(key))
        .map(|(ty, v)| format!("{ty}::{v}"))
        .collect();
    assert!(missing.is_empty(), "no golden vector for {missing:?}: add one to examples/write_golden.rs and regenerate");
}

#[test]
fn optional_fields_present_both_ways() {
    // Option is an enum too: each optional field has a vector with and without a value.
    let mut seen = BTreeSet::new();
    for vector in load_all() {
        match vector.decode() {
            Decoded::Input(envelope) => {
                seen.insert(("causation_id", envelope.causation_id.is_some()));
                match &envelope.body {
                    InputEvent::TeamDeclared(team) => seen.insert(("limit", team.limit.is_some())),
                    InputEvent::DemandDeclared { spec, .. } => seen.insert(("deadline_ms", spec.deadline_ms.is_some())),
                    _ => false,
                };
            }
            Decoded::Decision(envelope) => {
                seen.insert(("causation_id", envelope.causation_id.is_some()));
                seen.insert(("advisory", envelope.body.advisory));
            }
            Decoded::Actuation(Envelope { body: ActuationEvent::ActuationFailed { pool, .. }, .. }) => {
                seen.insert(("pool", pool.is_some()));
            }
            Decoded::Reply(IngestReply::Accepted { duplicate, .. }) => {
                seen.insert(("duplicate", duplicate));
            }
            _ => {}
        }
    }
    for field in ["causation_id", "limit", "deadline_ms", "advisory", "pool", "duplicate"] {
        for present in [false, true] {
            assert!(seen.contains(&(field, present)), "no golden vector with {field} = {present}");
        }
    }
}

#[test]
fn every_type_and_variant_has_a_schema() {
    let schemas = schema::load_all();
    let files = INPUT_VARIANTS.iter().chain(ACTUATION_VARIANTS).chain(&[
        "Envelope",
        "InputEvent",
        "ActuationEvent",
        "DecisionRecorded",
        "InputRejected",
        "IngestReply",
        "Pool",
        "Team",
        "WorkloadSpec",
        "PolicyConfig",
    ]);
    for name in files {
        assert!(schemas.contains_key(*name), "no schemas/{name}.schema.json");
    }
    let decision = &schemas["DecisionRecorded"];
    for name in ACTION_VARIANTS.iter().chain(&["Decision", "Action", "Reason", "Figure", "ReclaimCause"]) {
        assert!(decision["$defs"].get(*name).is_some(), "DecisionRecorded.schema.json has no $defs/{name}");
    }
    let reply = &schemas["IngestReply"];
    for name in REPLY_VARIANTS.iter().chain(&["RejectCode"]) {
        assert!(reply["$defs"].get(*name).is_some(), "IngestReply.schema.json has no $defs/{name}");
    }
}

#[test]
fn schema_enums_list_exactly_the_serde_names() {
    let schemas = schema::load_all();
    let strings = |file: &str, def: &str| schema::enum_strings(&schemas[file]["$defs"][def]);
    fn names<T: serde::de::DeserializeOwned>(
        strings: &[String],
        name: fn(&T) -> &'static str,
    ) -> BTreeSet<&'static str> {
        strings
            .iter()
            .map(|s| {
                name(
                    &serde_json::from_value(serde_json::Value::String(s.clone()))
                        .expect("schema enum string is a variant"),
                )
            })
            .collect()
    }
    let check = |found: BTreeSet<&str>, count: usize, all: &[&str], what: &str| {
        assert_eq!(count, found.len(), "{what}: repeated or aliased strings in the schema");
        assert_eq!(found, all.iter().copied().collect(), "{what}: the schema's enum does not list every variant");
    };
    let causes = strings("DecisionRecorded", "ReclaimCause");
    check(names(&causes, cause_variant), causes.len(), CAUSE_VARIANTS, "ReclaimCause");
    let codes = strings("IngestReply", "RejectCode");
    check(names(&codes, code_variant), codes.len(), CODE_VARIANTS, "RejectCode");
    let tiers = strings("defs", "PriorityTier");
    check(names(&tiers, tier_variant), tiers.len(), TIER_VARIANTS, "PriorityTier");
    let kinds = strings("defs", "WorkloadKind");
    check(names(&kinds, kind_variant), kinds.len(), KIND_VARIANTS, "WorkloadKind");
}

#[test]
fn schemas_are_draft_2020_12_name_their_type_and_resolve_every_ref() {
    let schemas = schema::load_all();
    for (name, schema) in &schemas {
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        assert_eq!(schema["title"], name.as_str(), "{name}: title must name the type");
        let id = schema["$id"].as_str().unwrap_or_default();
        assert!(id.ends_with(&format!("/{name}.schema.json")), "{name}: $id {id}");
        schema::check_refs(name, schema, &schemas);
    }
}

#[test]
fn every_golden_json_fits_its_schema() {
    let schemas = schema::load_all();
    for vector in load_all() {
        let (file, pointer) = vector.schema();
        let instance: serde_json::Value = serde_json::from_str(&vector.json).expect("json");
        if let Err(errors) = schema::check(&schemas, &file, &pointer, &instance) {
            panic!("{} does not fit {file}.schema.json#{pointer}:\n{}", vector.name, errors.join("\n"));
        }
    }
}

#[test]
fn missing_option_fields_read_as_none() {
    // The schemas leave Option fields out of `required`; this is why.
    let json =
        r#"{"id":"019b76e3-f6d0-7100-8000-00000a000000","type":"Tick","v":1,"time_ms":5,"source":"t","body":"Tick"}"#;
    let envelope: Envelope<InputEvent> = serde_json::from_str(json).expect("envelope without causation_id");
    assert_eq!(envelope.causation_id, None);
    let json =
        r#"{"ActuationFailed":{"decision_id":"019b76e3-f6d0-7100-8000-00000a000000","workload":"w","error":"e"}}"#;
    let event: ActuationEvent = serde_json::from_str(json).expect("ActuationFailed without pool");
    assert!(matches!(event, ActuationEvent::ActuationFailed { pool: None, .. }));
}
