"""Envelopes and bare values, to and from bytes (``schemas/README.md``, "The envelope").

``encode``/``decode`` are ``qm_model::encode``/``decode``: a stored message in its
envelope. ``encode_value``/``decode_value`` are the bare forms used for requests to
ingest and its replies. ``to_json``/``from_json`` give the serde_json form.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, TypeVar

from . import model
from .wire import DecodeError, Malformed, TaggedUnion, from_form, pack, to_form, unpack

__all__ = [
    "SCHEMA_VERSION",
    "UnsupportedVersion",
    "TypeMismatch",
    "envelope",
    "encode",
    "decode",
    "encode_value",
    "decode_value",
    "to_json",
    "from_json",
    "envelope_to_json",
    "envelope_from_json",
    "deterministic_id",
    "type_name",
]

SCHEMA_VERSION = 1
"""The newest schema version this client reads and the one it writes."""

T = TypeVar("T")


class UnsupportedVersion(DecodeError):
    """Written by a newer build (or version 0): upgrade this reader."""

    def __init__(self, event_type: str, found: int) -> None:
        self.event_type = event_type
        self.found = found
        super().__init__(
            f"unsupported schema version {found} of {event_type}: this client reads versions 1 to {SCHEMA_VERSION}"
        )


class TypeMismatch(DecodeError):
    """The envelope's ``type`` does not name its body: a producer bug."""

    def __init__(self, declared: str, actual: str) -> None:
        self.declared = declared
        self.actual = actual
        super().__init__(f"envelope says type {declared} but the body is {actual}")


def type_name(body: Any) -> str:
    """The envelope ``type`` of a body: the variant name for unions, else the type name."""
    if isinstance(body, TaggedUnion):
        return body.variant
    return type(body).__name__


def envelope(id: uuid.UUID, time_ms: int, source: str, causation_id: uuid.UUID | None, body: Any) -> model.Envelope:
    """A fresh envelope of the current version around ``body``."""
    return model.Envelope(id, type_name(body), SCHEMA_VERSION, time_ms, source, causation_id, body)


def _body_type(body: Any) -> type:
    for cls in type(body).__mro__:
        if TaggedUnion in cls.__bases__:
            return cls
    return type(body)


def _envelope_form(env: model.Envelope, *, json: bool) -> dict[str, Any]:
    head = {f.name: getattr(env, f.name) for f in dataclasses.fields(env) if f.name != "body"}
    hints = {"id": uuid.UUID, "type": str, "v": model.U16, "time_ms": model.I64, "source": str}
    out = {k: to_form(v, hints[k], json=json) for k, v in head.items() if k != "causation_id"}
    out = {**out, "causation_id": to_form(env.causation_id, uuid.UUID | None, json=json)}
    # Field order as written: id, type, v, time_ms, source, causation_id, body.
    ordered = {k: out[k] for k in ("id", "type", "v", "time_ms", "source", "causation_id")}
    ordered["body"] = to_form(env.body, _body_type(env.body), json=json)
    return ordered


def _envelope_from_form(data: Any, body_type: type, *, json: bool) -> model.Envelope:
    if not isinstance(data, dict):
        raise Malformed("", "expected an envelope map")
    header_ok = isinstance(data.get("type"), str) and type(data.get("v")) is int
    try:
        fields = {
            "id": from_form(data.get("id"), uuid.UUID, json=json, path="id"),
            "type": from_form(data.get("type"), str, json=json, path="type"),
            "v": from_form(data.get("v"), model.U16, json=json, path="v"),
            "time_ms": from_form(data.get("time_ms"), model.I64, json=json, path="time_ms"),
            "source": from_form(data.get("source"), str, json=json, path="source"),
            "causation_id": from_form(data.get("causation_id"), uuid.UUID | None, json=json, path="causation_id"),
        }
        if "body" not in data:
            raise Malformed("body", "missing required field of Envelope")
        body = from_form(data["body"], body_type, json=json, path="body")
    except Malformed:
        # A newer version whose body this build cannot read is not "malformed".
        if header_ok and not 1 <= data["v"] <= SCHEMA_VERSION:
            raise UnsupportedVersion(data["type"], data["v"]) from None
        raise
    env = model.Envelope(body=body, **fields)
    if not 1 <= env.v <= SCHEMA_VERSION:
        raise UnsupportedVersion(env.type, env.v)
    if type_name(body) != env.type:
        raise TypeMismatch(env.type, type_name(body))
    return env


def encode(env: model.Envelope) -> bytes:
    """An envelope as stored on a stream (``qm_model::encode``)."""
    return pack(_envelope_form(env, json=False))


def decode(raw: bytes, body_type: type) -> model.Envelope:
    """Reads a stored message whose body is a ``body_type`` (e.g. ``model.InputEvent``).

    Raises :class:`Malformed`, :class:`UnsupportedVersion` or :class:`TypeMismatch`, as
    ``qm_model::decode`` does; bytes after the message are malformed.
    """
    return _envelope_from_form(unpack(raw, trailing_ok=False), body_type, json=False)


def encode_value(value: Any) -> bytes:
    """A bare value, as a request to ingest is sent (``qm_model::encode_value``)."""
    return pack(to_form(value, _body_type(value), json=False))


def decode_value(raw: bytes, value_type: type[T]) -> T:
    """Reads a bare value (a request or an ``IngestReply``); raises :class:`Malformed`."""
    return from_form(unpack(raw, trailing_ok=True), value_type, json=False)


def to_json(value: Any) -> Any:
    """A bare value in its serde_json form (plain data for ``json.dumps``)."""
    return to_form(value, _body_type(value), json=True)


def from_json(data: Any, value_type: type[T]) -> T:
    """A bare value from its serde_json form."""
    return from_form(data, value_type, json=True)


def envelope_to_json(env: model.Envelope) -> dict[str, Any]:
    """An envelope in its serde_json form."""
    return _envelope_form(env, json=True)


def envelope_from_json(data: Any, body_type: type) -> model.Envelope:
    """An envelope from its serde_json form."""
    return _envelope_from_form(data, body_type, json=True)


def deterministic_id(time_ms: int, stream_tag: int, sequence: int, index: int) -> uuid.UUID:
    """``qm_model::deterministic_id``: the UUIDv7 a decision gets from its log position.

    Bytes 0-5: ``time_ms`` (48 bits, big-endian; negative times are 0). Byte 6: version 7
    and the 4-bit ``stream_tag`` (2 for decisions). Byte 7: bits 14-21 of ``index``.
    Byte 8: the RFC 9562 variant (``10``) and bits 8-13 of ``index``. Bytes 9-14: the low
    48 bits of ``sequence``. Byte 15: bits 0-7 of ``index``.
    """
    millis = max(time_ms, 0) & (2**48 - 1)
    out = bytearray(millis.to_bytes(6, "big"))
    out.append(0x70 | (stream_tag & 0x0F))
    out.append((index >> 14) & 0xFF)
    out.append(0x80 | ((index >> 8) & 0x3F))
    out += (sequence & (2**48 - 1)).to_bytes(6, "big")
    out.append(index & 0xFF)
    return uuid.UUID(bytes=bytes(out))
