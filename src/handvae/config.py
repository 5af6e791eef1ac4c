"""Configs: dataclasses loaded from YAML and merged with dotted command-line overrides.

``load_config(Config, "configs/s4.yaml", ["trainer.lr=1e-4"])`` returns a typed, validated
instance. An unknown key or a value of the wrong type raises :class:`ConfigError`, naming the
key and listing the valid ones. :func:`save_config` writes the resolved config atomically.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from handvae.files import atomic_write_text

T = TypeVar("T")


class ConfigError(ValueError):
    """A config key or value that does not fit the schema."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


_YAML_BOOLS = {False: ("off", "no", "false"), True: ("on", "yes", "true")}


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert ``value`` to annotation ``tp``; raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, tp, key)
    if origin is typing.Literal:
        if isinstance(value, bool):  # YAML 1.1 reads off/on/no/yes as booleans: `trainer.amp=off` means "off"
            value = next((a for a in args if isinstance(a, str) and a.lower() in _YAML_BOOLS[value]), value)
        if value not in args:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping for section {tp.__name__}, got {value!r}")
        return _build(tp, value, prefix=key + ".")
    if origin in (list, tuple):
        return _coerce_sequence(value, origin, args, key)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    return _coerce_scalar(value, tp, key)


def _coerce_union(value: Any, tp: Any, key: str) -> Any:
    """The first member of the union ``tp`` that accepts ``value`` (None only where the union allows it)."""
    args = typing.get_args(tp)
    if value is None and type(None) in args:
        return None
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _coerce(value, arg, key)
        except ConfigError:
            continue
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")


def _coerce_sequence(value: Any, origin: Any, args: tuple, key: str) -> list | tuple:
    """``list[X]``, ``tuple[X, ...]`` or a fixed-length ``tuple[X, Y]``: each item coerced, named by index."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    inner = args[0] if args else Any
    seq = [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    return tuple(seq) if origin is tuple else seq


def _coerce_scalar(value: Any, tp: Any, key: str) -> Any:
    """bool, int (whole floats accepted), float (ints accepted) and str, strictly; other types pass through."""
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected bool (true/false), got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected int, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected float, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected str, got {value!r}")
    return value


def _build(cls: type[T], data: dict, prefix: str = "") -> T:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        if name not in fields:
            raise ConfigError(
                f"unknown config key '{prefix}{name}'; valid keys of {prefix.rstrip('.') or 'the config'}: "
                f"{', '.join(sorted(fields))}"
            )
        kwargs[name] = _coerce(value, hints[name], prefix + name)
    return cls(**kwargs)


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"trainer.lr=1e-4"`` -> (["trainer", "lr"], 1e-4); values are parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override {text!r} has an empty key part")
    value = yaml.safe_load(raw) if raw.strip() else ""
    # YAML reads "1e-4" as a string; accept float-looking strings as floats.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value.lower() for c in ".e") else value
        except ValueError:
            pass
    return parts, value


def to_dict(cfg: Any) -> dict:
    """Plain nested dict (tuples as lists) of a config dataclass."""

    def conv(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(dataclasses.asdict(cfg))


def load_config(cls: type[T], path: str | os.PathLike | None = None, overrides: list[str] | tuple = ()) -> T:
    """Defaults of ``cls`` <- YAML file ``path`` (optional) <- dotted ``overrides``.

    A YAML file may name ``base: other.yaml`` or a list ``base: [a.yaml, b.yaml]`` (relative to
    itself) to inherit from: the bases are merged in order (a later one wins), then the file itself.
    """
    data: dict = {}
    if path is not None:
        data = _read_yaml(Path(path))
    for text in overrides:
        parts, value = parse_override(text)
        nested: Any = value
        for part in reversed(parts):
            nested = {part: nested}
        data = _merge(data, nested)
    return _build(cls, data)


def packaged_configs_dir() -> Path:
    """The configs shipped inside the package (``handvae/configs``; the repository's ``configs/``
    links to it)."""
    from importlib import resources

    return Path(str(resources.files("handvae").joinpath("configs")))


def resolve_config(name: str | os.PathLike) -> Path:
    """A config file: ``name`` itself when it is a file, else a packaged config by name, such as
    ``s4``, ``cpu/s4`` or ``release/s4`` (``.yaml`` optional). ConfigError listing the names otherwise."""
    path = Path(name)
    if path.is_file():
        return path
    root = packaged_configs_dir()
    cand = root / (str(name) if str(name).endswith(".yaml") else f"{name}.yaml")
    if cand.is_file():
        return cand
    names = sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml") if not p.name.startswith("_"))
    raise ConfigError(f"config {name}: no such file, and no packaged config of that name; packaged: {', '.join(names)}")


def config_from_dict(cls: type[T], data: dict) -> T:
    """Build and validate ``cls`` from a plain nested dict (e.g. one saved in a checkpoint)."""
    return _build(cls, data)


def _read_yaml(path: Path, _seen: tuple = ()) -> dict:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.resolve() in _seen:
        raise ConfigError(f"config file {path} inherits from itself")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    base = data.pop("base", None)
    bases = [base] if isinstance(base, str) else base or []
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"config file {path}: 'base' must be a file name or a list of file names, got {base!r}")
    merged: dict = {}
    for name in bases:
        merged = _merge(merged, _read_yaml(path.parent / name, _seen + (path.resolve(),)))
    return _merge(merged, data)


def save_config(cfg: Any, path: str | os.PathLike) -> None:
    """Save the resolved config as YAML (atomically)."""
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
