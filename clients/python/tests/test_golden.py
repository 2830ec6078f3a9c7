"""Every golden vector in ``schemas/golden`` read and written back byte for byte, from
both its MessagePack and its JSON form, with the errors ``qm_model::decode`` gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quartermaster import codec, model
from quartermaster.wire import DecodeError, Malformed, TaggedUnion

GOLDEN = Path(__file__).resolve().parents[3] / "schemas" / "golden"
VECTORS = sorted(p.stem for p in GOLDEN.glob("*.msgpack"))
ENVELOPE_BODY = {
    "input": model.InputEvent,
    "decision": model.DecisionRecorded,
    "actuation": model.ActuationEvent,
    "dead": model.InputRejected,
}
BARE = {"request": model.InputEvent, "reply": model.IngestReply}


def load(name: str) -> tuple[bytes, object]:
    return (GOLDEN / f"{name}.msgpack").read_bytes(), json.loads((GOLDEN / f"{name}.json").read_text())


def read(name: str, raw: bytes) -> object:
    prefix = name.split(".")[0]
    if prefix in ENVELOPE_BODY:
        return codec.decode(raw, ENVELOPE_BODY[prefix])
    return codec.decode_value(raw, BARE[prefix])


def test_there_are_vectors_of_every_kind() -> None:
    assert {n.split(".")[0] for n in VECTORS} == set(ENVELOPE_BODY) | set(BARE)


@pytest.mark.parametrize("name", VECTORS)
def test_vector_round_trips_byte_for_byte(name: str) -> None:
    raw, as_json = load(name)
    prefix = name.split(".")[0]
    if prefix in ENVELOPE_BODY:
        env = codec.decode(raw, ENVELOPE_BODY[prefix])
        assert codec.encode(env) == raw
        assert codec.envelope_to_json(env) == as_json
        assert codec.encode(codec.envelope_from_json(as_json, ENVELOPE_BODY[prefix])) == raw
    else:
        value = codec.decode_value(raw, BARE[prefix])
        assert codec.encode_value(value) == raw
        assert codec.to_json(value) == as_json
        assert codec.encode_value(codec.from_json(as_json, BARE[prefix])) == raw


def test_every_variant_has_a_vector() -> None:
    seen: set[str] = set()
    for name in VECTORS:
        value = read(name, load(name)[0])
        body = value.body if isinstance(value, model.Envelope) else value
        if isinstance(body, model.DecisionRecorded):
            body = body.decision.action
        seen.add(type(body).__name__)
    for union in (model.InputEvent, model.Action, model.ActuationEvent, model.IngestReply):
        missing = set(union._variants) - seen
        assert not missing, f"{union.__name__} variants without a golden vector: {missing}"
    assert issubclass(model.InputEvent, TaggedUnion)


@pytest.mark.parametrize("name", [n for n in VECTORS if n.split(".")[0] in ENVELOPE_BODY])
def test_every_truncation_is_malformed_and_no_bit_flip_escapes(name: str) -> None:
    raw, _ = load(name)
    for cut in range(len(raw)):
        with pytest.raises(Malformed):
            read(name, raw[:cut])
    for i in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[i] ^= 1 << bit
            try:
                read(name, bytes(flipped))
            except DecodeError:
                pass


def test_a_newer_version_is_unsupported_not_malformed() -> None:
    raw, _ = load("input.Tick")
    env = codec.decode(raw, model.InputEvent)
    env.v = codec.SCHEMA_VERSION + 1
    with pytest.raises(codec.UnsupportedVersion) as e:
        codec.decode(codec.encode(env), model.InputEvent)
    assert e.value.found == codec.SCHEMA_VERSION + 1


def test_decision_ids_are_the_deterministic_id_of_their_log_position() -> None:
    for name in (n for n in VECTORS if n.startswith("decision.")):
        env = codec.decode(load(name)[0], model.DecisionRecorded)
        body = env.body
        assert env.id == codec.deterministic_id(env.time_ms, 2, body.input_seq, body.index), name
        assert env.id.version == 7
