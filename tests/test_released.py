"""Released models: the RGB -> pose path in safetensors, loading with clear errors, predict / evaluate /
export-onnx by name, and the benchmarks that use them (``--hand auto``: tests/test_hand_auto.py; the
fixtures ``run_dir``, ``released``, ``released_env``: tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from _data_fixtures import crop_photo
from conftest import load_script
from handvae.cli import main
from handvae.errors import UserError
from handvae.models.released import (
    ENV_DIR,
    POSE_PATH_PREFIXES,
    load_released_file,
    read_release,
    reference_input,
    released_models,
)

S = 32  # the tiny model's crop size
# float16 keeps 11 significant bits: every stored value is off by at most 2^-11 (relative). To first order
# the pose's error is bounded by the sum of those relative errors over the ~20 weight layers of the path
# (ResNet-18 convolutions, BatchNorms, heads, the pose MLP), times the output's scale: 20 * 2^-11 ~ 1 %.
FP16_RELATIVE_TOLERANCE = 20 * 2.0**-11


def full_model_outputs(run) -> np.ndarray:
    """The original model's RGB -> pose on the reference input, from the training checkpoint."""
    from handvae.models.load import load_model

    model, _, _ = load_model(run)
    with torch.no_grad():
        return model.predict_pose(reference_input(S)).numpy()


def tensors_and_metadata(path):
    with safe_open(str(path), framework="pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata())


# --- (a) what the file holds -------------------------------------------------------------------------------
def test_the_file_holds_only_the_rgb_to_pose_path(released, run_dir):
    from handvae.models.load import load_model

    ckpt = run_dir / "checkpoints" / "best.safetensors"
    full, _, _ = load_model(run_dir)
    want = {k: v.shape for k, v in full.state_dict().items() if k.startswith(POSE_PATH_PREFIXES)}
    for dtype, path in released.items():
        tensors, _ = tensors_and_metadata(path)
        assert {k: v.shape for k, v in tensors.items()} == want  # every R encoder and P decoder tensor, nothing else
        assert {k.split(".")[1] for k in tensors} == {"R", "P"}
        floats = {v.dtype for v in tensors.values() if v.is_floating_point()}
        assert floats == {getattr(torch, dtype)}
        assert path.stat().st_size < ckpt.stat().st_size / 2
    assert released["float16"].stat().st_size < 0.6 * released["float32"].stat().st_size


def test_metadata(released, run_dir, tiny_cache):
    from handvae.checkpoint import read_checkpoint

    _, meta = read_release(released["float16"])

    state = read_checkpoint(run_dir / "checkpoints" / "best.safetensors")[1]["state"]
    assert meta["config"] == state["config"] and meta["name"] == "s4h" and meta["dtype"] == "float16"
    assert meta["hands"] == "right" and meta["commit"] and meta["training_commit"]
    assert meta["training_data"]["cache"] == str(tiny_cache)
    assert meta["training_data"]["manifest"]["count"] == 96 and meta["training_data"]["manifest"]["mirror"] == "left"
    assert meta["training_data"]["note"] == "tiny world, seed 0"  # --data-note, given to this export only
    assert "note" not in read_release(released["float32"])[1]["training_data"]
    evaluated = json.loads((run_dir / "eval_test" / "metrics.json").read_text())["s4"]
    assert meta["metrics"]["eval_test"]["s4"]["mean_epe_mm"] == evaluated["mean_epe_mm"]
    assert meta["metrics"]["eval_test"]["s4"]["pa_epe_mm"] == evaluated["pa"]["mean_epe_mm"]
    assert meta["metrics"]["checkpoint"]["best_val_epe_mm"] == state["best_epe_mm"]
    assert np.asarray(meta["recorded_outputs"]).shape == (2, 21, 3)


# --- (b) recorded outputs ----------------------------------------------------------------------------------
def test_float32_weights_reproduce_the_recorded_and_the_original_outputs_exactly(released, run_dir):
    model, _, meta = load_released_file(released["float32"], verify=False)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        got = model.predict_pose(reference_input(S)).numpy()
    original = full_model_outputs(run_dir)
    np.testing.assert_array_equal(got, np.asarray(meta["recorded_outputs"], np.float32))
    np.testing.assert_array_equal(got, original)
    assert np.ptp(original, axis=0).max() > 1e-3  # the two reference images give different poses


def test_float16_weights_load_as_float32_and_stay_within_rounding(released, run_dir):
    model, _, meta = load_released_file(released["float16"], verify=False)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        got = model.predict_pose(reference_input(S)).numpy()
    np.testing.assert_array_equal(got, np.asarray(meta["recorded_outputs"], np.float32))
    original = full_model_outputs(run_dir)
    np.testing.assert_array_equal(np.asarray(meta["fp32_outputs"], np.float32), original)
    gap = np.abs(got - original).max()
    assert 0 < gap <= FP16_RELATIVE_TOLERANCE * np.abs(original).max()  # rounded, and only by rounding


# --- (c) bad files -----------------------------------------------------------------------------------------
def test_a_truncated_file_is_a_user_error_naming_it(released, tmp_path):
    data = released["float32"].read_bytes()
    for cut in (len(data) // 2, 40, 4):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(UserError, match="truncated or corrupt") as err:
            load_released_file(bad)
        assert str(bad) in str(err.value)


def rewrite(src, dst, edit_tensors=None, edit_meta=None) -> Path:
    tensors, meta = tensors_and_metadata(src)
    if edit_tensors:
        edit_tensors(tensors)
    if edit_meta:
        edit_meta(meta)
    save_file(tensors, str(dst), metadata=meta)
    return dst


@pytest.mark.parametrize(("case", "needles"), [
    ("missing tensor", ["do not fit", "missing ['decoders.P"]),
    ("extra tensor", ["do not fit", "unexpected ['encoders.C.head.mu.weight']"]),
    ("wrong shape", ["do not fit", "decoders.P.", "(5, 5) (expected"]),
    ("other config", ["do not fit", "rgb_width 16", "wrong shapes ['encoders.R"]),
    ("corrupt values", ["do not reproduce the outputs recorded"]),
    ("a checkpoint", ["metadata format None", "handvae-released-1"]),
])
def test_tensors_that_do_not_fit_are_user_errors_naming_the_file(released, tmp_path, case, needles):
    path = tmp_path / "bad.safetensors"

    def tensors_edit(t):
        if case == "missing tensor":
            del t[next(k for k in sorted(t) if k.startswith("decoders.P"))]
        elif case == "extra tensor":
            t["encoders.C.head.mu.weight"] = torch.zeros(4, 4)
        elif case == "wrong shape":
            t[next(k for k in sorted(t) if k.startswith("decoders.P") and t[k].ndim == 2)] = torch.zeros(5, 5)
        elif case == "corrupt values":
            key = next(k for k in sorted(t) if k.startswith("encoders.R.head.mu.weight"))
            t[key] = t[key] * 1.5

    def meta_edit(m):
        if case == "other config":
            cfg = json.loads(m["config"])
            cfg["model"]["rgb_width"] = 16
            m["config"] = json.dumps(cfg)
        if case == "a checkpoint":
            del m["format"]

    rewrite(released["float32"], path, tensors_edit, meta_edit)
    with pytest.raises(UserError) as err:
        load_released_file(path)
    message = str(err.value)
    assert message.startswith(str(path)) and all(n in message for n in needles), message


def test_unknown_and_missing_models(released_env, tmp_path, monkeypatch, capsys):
    from handvae.models.released import load_released, released_path

    assert set(released_models()) == {"s4", "s4h"}
    with pytest.raises(UserError, match=r"no released model 'nope' in .*; available: s4, s4h"):
        load_released("nope")
    with pytest.raises(UserError, match="no such released model file"):
        load_released_file(tmp_path / "gone.safetensors")
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "empty"))
    with pytest.raises(UserError, match="no released model is installed"):
        released_path("s4")


# --- (d) the verbs by name ---------------------------------------------------------------------------------
@pytest.mark.parametrize("how", [["--model", "s4"], []])
def test_predict_with_a_released_model(released_env, run_dir, tiny_cache, tmp_path, how):
    photo, _ = crop_photo(tiny_cache, tmp_path / "in")
    out = tmp_path / "out"
    assert main(["predict", str(photo), *how, "--out", str(out), "--no-progress"]) == 0
    rec = json.loads((out / "photo1.json").read_text())
    assert rec["model"]["released"] == "s4" and rec["model"]["checkpoint"] == str(released_env["float32"])
    for suffix in ("_overlay.png", "_3d.png", "_crop.png"):
        assert (out / f"photo1{suffix}").stat().st_size > 0
    assert main(["predict", str(photo), "--checkpoint", str(run_dir), "--out", str(tmp_path / "ref"),
                 "--no-progress"]) == 0
    ref = json.loads((tmp_path / "ref" / "photo1.json").read_text())
    assert rec["pose_normalised"] == ref["pose_normalised"]  # float32 export: the run's own predictions


def test_predict_without_any_released_model(tiny_cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "none"))
    photo, _ = crop_photo(tiny_cache, tmp_path / "in")
    assert main(["predict", str(photo), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no released model is installed" in err and "make release" in err and "--checkpoint" in err
    assert not (tmp_path / "out").exists()


def test_predict_checkpoint_and_model_exclude_each_other(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["predict", "x.png", "--checkpoint", "c", "--model", "s4", "--out", str(tmp_path)])
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_predict_a_corrupt_released_model(released_env, tiny_cache, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "rel"
    folder.mkdir()
    (folder / "s4.safetensors").write_bytes(released_env["float32"].read_bytes()[:1000])
    monkeypatch.setenv(ENV_DIR, str(folder))
    photo, _ = crop_photo(tiny_cache, tmp_path / "in")
    assert main(["predict", str(photo), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(folder / "s4.safetensors") in err and "truncated or corrupt" in err


def test_evaluate_a_released_model(released_env, run_dir, tiny_cache, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["evaluate", "--model", "s4", "--data", str(tiny_cache), "--out", str(out), "--no-baseline"]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    run = json.loads((run_dir / "eval_test" / "metrics.json").read_text())["s4"]
    assert doc["released/s4"]["mean_epe_mm"] == run["mean_epe_mm"]


def test_export_onnx_of_a_released_model(released_env, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from handvae.export import TOLERANCE, ort_session

    out = tmp_path / "s4.onnx"
    assert main(["export-onnx", "--model", "s4h", str(out)]) == 0
    model, _, _ = load_released_file(released_env["float16"])
    x = reference_input(S)
    with torch.no_grad():
        want = model.predict_pose(x).numpy()
    got = ort_session(out).run(["pose"], {"rgb": x.numpy()})[0]
    assert np.abs(got - want).max() <= TOLERANCE
    assert main(["export-onnx", "--model", "s4", str(out), str(out)]) == 2


# --- benchmarks (smoke) ------------------------------------------------------------------------------------
def load_benchmark(name: str):
    return load_script(f"benchmarks/{name}.py", f"bench_{name}")


def test_benchmarks_run(released_env, run_dir, tiny_cache, capsys):
    assert load_benchmark("handedness").main(["--model", "s4", "--data", str(tiny_cache), "--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "auto (confidence)" in out and "forced left" in out and "oracle side" in out
    assert load_benchmark("release_fp16").main([str(run_dir), "--data", str(tiny_cache)]) == 0
    out = capsys.readouterr().out
    assert "float32" in out and "float16" in out and "fp16 - fp32: EPE" in out


def test_tta_benchmark_agrees_with_evaluate(released_env, tiny_cache, tmp_path, capsys):
    """benchmarks/tta.py warps its own views; `handvae evaluate --tta-deg` goes through handvae.models.tta."""
    assert load_benchmark("tta").main(["--model", "s4", "--data", str(tiny_cache)]) == 0
    rows = {line[:18].strip(): line.split() for line in capsys.readouterr().out.splitlines()}
    for name, deg in (("crop alone", "0"), ("rolls +-30", "30")):
        out = tmp_path / f"ev{deg}"
        assert main(["evaluate", "--model", "s4", "--data", str(tiny_cache), "--out", str(out), "--tta-deg", deg,
                     "--no-baseline"]) == 0  # fmt: skip
        got = next(iter(json.loads((out / "metrics.json").read_text()).values()))
        assert float(rows[name][-3]) == pytest.approx(got["mean_epe_mm"], abs=0.006)
        assert float(rows[name][-1]) == pytest.approx(got["pa"]["mean_epe_mm"], abs=0.006)
    assert rows["crop alone"][-3] != rows["rolls +-30"][-3]


def test_demo_shows_the_released_model_on_photos(released_env, tmp_path, capsys):
    """``make demo``'s first stage: the released model on a folder of photos (here synthetic renders
    written as files; real photos when ../shared/realdev is present), one JSON + overlay each."""
    from PIL import Image

    from handvae.experiments.demo import show_released
    from handvae.synth.generate import preview_samples

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, s in enumerate(preview_samples("rhd", 3, seed=4, size=96)):
        Image.fromarray(s.rgb).save(photos / f"p{i}.png")
    show_released(tmp_path / "demo", photos, count=2, seed=0)
    out = tmp_path / "demo" / "released"
    assert sorted(p.name for p in out.glob("*.json")) == ["p0.json", "p1.json"]  # count=2 of 3, sorted
    assert (out / "p0_overlay.png").is_file() and "released model s4 on 2 photo(s)" in capsys.readouterr().out
    show_released(tmp_path / "demo2", tmp_path / "absent", count=2, seed=0)  # no photos: synthetic hands
    assert len(list((tmp_path / "demo2" / "released").glob("*.json"))) == 2
