"""The one file-writing module: a failed write leaves the previous file and no temporary behind."""

import os

import pytest

from handvae.files import atomic_path, atomic_write_text


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
