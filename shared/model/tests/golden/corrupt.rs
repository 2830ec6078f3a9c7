//! Corrupted golden vectors must give a `DecodeError`, never a panic.

use super::vectors::load_all;
use qm_model::{decode, DecodeError, InputEvent, SCHEMA_VERSION};
use std::panic::{catch_unwind, AssertUnwindSafe};

#[test]
fn every_truncation_is_a_decode_error() {
    for vector in load_all() {
        for len in 0..vector.bytes.len() {
            let cut = &vector.bytes[..len];
            let result = catch_unwind(AssertUnwindSafe(|| vector.decode_other(cut)));
            match result {
                Ok(Err(DecodeError::Malformed(_))) => {}
                Ok(other) => panic!("{} cut to {len} bytes: expected Malformed, got {other:?}", vector.name),
                Err(_) => panic!("{} cut to {len} bytes: the decoder panicked", vector.name),
            }
        }
    }
}

#[test]
fn bit_flips_never_panic() {
    // A flip inside a string or a number can still decode (to another value), so the
    // property is only: an error or a value, never a panic.
    let mut errors = 0usize;
    let mut flips = 0usize;
    for vector in load_all() {
        for (i, bit) in (0..vector.bytes.len()).flat_map(|i| (0..8).map(move |bit| (i, bit))) {
            let mut bytes = vector.bytes.clone();
            bytes[i] ^= 1 << bit;
            let result = catch_unwind(AssertUnwindSafe(|| vector.decode_other(&bytes)));
            let Ok(result) = result else {
                panic!("{}: flipping bit {bit} of byte {i} made the decoder panic", vector.name)
            };
            flips += 1;
            errors += usize::from(result.is_err());
        }
        // The first byte is the map (or string) header: any flip there breaks the shape.
        for bit in 0..8 {
            let mut bytes = vector.bytes.clone();
            bytes[0] ^= 1 << bit;
            assert!(vector.decode_other(&bytes).is_err(), "{}: header bit {bit} flipped still decodes", vector.name);
        }
    }
    assert!(errors * 2 > flips, "only {errors} of {flips} bit flips were refused");
}

#[test]
fn a_flipped_version_is_unsupported_not_misread() {
    let vector = load_all().into_iter().find(|v| v.name == "input.Tick").expect("input.Tick vector");
    // `a1 76 01`: the key "v" and the positive fixint 1.
    let at = vector.bytes.windows(3).position(|w| w == [0xa1, b'v', 0x01]).expect("v = 1 in the vector") + 2;
    for bit in 0..7 {
        let mut bytes = vector.bytes.clone();
        bytes[at] ^= 1 << bit;
        let found = u16::from(bytes[at]);
        assert!(
            matches!(decode::<InputEvent>(&bytes), Err(DecodeError::UnsupportedVersion { found: f, supported, .. }) if f == found && supported == SCHEMA_VERSION),
            "v = {found}"
        );
    }
}
