"""A restricted unpickler for dataset annotation pickles (RHD's ``anno_*.pickle``).

Only what such a pickle holds is allowed: the built-in containers and scalars (dict, list,
tuple, int, float, str, bytes, bool, None; these need no global lookup) and numpy arrays of
numeric dtypes. Every other global (``os.system``, ``builtins.eval``, any class) is refused with
:class:`UnsafePickleError` before it can be called, and arrays of dtype ``object`` are refused.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for something outside the allowed set."""


def _safe_dtype(*args: Any, **kwargs: Any) -> np.dtype:
    dt = np.dtype(*args, **kwargs)
    if dt.hasobject:
        raise UnsafePickleError("numpy arrays of dtype object are not allowed")
    return dt


def _multiarray() -> Any:
    """numpy's private multiarray module (``numpy._core`` in numpy 2, ``numpy.core`` before)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    return multiarray


def _allowed() -> dict[tuple[str, str], Any]:
    old_ma = _multiarray()

    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _safe_dtype,
        ("_codecs", "encode"): _codecs_encode,  # protocol <= 2 pickles of bytes
    }
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = old_ma._reconstruct
        allowed[(mod, "scalar")] = _safe_scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = _safe_frombuffer
    return allowed


def _codecs_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafePickleError(f"_codecs.encode with {type(obj).__name__}/{encoding!r} is not allowed")
    return obj.encode(encoding, errors)


def _safe_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("numpy scalars must have a numeric dtype")
    return _multiarray().scalar(dtype, data)


def _safe_frombuffer(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.hasobject:
        raise UnsafePickleError("numpy arrays of dtype object are not allowed")
    arr = np.frombuffer(buf, dtype=dt)
    if order == "F":
        return arr.reshape(shape[::-1]).T
    return arr.reshape(shape)


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only the numpy array machinery."""

    def find_class(self, module: str, name: str) -> Any:
        fn = _allowed().get((module, name))
        if fn is None:
            raise UnsafePickleError(f"refusing to load global {module}.{name} from a pickle")
        return fn


def _check_tree(obj: Any, depth: int = 0) -> None:
    if depth > 64:
        raise UnsafePickleError("pickle nested too deeply")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_tree(k, depth + 1)
            _check_tree(v, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_tree(v, depth + 1)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise UnsafePickleError("numpy arrays of dtype object are not allowed")
    elif not isinstance(obj, (int, float, str, bytes, bool, type(None), np.generic)):
        raise UnsafePickleError(f"unexpected object of type {type(obj).__name__} in pickle")


def safe_loads(data: bytes) -> Any:
    """Unpickle ``data`` with the restricted unpickler (latin1 for Python-2 pickles)."""
    obj = RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    _check_tree(obj)
    return obj


def safe_load(path: str | Path) -> Any:
    """Read a pickle file through :class:`RestrictedUnpickler`."""
    return safe_loads(Path(path).read_bytes())
