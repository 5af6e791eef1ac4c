"""Generate a whole synthetic dataset in RHD's or STB's layout, in parallel, atomically.

Every sample draws from its own generator seeded by ``(seed, split, index)``, so the files are
byte-identical for a seed whatever the number of workers. The dataset is written into a hidden
sibling folder ``.<name>.partial-<pid>`` and renamed to its final name only when complete; an
existing non-empty output folder is replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import shutil
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import yaml

from handvae.data.formats import STB_IMAGE_SIZE, STB_SK_COLOR_K
from handvae.errors import UserError
from handvae.synth import writers as wr
from handvae.synth.scene import SceneOptions, SceneSample, make_scene

SPLIT_IDS = {"training": 0, "evaluation": 1, "train": 0, "test": 1}
CHUNK = 8  # samples per parallel task


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one sample: a function of (seed, split, index) only."""
    return np.random.default_rng([int(seed), SPLIT_IDS[split], int(index)])


def scene_options(fmt: str, size: int = 320, world: dict[str, str] | None = None) -> SceneOptions:
    """World settings per format: RHD images are size x size with random intrinsics; STB frames
    are 640x480 with the SK colour intrinsics and a single left hand. ``world`` overrides
    :class:`SceneOptions` fields by name (values as strings, converted to the field's type), for
    example ``{"hand_model": "capsule", "p_front_occluder": "0"}``."""
    if fmt == "rhd":
        opt = SceneOptions(width=size, height=size)
    elif fmt == "stb":
        w, h = STB_IMAGE_SIZE
        opt = SceneOptions(width=w, height=h, K=STB_SK_COLOR_K.copy(), p_second_hand=0.0, main_side="left")
    else:
        raise UserError(f"--format must be 'rhd' or 'stb', got {fmt!r}")
    return replace(opt, **_world_overrides(opt, world or {}))


def _world_overrides(opt: SceneOptions, world: dict[str, str]) -> dict[str, object]:
    names = {f.name for f in fields(SceneOptions)} - {"width", "height", "K"}
    out: dict[str, object] = {}
    for key, text in world.items():
        if key not in names:
            raise UserError(f"--world {key}={text}: unknown world option; expected one of {', '.join(sorted(names))}")
        old = getattr(opt, key)
        try:
            if isinstance(old, bool):
                if str(text).lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                out[key] = str(text).lower() in ("true", "1", "yes")
            elif isinstance(old, tuple):
                out[key] = tuple(float(x) for x in str(text).split(","))
            elif isinstance(old, float):
                out[key] = float(text)
            else:
                out[key] = None if text in ("none", "None", "") and key == "main_side" else str(text)
        except ValueError:
            raise UserError(f"--world {key}={text}: expected a value like {old!r}") from None
    for key, allowed in (("hand_model", ("mesh", "capsule")), ("pose_sampler", ("natural", "uniform"))):
        if out.get(key, getattr(opt, key)) not in allowed:
            raise UserError(f"--world {key}={out[key]}: expected one of {', '.join(allowed)}")
    return out


def make_sample(seed: int, split: str, index: int, opt: SceneOptions) -> SceneSample:
    return make_scene(sample_rng(seed, split, index), opt)


@dataclass
class _Task:
    fmt: str
    root: str
    split: str
    indices: tuple[int, ...]
    seed: int
    opt: SceneOptions
    seq: str = ""
    first: int = 0  # global index of the sequence's frame 0 (STB)


def _run_task(task: _Task) -> list:
    out = []
    root = Path(task.root)
    for i in task.indices:
        s = make_sample(task.seed, task.split, i, task.opt)
        if task.fmt == "rhd":
            out.append((i, wr.write_rhd_sample(root / task.split, i, s)))
        else:
            out.append((i, wr.write_stb_frame(root / "images" / task.seq, i - task.first, s)))
    return out


def _tasks(fmt, root, n_train, n_test, seed, opt) -> list[_Task]:
    tasks = []
    if fmt == "rhd":
        for split, n in zip(wr.RHD_SPLITS, (n_train, n_test)):
            wr.rhd_dirs(root / split)
            for a in range(0, n, CHUNK):
                tasks.append(_Task(fmt, str(root), split, tuple(range(a, min(n, a + CHUNK))), seed, opt))
    else:
        (root / "labels").mkdir(parents=True, exist_ok=True)
        for seq, split, first, count in wr.stb_plan(n_train, n_test):
            (root / "images" / seq).mkdir(parents=True, exist_ok=True)
            for a in range(first, first + count, CHUNK):
                idx = tuple(range(a, min(first + count, a + CHUNK)))
                tasks.append(_Task(fmt, str(root), split, idx, seed, opt, seq=seq, first=first))
    return tasks


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"--out {out}: folder is not empty (holds a dataset?); pass --overwrite to replace it")


def synth_config(fmt: str, n_train: int, n_test: int, seed: int, size: int, opt: SceneOptions) -> dict:
    """What ``synth_config.yaml`` records of a dataset: everything its files depend on (not ``workers``),
    as plain YAML values."""
    scene = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(opt).items()}
    cfg = {"format": fmt, "train": n_train, "test": n_test, "seed": seed, "size": size, "scene": scene}
    return yaml.safe_load(yaml.safe_dump(cfg))


def generate_dataset(
    fmt: str,
    out: str | Path,
    n_train: int,
    n_test: int,
    seed: int = 0,
    workers: int = 1,
    overwrite: bool = False,
    size: int = 320,
    progress: bool = False,
    world: dict[str, str] | None = None,
) -> Path:
    """Write a dataset to ``out`` (see module doc); returns the final path."""
    out = Path(out)
    if n_train < 0 or n_test < 0:
        raise UserError(f"--train/--test must be >= 0, got {n_train}/{n_test}")
    if workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    if fmt == "rhd" and size < 32:
        raise UserError(f"--size must be >= 32, got {size}")
    _check_out(out, overwrite)
    opt = scene_options(fmt, size, world)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        tasks = _tasks(fmt, tmp, n_train, n_test, seed, opt)
        records = _render_all(tasks, fmt, workers, n_train + n_test if progress else 0)
        _write_labels(fmt, tmp, records, n_train, n_test)
        (tmp / "synth_config.yaml").write_text(yaml.safe_dump(synth_config(fmt, n_train, n_test, seed, size, opt),
                                                              sort_keys=True))  # fmt: skip
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _render_all(tasks: list[_Task], fmt: str, workers: int, progress_total: int) -> dict[str, dict[int, object]]:
    """Run every task (in a pool of ``workers`` processes when > 1); returns the label records per
    split (RHD) or sequence (STB). ``progress_total`` > 0 shows a progress bar."""
    records: dict[str, dict[int, object]] = {}
    bar = None
    if progress_total:
        from tqdm import tqdm

        bar = tqdm(total=progress_total, unit="sample", desc=f"synth {fmt}")
    pool = mp.get_context("fork").Pool(workers) if workers > 1 else None
    results = pool.imap(_run_task, tasks) if pool is not None else map(_run_task, tasks)
    try:
        for task, res in zip(tasks, results):
            records.setdefault(task.split if fmt == "rhd" else task.seq, {}).update(res)
            if bar is not None:
                bar.update(len(res))
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        if bar is not None:
            bar.close()
    return records


def _publish(tmp: Path, out: Path) -> None:
    """Rename the complete dataset ``tmp`` to ``out``, replacing (then deleting) an old one."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)


def _write_labels(fmt, root: Path, records, n_train, n_test) -> None:
    if fmt == "rhd":
        for split in wr.RHD_SPLITS:
            anno = {int(i): records.get(split, {})[i] for i in sorted(records.get(split, {}))}
            with open(root / split / f"anno_{split}.pickle", "wb") as fh:
                pickle.dump(anno, fh, protocol=4)
        return
    for seq, _split, first, count in wr.stb_plan(n_train, n_test):
        rec = records[seq]
        para = np.stack([rec[first + k] for k in range(count)], axis=-1)  # (21, 3, N)
        (root / "labels" / f"{seq}_SK.mat").write_bytes(wr.mat_bytes(para.transpose(1, 0, 2)))


def preview_samples(fmt: str, n: int, seed: int = 0, size: int = 320,
                    world: dict[str, str] | None = None) -> list[SceneSample]:  # fmt: skip
    """``n`` training samples exactly as :func:`generate_dataset` would draw them."""
    opt = scene_options(fmt, size, world)
    return [make_sample(seed, "training" if fmt == "rhd" else "train", i, replace(opt)) for i in range(n)]
