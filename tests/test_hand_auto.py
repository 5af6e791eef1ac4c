"""``--hand auto`` end to end on the tiny released model: every score picks opposite sides on a crop and its
mirror image, the CLI keeps the chosen side's pose, a shipped hand probe becomes the default score, and
tools/fit_hand_probe.py fits one (and refuses a cache whose left hands were not mirrored)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from _data_fixtures import crop_photo
from conftest import load_script
from handvae.cli import main
from handvae.models.released import ENV_DIR, load_released_file


def tiny_probe(model, tiny_cache):
    """A hand probe of the tiny model, fitted briefly on the tiny training crops (16 hidden units: with 4 they
    could all end inactive, and a constant probe ties every crop with its mirror image)."""
    from handvae.data.cache import open_split
    from handvae.predict.hand_probe import fit_hand_probe

    return fit_hand_probe(model, np.asarray(open_split(tiny_cache / "train", ["image"])["image"][:32]), hidden=16,
                          epochs=2)  # fmt: skip


@pytest.mark.parametrize("score", ["confidence", "kl", "stability", "probe"])
def test_auto_on_the_mirror_image_picks_the_other_side(released, tiny_cache, score):
    from handvae.data.cache import open_split
    from handvae.predict.handedness import choose_hand

    model, _, _ = load_released_file(released["float32"])
    probe = tiny_probe(model, tiny_cache) if score == "probe" else None

    images = np.asarray(open_split(tiny_cache / "test", ["image"])["image"][:6])
    picks = []
    for x in images:
        a, b = choose_hand(model, x, score, probe), choose_hand(model, np.ascontiguousarray(x[:, ::-1]), score, probe)
        assert a.scores["right"] != a.scores["left"]  # a tie could not pick opposite sides
        assert {a.hand, b.hand} == {"left", "right"}
        assert a.scores == {"right": b.scores["left"], "left": b.scores["right"]}
        np.testing.assert_array_equal(b.pose, a.pose * [-1.0, 1.0, 1.0])
        np.testing.assert_array_equal(a.pose, a.poses[a.hand])
        picks.append(a.hand)
    assert len(picks) == 6


def test_auto_poses_are_those_of_the_chosen_side(released_env, tiny_cache, tmp_path):
    """Through the CLI: auto on X and on its mirror image pick opposite sides, each pose that of ``--hand`` side."""
    recs = {}
    for mirror in (False, True):
        photo, _ = crop_photo(tiny_cache, tmp_path / "in", 2, mirror)
        out = tmp_path / f"auto_{mirror}"
        assert main(["predict", str(photo), "--model", "s4", "--hand", "auto", "--out", str(out), "--no-progress"]) == 0
        rec = json.loads((out / f"{photo.stem}.json").read_text())
        forced = tmp_path / f"forced_{mirror}"
        assert main(["predict", str(photo), "--model", "s4", "--hand", rec["hand"], "--out", str(forced),
                     "--no-progress"]) == 0
        assert json.loads((forced / f"{photo.stem}.json").read_text())["pose_normalised"] == rec["pose_normalised"]
        assert rec["hand_decision"]["requested"] == "auto" and rec["mirrored_for_model"] == (rec["hand"] == "left")
        recs[mirror] = rec
    assert {recs[False]["hand"], recs[True]["hand"]} == {"left", "right"}
    np.testing.assert_allclose(np.array(recs[True]["pose_normalised"]),
                               np.array(recs[False]["pose_normalised"]) * [-1.0, 1.0, 1.0], atol=1e-5)


def test_auto_uses_a_probe_where_the_model_has_one(released_env, run_dir, tiny_cache, tmp_path, monkeypatch):
    """Released with a probe in ``hand/``: auto scores by it unless told otherwise; without one, by stability;
    a checkpoint takes a probe file with --hand-probe."""
    from handvae.predict.hand_probe import save_hand_probe

    model, _, _ = load_released_file(released_env["float32"])
    folder = tmp_path / "rel"
    shutil.copytree(released_env["float32"].parent, folder)
    probe_file = save_hand_probe(tiny_probe(model, tiny_cache), folder / "hand" / "s4.safetensors", "s4", {})
    photo, _ = crop_photo(tiny_cache, tmp_path / "in")

    def score_used(*extra: str) -> str:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        assert main(["predict", str(photo), "--hand", "auto", *extra, "--out", str(out), "--no-progress"]) == 0
        return json.loads((out / "photo1.json").read_text())["hand_decision"]["score"]

    assert score_used() == "stability"  # released_env's folder ships no probe
    monkeypatch.setenv(ENV_DIR, str(folder))
    assert score_used() == "probe"
    assert score_used("--hand-score", "kl") == "kl"
    assert score_used("--checkpoint", str(run_dir)) == "stability"
    assert score_used("--checkpoint", str(run_dir), "--hand-probe", str(probe_file)) == "probe"


def test_the_cli_offers_the_scores_handedness_has():
    from handvae.cli.predict import DEFAULT_SCORE, HAND_SCORES, TTA_DEG
    from handvae.models import tta
    from handvae.predict import handedness

    assert HAND_SCORES == handedness.SCORES and DEFAULT_SCORE == handedness.DEFAULT_SCORE
    assert TTA_DEG == tta.TTA_DEG


def test_fit_hand_probe_tool(released_env, tiny_cache, tmp_path, capsys):
    from handvae.predict.hand_probe import load_hand_probe

    tool = load_script("tools/fit_hand_probe.py")
    out = tmp_path / "probe.safetensors"
    assert tool.main(["--model", "s4", "--data", str(tiny_cache), "--holdout", "16", "--epochs", "2", "--hidden", "4",
                      "--out", str(out)]) == 0  # fmt: skip
    _, meta = load_hand_probe(out)
    assert meta["model"] == "s4" and meta["fit"]["crops"] == [0, 80] and meta["fit"]["hidden"] == 4
    for score in ("probe", "stability"):
        assert 0.0 <= meta["fit"]["accuracy"]["synthetic_holdout"][score] <= 1.0
    assert "picks the right side on synthetic_holdout (16 crops)" in capsys.readouterr().out
    # a cache of crops as photographed (left hands not mirrored) would invert every score: refused
    unmirrored = tmp_path / "unmirrored" / "train"
    unmirrored.mkdir(parents=True)
    manifest = json.loads((tiny_cache / "train" / "manifest.json").read_text())
    manifest["config"]["mirror"] = "none"
    (unmirrored / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SystemExit, match="prepared with --mirror none; expected left hands mirrored"):
        tool.main(["--model", "s4", "--data", str(unmirrored.parent), "--out", str(tmp_path / "x.safetensors")])
