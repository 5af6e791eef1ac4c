"""tools/gpu_train.sh across leases, dry-run on the CPU: a run stopped in one "lease" and resumed in the next
(which renders the world again, FROM=) ends with the same weights as the same run left uninterrupted, and a
run is not resumed onto a world whose training split differs from the one it trained on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from handvae.checkpoint import read_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_train.sh"
STEPS = 80
# a tiny world and run on the CPU: 60 + 4 scenes at seed 0, 8 more at seed 1, 12 held out, batch 8
TINY = {"DEV": "cpu", "N0": "60", "TEST": "4", "EXTRA": "8", "HOLDOUT": "12", "BATCH": "8", "WORKERS": "2",
        "STEPS": str(STEPS), "KEEP_LAST": "1", "PYTHON": sys.executable}


def lease(out: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **TINY, "OUT": str(out), "SET": "trainer.lr=0.001", **env}
    return subprocess.run(["bash", str(SCRIPT)], env=full, capture_output=True, text=True, timeout=300)


def unpack(out: Path, into: Path) -> Path:
    """What the next lease carries (the commands of docs/LEARNING.md section 5): the run's files and its last
    checkpoint joined from its parts."""
    with tarfile.open(out / "run_files.tar") as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("run/") and ".." not in m.name]
        for m in members:
            (into / m.name).parent.mkdir(parents=True, exist_ok=True)
            (into / m.name).write_bytes(tar.extractfile(m).read())
    (into / "run" / "checkpoints").mkdir(parents=True)
    for name in ("last", "best"):
        parts = sorted((out / "run" / "checkpoints").glob(f"{name}.part*"))
        assert parts, f"{out}: no {name}.part* came back"
        (into / "run" / "checkpoints" / f"{name}.safetensors").write_bytes(b"".join(p.read_bytes() for p in parts))
    return into


def forget_run(work: Path) -> None:
    """Keep a work folder's rendered world, drop its run: the next call renders nothing and starts afresh."""
    shutil.rmtree(work / "run")
    (work / "plan.txt").unlink()


def last_step(folder: Path) -> int:
    return read_checkpoint(folder / "run" / "checkpoints" / "last.safetensors")[1]["state"]["step"]


def model_tensors(folder: Path) -> dict[str, torch.Tensor]:
    tensors, _ = read_checkpoint(folder / "run" / "checkpoints" / "last.safetensors")
    return {k: v for k, v in tensors.items() if k.startswith("model.")}


@pytest.mark.slow  # ~45 s (two renders of a tiny world, four calls of the script); `pytest -m slow`
def test_a_run_resumed_in_the_next_lease_ends_as_if_uninterrupted(tmp_path):
    w1, w2 = tmp_path / "w1", tmp_path / "w2"
    whole = lease(tmp_path / "whole", WORK=str(w1))
    assert whole.returncode == 0, whole.stderr + whole.stdout
    forget_run(w1)
    # the first lease stops on its time limit (the SET below comes after the script's own), long before STEPS
    first = lease(tmp_path / "first", WORK=str(w1), SET="trainer.lr=0.001 trainer.max_minutes=0.005")
    assert first.returncode == 0, first.stderr + first.stdout
    carried = unpack(tmp_path / "first", tmp_path / "carried")
    stopped = last_step(carried)
    assert 0 < stopped < STEPS, stopped  # else this machine trained all steps within the limit: nothing resumed
    # the next lease renders the world again (a new work folder) and resumes the carried run
    second = lease(tmp_path / "second", WORK=str(w2), FROM=str(carried))
    assert second.returncode == 0, second.stderr + second.stdout
    steps = (tmp_path / "second" / "steps.txt").read_text()
    assert "render" in steps and "adopted the run" in steps and "resume configs/gpu/s1.yaml at" in steps
    got = model_tensors(unpack(tmp_path / "second", tmp_path / "got"))
    want = model_tensors(unpack(tmp_path / "whole", tmp_path / "want"))
    assert last_step(tmp_path / "got") == last_step(tmp_path / "want") == STEPS
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k

    # the same run offered to a world whose training split differs: refused, nothing trained
    forget_run(w2)
    manifest = carried / "run" / "train_manifest.json"
    doc = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(dict(doc, checksum="0" * 64)))
    refused = lease(tmp_path / "refused", WORK=str(w2), FROM=str(carried))
    assert refused.returncode == 1
    assert "not resumed" in (tmp_path / "refused" / "steps.txt").read_text()
    assert not (w2 / "run").exists()
