"""The one file-writing module: a failed write leaves the previous file and no temporary behind."""

import os
import time

import numpy as np
import pytest

from handvae.files import atomic_path, atomic_write_npz, atomic_write_text


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(os.listdir(target.parent)) == ["out.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_text("previous")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            assert tmp.parent == target.parent and tmp.suffix == target.suffix and tmp != target
            tmp.write_text("half writ")
            raise RuntimeError("disk full")
    assert target.read_text() == "previous"
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors"]


def test_npz_is_deterministic_readable_and_refuses_pickles(tmp_path):
    arrays = {"vertices": np.arange(12, dtype=np.float32).reshape(4, 3), "names": np.array(["wrist.R", "f1"])}
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    atomic_write_npz(a, arrays)
    time.sleep(1.1)  # a zip member stamped with the clock would now differ
    atomic_write_npz(b, arrays)
    assert a.read_bytes() == b.read_bytes()
    with np.load(a, allow_pickle=False) as z:
        assert z.files == ["vertices", "names"]
        assert np.array_equal(z["vertices"], arrays["vertices"]) and list(z["names"]) == ["wrist.R", "f1"]
    with pytest.raises(ValueError, match="allow_pickle"):
        atomic_write_npz(a, {"bad": np.array([{"x": 1}], dtype=object)})
    assert a.read_bytes() == b.read_bytes()  # the previous file is untouched
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npz"]
