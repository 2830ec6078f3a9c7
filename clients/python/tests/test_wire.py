"""The codec's rules on hand-made values: errors name the field, readers skip what they
do not know and fill in what they lack, ranges hold, ids keep every promised bit."""

from __future__ import annotations

import uuid

import pytest

from quartermaster import codec, model
from quartermaster.wire import Malformed, pack, unpack


def spec(**changes: object) -> model.WorkloadSpec:
    base = dict(
        id="llama-ft-7",
        team="llm-training",
        accepts=[model.AcceleratorThroughput("h100", 1.0), model.AcceleratorThroughput("a100", 0.499)],
        chips_min=8,
        chips_max=32,
        chips_step=8,
        preemptible=True,
        drain_grace_s=600,
    )
    return model.WorkloadSpec(**{**base, **changes})  # type: ignore[arg-type]


def demand_form() -> dict:
    return unpack(codec.encode_value(model.DemandDeclared(spec(), 16)), trailing_ok=False)


def test_a_wrong_type_names_the_field() -> None:
    form = demand_form()
    form["DemandDeclared"]["spec"]["chips_min"] = "eight"
    with pytest.raises(Malformed) as e:
        codec.decode_value(pack(form), model.InputEvent)
    assert e.value.path == "DemandDeclared.spec.chips_min"
    assert "expected int" in str(e.value)


def test_a_missing_required_field_names_it() -> None:
    form = demand_form()
    del form["DemandDeclared"]["spec"]["accepts"]
    with pytest.raises(Malformed) as e:
        codec.decode_value(pack(form), model.InputEvent)
    assert e.value.path == "DemandDeclared.spec.accepts"


def test_an_element_of_a_list_is_named_by_index() -> None:
    form = demand_form()
    form["DemandDeclared"]["spec"]["accepts"][1]["relative_throughput"] = "fast"
    with pytest.raises(Malformed) as e:
        codec.decode_value(pack(form), model.InputEvent)
    assert e.value.path == "DemandDeclared.spec.accepts[1].relative_throughput"


def test_unknown_fields_are_skipped_and_missing_defaults_filled_in() -> None:
    form = demand_form()
    inner = form["DemandDeclared"]["spec"]
    inner["added_by_a_newer_writer"] = [1, 2, 3]
    for defaulted in ("kind", "gang", "critical", "urgency", "deadline_ms", "risk_tolerance"):
        del inner[defaulted]
    event = codec.decode_value(pack(form), model.InputEvent)
    assert isinstance(event, model.DemandDeclared)
    assert event.spec.kind is model.WorkloadKind.TRAINING
    assert event.spec.deadline_ms is None and event.spec.urgency == 0.0 and not event.spec.gang


def test_out_of_range_integers_are_refused_both_ways() -> None:
    with pytest.raises(ValueError):
        codec.encode_value(model.DemandDeclared(spec(), -1))
    form = demand_form()
    form["DemandDeclared"]["chips_desired"] = 2**32
    with pytest.raises(Malformed) as e:
        codec.decode_value(pack(form), model.InputEvent)
    assert e.value.path == "DemandDeclared.chips_desired"


def test_unknown_variant_lists_the_known_ones() -> None:
    with pytest.raises(Malformed) as e:
        codec.decode_value(pack({"DemandWithdrawn": {}}), model.InputEvent)
    assert "DemandDeclared" in str(e.value)


def test_an_integer_is_accepted_where_a_float_is_expected() -> None:
    form = demand_form()
    form["DemandDeclared"]["spec"]["urgency"] = 1
    event = codec.decode_value(pack(form), model.InputEvent)
    assert isinstance(event, model.DemandDeclared) and event.spec.urgency == 1.0
    assert isinstance(event.spec.urgency, float)


def test_policy_skips_empty_optional_knobs_like_the_rust_writer() -> None:
    plain = unpack(codec.encode_value(model.PolicyPublished(model.PolicyConfig())), trailing_ok=False)
    assert "team_guarantees_by_type" not in plain["PolicyPublished"]
    assert "round_batch_ms" not in plain["PolicyPublished"]
    by_type = model.PolicyConfig(team_guarantees_by_type={"b": {"h100": 8.0}, "a": {"tpu-v5e": 4.0}}, round_batch_ms=50)
    written = unpack(codec.encode_value(model.PolicyPublished(by_type)), trailing_ok=False)["PolicyPublished"]
    assert list(written["team_guarantees_by_type"]) == ["a", "b"]  # BTreeMap order
    assert written["round_batch_ms"] == 50


def test_trailing_bytes_after_an_envelope_are_malformed() -> None:
    env = codec.envelope(uuid.uuid4(), 1, "test", None, model.Tick())
    with pytest.raises(Malformed, match="after the end"):
        codec.decode(codec.encode(env) + b"\xc0", model.InputEvent)


def test_type_mismatch_is_its_own_error() -> None:
    env = codec.envelope(uuid.uuid4(), 1, "test", None, model.Tick())
    env.type = "DemandDeclared"
    with pytest.raises(codec.TypeMismatch):
        codec.decode(codec.encode(env), model.InputEvent)


@pytest.mark.parametrize(
    ("index", "other"),
    [(1 << 13, 0), (1 << 14, 0), (1 << 15, 0), (1 << 21, 0), (1, 0), ((1 << 22) - 1, (1 << 21) - 1)],
)
def test_deterministic_ids_keep_every_bit_of_a_22_bit_index(index: int, other: int) -> None:
    assert codec.deterministic_id(5_000, 2, 42, index) != codec.deterministic_id(5_000, 2, 42, other)


def test_deterministic_ids_keep_48_bits_of_sequence_and_the_tag() -> None:
    base = codec.deterministic_id(5_000, 2, 0, 0)
    assert codec.deterministic_id(5_000, 2, 1 << 47, 0) != base
    assert codec.deterministic_id(5_000, 3, 0, 0) != base
    assert codec.deterministic_id(5_000, 2, 1 << 48, 0) == base  # only the low 48 bits
    assert base.version == 7 and base.variant == uuid.RFC_4122
