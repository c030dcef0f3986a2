"""Frozen-dataclass configs: one place for defaults, strict parsing from JSON.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class C:
...     size: int = 2
...     name: str = "x"
>>> from_dict(C, {"size": 3})
C(size=3, name='x')
>>> from_dict(C, {"sise": 3})
Traceback (most recent call last):
...
rnnkit.errors.RnnkitError: unknown C key(s): sise
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from .errors import RnnkitError

T = TypeVar("T")


def _check_type(cls_name: str, name: str, value: Any, annotation: Any) -> Any:
    if annotation is Any:
        return value
    if value is None:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise RnnkitError(f"{cls_name}.{name} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RnnkitError(f"{cls_name}.{name} must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RnnkitError(f"{cls_name}.{name} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise RnnkitError(f"{cls_name}.{name} must be a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build the frozen dataclass ``cls`` from ``data``; unknown keys and wrong types are errors."""
    if not isinstance(data, dict):
        raise RnnkitError(f"{cls.__name__} must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RnnkitError(f"unknown {cls.__name__} key(s): {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        hint = hints.get(name, Any)
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        base = args[0] if len(args) == 1 else hint
        kwargs[name] = _check_type(cls.__name__, name, value, base)
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """The JSON-ready dict of a config dataclass."""
    return dataclasses.asdict(obj)
