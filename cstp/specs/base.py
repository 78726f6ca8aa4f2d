"""Typed, hashable specs built from plain dicts (YAML/JSON), with one-line errors naming the key.

Every run the harness does is described by a frozen dataclass tree (`cstp.specs.*`); `from_dict`
validates a config section against it (unknown keys, wrong types, values outside a field's
`choices`) and `spec_hash` names the run folder from the canonical JSON of its content, so equal
specs are one job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import operator
import re
import types
import typing
from typing import Any, TypeVar

from cstp.errors import CstpError

T = TypeVar("T")
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def field(
    default: Any,
    doc: str = "",
    choices: tuple | None = None,
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
) -> Any:
    """A dataclass field with a one-line description and, optionally, the values it allows: a set
    of `choices`, or a range of numbers (checked on every item of a tuple; None is not checked)."""
    bounds = {"at_least": at_least, "above": above, "at_most": at_most, "below": below}
    bounds = {name: bound for name, bound in bounds.items() if bound is not None}
    metadata = {"doc": doc, "choices": choices, "range": bounds}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


_BOUNDS = {  # field() keyword: (how the error writes it, the test a value passes)
    "at_least": (">=", operator.ge),
    "above": (">", operator.gt),
    "at_most": ("<=", operator.le),
    "below": ("<", operator.lt),
}


def out_of_range(value: Any, bounds: dict[str, float]) -> str | None:
    """The range `value` (or an item of a tuple) falls outside of, as '>= 1', or None."""
    items = value if isinstance(value, tuple) else (value,)
    numbers = [v for v in items if isinstance(v, int | float) and not isinstance(v, bool)]
    if all(_BOUNDS[name][1](v, bound) for v in numbers for name, bound in bounds.items()):
        return None
    return " and ".join(f"{_BOUNDS[name][0]} {bound}" for name, bound in bounds.items())


def from_dict(cls: type[T], data: dict | None, where: str = "") -> T:
    """Build `cls` from `data`, filling defaults; CstpError naming `where.key` on bad input."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise CstpError(f"{where or cls.__name__}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise CstpError(
            f"{_key(where, unknown[0])}: unknown key; allowed: {', '.join(sorted(fields))}"
        )
    values = {}
    for name, value in data.items():
        key = _key(where, name)
        default = fields[name].default
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            # A partial nested mapping overrides the field's own default, not the class defaults.
            value = _merge(to_dict(default), value)
        values[name] = _convert(hints[name], value, key)
        choices = fields[name].metadata.get("choices")
        if choices is not None and values[name] not in choices:
            raise CstpError(f"{key}: {value!r} is not one of {', '.join(map(str, choices))}")
        wanted = out_of_range(values[name], fields[name].metadata.get("range") or {})
        if wanted:
            raise CstpError(f"{key}: {value!r} is out of range; expected {wanted}")
    try:
        obj = cls(**values)
    except (ValueError, TypeError) as err:
        raise CstpError(f"{where or cls.__name__}: {err}") from None
    return obj


def to_dict(spec: Any) -> Any:
    """The plain-data form of a spec (tuples become lists), the inverse of `from_dict`."""
    if dataclasses.is_dataclass(spec):
        return {f.name: to_dict(getattr(spec, f.name)) for f in dataclasses.fields(spec)}
    if isinstance(spec, tuple | list):
        return [to_dict(v) for v in spec]
    if isinstance(spec, dict):
        return {k: to_dict(v) for k, v in spec.items()}
    return spec


def spec_json(spec: Any) -> str:
    """A spec as the JSON text of its run folder's spec.json (sorted keys, one key a line)."""
    return json.dumps(to_dict(spec), sort_keys=True, indent=1) + "\n"


def spec_hash(spec: Any, length: int = 10) -> str:
    """A short content hash of a spec: equal content, equal hash, whatever built it."""
    text = json.dumps(to_dict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = _merge(merged[key], value)
        merged[key] = value
    return merged


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, key)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(option, value, key)
            except CstpError as err:
                errors.append(str(err))
        raise CstpError(errors[0])
    if origin is tuple:
        return _convert_tuple(hint, value, key)
    if origin is dict:
        if not isinstance(value, dict):
            raise CstpError(f"{key}: expected a mapping, got {value!r}")
        item = typing.get_args(hint)[1]
        return {str(k): _convert(item, v, _key(key, str(k))) for k, v in value.items()}
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return _finite(float(value), value, key)
    if hint is float and isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
    if hint in (int, str, bool) and type(value) is hint:
        return value
    if typing.get_origin(hint) is typing.Literal and value in typing.get_args(hint):
        return value
    expected = getattr(hint, "__name__", str(hint))
    raise CstpError(f"{key}: expected {expected}, got {value!r}")


def _finite(number: float, value: Any, key: str) -> float:
    """No setting of a spec means anything at NaN or infinity (YAML `.nan`, `.inf`)."""
    if not math.isfinite(number):
        raise CstpError(f"{key}: expected a finite number, got {value!r}")
    return number


def _convert_tuple(hint: Any, value: Any, key: str) -> tuple:
    args = typing.get_args(hint)
    if not isinstance(value, list | tuple):
        raise CstpError(f"{key}: expected a list, got {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise CstpError(f"{key}: expected {len(args)} values, got {value!r}")
    return tuple(
        _convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
    )
