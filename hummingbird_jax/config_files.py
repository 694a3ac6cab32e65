"""Reading config files a user hands us (official LVDM YAMLs): parse failures and ill-typed values
become one :class:`~hummingbird_jax.errors.ConfigError` naming the file, before any model is built."""

from __future__ import annotations

import types
import typing

import yaml

from hummingbird_jax.errors import ConfigError


def read_yaml(path: str) -> dict:
    """The YAML document at ``path`` as a mapping (an empty file gives ``{}``)."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise ConfigError(f"{path}: not valid YAML{line} ({problem})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file (expected a YAML config)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory (expected a YAML config file)") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level, got {type(doc).__name__}")
    return doc


def section(doc: dict, *keys: str) -> dict:
    """``doc[k1][k2]...`` when every level is a mapping, else ``{}``."""
    for key in keys:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc if isinstance(doc, dict) else {}


def check_field_types(cls, values: dict, source: str) -> None:
    """Every value named like a field of the config dataclass ``cls`` has the field's annotated type
    (ints pass for floats, lists for tuples); the first that does not is named with ``source``.
    Checked before ``cls(**values)``, whose own checks assume the types."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if name in hints and not _matches(value, hints[name]):
            raise ConfigError(f"{source}: {name} = {value!r}; expected {_describe(hints[name])}")


def _matches(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is tuple:
        items = args[:1] if len(args) == 2 and args[1] is Ellipsis else args
        return isinstance(value, (tuple, list)) and all(_matches(v, items[0] if len(items) == 1 else t)
                                                for v, t in zip(value, items * len(value)))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")
