"""A small codec between typed dataclasses and Quartermaster's two value forms.

The wire form is MessagePack as ``rmp_serde::to_vec_named`` writes it (see
``schemas/README.md``, "MessagePack conventions"): structs are maps in field order,
enums are externally tagged, UUIDs are 16-byte bins, ``Option`` is nil or the value.
The JSON form is what ``serde_json`` gives the same value (UUIDs as strings, bytes
as lists of integers): the golden ``.json`` files and ``--json`` outputs.

The codec is driven by type hints, so each type is declared once, in ``model.py``.
Decoding is strict about shape and names the field it failed on; it skips fields it
does not know and fills in missing ``Optional`` or defaulted fields, as Rust readers do.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
import uuid
from dataclasses import dataclass
from typing import Any, Annotated, ClassVar, Union, get_args, get_origin

import msgpack

__all__ = [
    "DecodeError",
    "Malformed",
    "IntRange",
    "U16",
    "U32",
    "U64",
    "I64",
    "TaggedUnion",
    "to_form",
    "from_form",
    "pack",
    "unpack",
]


class DecodeError(Exception):
    """Bytes or a value could not be read as the expected type."""


class Malformed(DecodeError):
    """Not of the expected shape; ``path`` names the field (e.g. ``body.DemandDeclared.spec.chips_min``)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"malformed message at {path or '<root>'}: {problem}")


@dataclass(frozen=True)
class IntRange:
    """Inclusive bounds of a Rust integer type, attached with ``Annotated``."""

    lo: int
    hi: int


U16 = Annotated[int, IntRange(0, 2**16 - 1)]
U32 = Annotated[int, IntRange(0, 2**32 - 1)]
U64 = Annotated[int, IntRange(0, 2**64 - 1)]
I64 = Annotated[int, IntRange(-(2**63), 2**63 - 1)]


class TaggedUnion:
    """Base of a Rust enum with data (externally tagged).

    A direct subclass is the enum (``class Action(TaggedUnion)``); its dataclass
    subclasses are the variants, registered under their class name, which must be the
    Rust variant name. A variant without fields is a unit variant (written as its name);
    one with ``_newtype = True`` wraps its single field's value directly, as
    ``PoolDeclared(Pool)`` does.
    """

    _variants: ClassVar[dict[str, type]]
    _newtype: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if TaggedUnion in cls.__bases__:
            cls._variants = {}
        else:
            cls._variants[cls.__name__] = cls

    @property
    def variant(self) -> str:
        """The Rust variant name, e.g. ``DemandDeclared``."""
        return type(self).__name__


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _is_optional(hint: Any) -> tuple[bool, Any]:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(get_args(hint)) == 2:
            return True, args[0]
    return False, hint


def _skip(field: dataclasses.Field, value: Any) -> bool:
    skip_if = field.metadata.get("skip_if")
    return bool(skip_if and skip_if(value))


def to_form(value: Any, hint: Any, *, json: bool) -> Any:
    """A typed value as plain data: for ``msgpack`` (``json=False``) or ``json``."""
    optional, inner = _is_optional(hint)
    if value is None:
        if optional:
            return None
        raise TypeError(f"None given for non-optional {hint!r}")
    hint = inner
    origin = get_origin(hint)
    if origin is Annotated:
        base, *meta = get_args(hint)
        rng = next((m for m in meta if isinstance(m, IntRange)), None)
        if rng and not (isinstance(value, int) and not isinstance(value, bool) and rng.lo <= value <= rng.hi):
            raise ValueError(f"{value!r} is not an integer in {rng.lo}..={rng.hi}")
        return to_form(value, base, json=json)
    if hint is float:
        return float(value)
    if hint in (int, str, bool):
        return value
    if hint is uuid.UUID:
        return str(value) if json else value.bytes
    if hint is bytes:
        return list(value) if json else bytes(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return value.value
    if origin is list:
        (item,) = get_args(hint)
        return [to_form(v, item, json=json) for v in value]
    if origin is dict:
        key, item = get_args(hint)
        # Rust writes these as BTreeMaps: keys in sorted order.
        return {to_form(k, key, json=json): to_form(value[k], item, json=json) for k in sorted(value)}
    if isinstance(hint, type) and issubclass(hint, TaggedUnion):
        return _union_to_form(value, json=json)
    if dataclasses.is_dataclass(hint):
        return _struct_to_form(value, json=json)
    raise TypeError(f"no wire form for {hint!r}")


def _struct_to_form(value: Any, *, json: bool) -> dict[str, Any]:
    hints = _hints(type(value))
    out: dict[str, Any] = {}
    for field in dataclasses.fields(value):
        v = getattr(value, field.name)
        if not _skip(field, v):
            out[field.name] = to_form(v, hints[field.name], json=json)
    return out


def _union_to_form(value: TaggedUnion, *, json: bool) -> Any:
    fields = dataclasses.fields(value)  # type: ignore[arg-type]
    if not fields:
        return value.variant
    if value._newtype:
        hint = _hints(type(value))[fields[0].name]
        return {value.variant: to_form(getattr(value, fields[0].name), hint, json=json)}
    return {value.variant: _struct_to_form(value, json=json)}


def from_form(data: Any, hint: Any, *, json: bool, path: str = "") -> Any:
    """Plain data (from ``msgpack`` or ``json``) as a typed value; raises :class:`Malformed`."""
    optional, inner = _is_optional(hint)
    if data is None:
        if optional:
            return None
        raise Malformed(path, f"nil where {_name(inner)} is required")
    hint = inner
    origin = get_origin(hint)
    if origin is Annotated:
        base, *meta = get_args(hint)
        value = from_form(data, base, json=json, path=path)
        rng = next((m for m in meta if isinstance(m, IntRange)), None)
        if rng and not rng.lo <= value <= rng.hi:
            raise Malformed(path, f"{value} is outside {rng.lo}..={rng.hi}")
        return value
    if hint is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise Malformed(path, f"expected a number, found {_kind(data)}")
        return float(data)
    if hint in (int, str, bool):
        if type(data) is not hint:
            raise Malformed(path, f"expected {_name(hint)}, found {_kind(data)}")
        return data
    if hint is uuid.UUID:
        return _uuid(data, path)
    if hint is bytes:
        return _bytes(data, path)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(data)
        except ValueError:
            allowed = ", ".join(m.value for m in hint)
            raise Malformed(path, f"unknown {hint.__name__} {data!r}; expected one of {allowed}") from None
    if origin is list:
        if not isinstance(data, list):
            raise Malformed(path, f"expected an array, found {_kind(data)}")
        (item,) = get_args(hint)
        return [from_form(v, item, json=json, path=f"{path}[{i}]") for i, v in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise Malformed(path, f"expected a map, found {_kind(data)}")
        key, item = get_args(hint)
        return {
            from_form(k, key, json=json, path=path): from_form(v, item, json=json, path=f"{path}.{k}")
            for k, v in data.items()
        }
    if isinstance(hint, type) and issubclass(hint, TaggedUnion):
        return _union_from_form(data, hint, json=json, path=path)
    if dataclasses.is_dataclass(hint):
        return _struct_from_form(data, hint, json=json, path=path)
    raise TypeError(f"no wire form for {hint!r}")


def _struct_from_form(data: Any, cls: type, *, json: bool, path: str) -> Any:
    if not isinstance(data, dict):
        raise Malformed(path, f"expected a {cls.__name__} map, found {_kind(data)}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        sub = f"{path}.{field.name}" if path else field.name
        if field.name in data:
            kwargs[field.name] = from_form(data[field.name], hints[field.name], json=json, path=sub)
        elif field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
            continue  # a defaulted field (serde default or Option): readers fill it in
        elif _is_optional(hints[field.name])[0]:
            kwargs[field.name] = None
        else:
            raise Malformed(sub, f"missing required field of {cls.__name__}")
    return cls(**kwargs)


def _union_from_form(data: Any, enum_cls: type, *, json: bool, path: str) -> Any:
    variants: dict[str, type] = enum_cls._variants  # type: ignore[attr-defined]
    if isinstance(data, str):
        cls = variants.get(data)
        if cls is None or dataclasses.fields(cls):
            raise Malformed(path, f"unknown unit variant {data!r} of {enum_cls.__name__}")
        return cls()
    if not isinstance(data, dict) or len(data) != 1:
        raise Malformed(path, f"expected a {enum_cls.__name__} (a variant name or a one-entry map), found {_kind(data)}")
    ((name, content),) = data.items()
    cls = variants.get(name) if isinstance(name, str) else None
    if cls is None:
        known = ", ".join(variants)
        raise Malformed(path, f"unknown variant {name!r} of {enum_cls.__name__}; expected one of {known}")
    sub = f"{path}.{name}" if path else name
    fields = dataclasses.fields(cls)
    if not fields:
        raise Malformed(sub, f"unit variant {name} written as a map")
    if cls._newtype:
        hint = _hints(cls)[fields[0].name]
        return cls(from_form(content, hint, json=json, path=sub))
    return _struct_from_form(content, cls, json=json, path=sub)


def _uuid(data: Any, path: str) -> uuid.UUID:
    try:
        if isinstance(data, bytes) and len(data) == 16:
            return uuid.UUID(bytes=data)
        if isinstance(data, str):
            return uuid.UUID(data)
    except ValueError:
        pass
    raise Malformed(path, f"expected a UUID (16-byte bin or hyphenated string), found {_kind(data)}")


def _bytes(data: Any, path: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, list) and all(type(b) is int and 0 <= b <= 255 for b in data):
        return bytes(data)
    raise Malformed(path, f"expected bytes, found {_kind(data)}")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", repr(hint))


def _kind(data: Any) -> str:
    return {dict: "a map", list: "an array", str: "a string", bytes: "bytes", bool: "a boolean"}.get(
        type(data), type(data).__name__
    )


def pack(data: Any) -> bytes:
    """Plain data as MessagePack, with rmp-serde's choices (bin for bytes, float 64)."""
    return msgpack.packb(data, use_bin_type=True, use_single_float=False)


def unpack(raw: bytes, *, trailing_ok: bool) -> Any:
    """MessagePack bytes as plain data; any problem is :class:`Malformed`."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=max(len(raw), 1))
    try:
        unpacker.feed(raw)
        data = unpacker.unpack()
    except msgpack.OutOfData:
        raise Malformed("", "truncated MessagePack") from None
    except (ValueError, msgpack.UnpackException, UnicodeDecodeError, TypeError) as e:
        raise Malformed("", f"not MessagePack: {e}") from None
    rest = len(raw) - unpacker.tell()
    if rest and not trailing_ok:
        raise Malformed("", f"{rest} bytes after the end of the message")
    return data
