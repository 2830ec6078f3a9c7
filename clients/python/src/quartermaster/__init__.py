"""Quartermaster's Python client for workloads.

- :mod:`quartermaster.model`: the message types, as in ``schemas/``.
- :mod:`quartermaster.codec`: envelopes and bare values to and from MessagePack and JSON.
- :mod:`quartermaster.client`: declare, resize and finish demand, report usage, over NATS.
- :mod:`quartermaster.grants`: a workload's grant, folded from actuation reports.
- :mod:`quartermaster.usage`: busy fraction from step times or NVML, reported in windows.
"""

from .codec import SCHEMA_VERSION, TypeMismatch, UnsupportedVersion, decode, decode_value, encode, encode_value
from .wire import DecodeError, Malformed

__all__ = [
    "SCHEMA_VERSION",
    "DecodeError",
    "Malformed",
    "TypeMismatch",
    "UnsupportedVersion",
    "decode",
    "decode_value",
    "encode",
    "encode_value",
]
