"""Bad inputs to ``handvae train``, ``reproduce`` and ``demo``: exit code 2 and one stderr line naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from handvae.cli import main

REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def one_line_error(capsys, verb: str) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"handvae {verb}: error: "), err
    return lines[0]


@pytest.fixture()
def configs(tmp_path) -> Path:
    """A configs/ folder: an empty s4.yaml, an empty ``cpu/NAME.yaml`` for every config the reproduction trains,
    and ``bad.yaml`` with ``trainer.amp: fp32``."""
    folder = tmp_path / "configs"
    (folder / "cpu").mkdir(parents=True)
    (folder / "s4.yaml").write_text("{}\n")
    for name in ("s1", "s2_hp", "s2_cp", "s2_chp", "s3", "s4", "rd2dhp", "iterative", "weak"):
        (folder / "cpu" / f"{name}.yaml").write_text("{}\n")
    (folder / "bad.yaml").write_text("trainer:\n  amp: fp32\n")
    return folder


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("missing cache", ["nocache", "not a prepared cache"]),
        ("missing config file", ["nope.yaml", "no such file, and no packaged config"]),
        ("bad value on the command line", ["trainer.amp", "'fp32'", "'bf16'"]),
        ("bad value in the config file", ["trainer.amp", "'fp32'", "'bf16'"]),
    ],
)
def test_train(configs, tmp_path, capsys, case, needles):
    argv = {
        "missing cache": [str(configs / "s4.yaml"), f"data.cache={tmp_path / 'nocache'}",
                          f"out_dir={tmp_path / 'run'}"],
        "missing config file": [str(configs / "nope.yaml")],
        "bad value on the command line": [str(configs / "s4.yaml"), "trainer.amp=fp32"],
        "bad value in the config file": [str(configs / "bad.yaml")],
    }[case]
    assert main(["train", *argv, "--no-progress"]) == 2
    line = one_line_error(capsys, "train")
    assert all(n in line for n in needles), line
    assert not (tmp_path / "run").exists()  # a run that cannot start leaves no run folder behind


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("missing configs folder", ["noconfigs", "not a configs folder"]),
        ("missing preset config file", ["cpu/s4.yaml", "does not exist"]),
        ("bad value in the preset config", ["trainer.amp", "'fp32'"]),
    ],
)
def test_reproduce_fails_before_any_work(configs, tmp_path, capsys, case, needles):
    if case == "missing preset config file":
        (configs / "cpu" / "s4.yaml").unlink()
    if case == "bad value in the preset config":
        (configs / "cpu" / "s4.yaml").write_text("trainer:\n  amp: fp32\n")
    folder = tmp_path / "noconfigs" if case == "missing configs folder" else configs
    assert main(["reproduce", "--configs", str(folder), "--out", str(tmp_path / "out")]) == 2
    line = one_line_error(capsys, "reproduce")
    assert all(n in line for n in needles), line
    assert not (tmp_path / "out").exists()  # nothing synthesised, nothing prepared


def test_demo_into_a_used_folder(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path / "out")]) == 2
    line = one_line_error(capsys, "demo")
    assert str(tmp_path / "out") in line and "--overwrite" in line
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keep.txt"]


# demo and reproduce check their training configs before making the synthetic world (and, for
# reproduce, its prepared cache): minutes of work at the default sizes. The first test stands in a stub
# for that work and checks the error itself; the second fails if the work starts before the check.
def _bad_config_argv(verb: str, configs: Path, tmp_path: Path, case: str) -> list[str]:
    if verb == "demo":
        cfg = configs / ("nope.yaml" if case == "missing config file" else "bad.yaml")
        return ["demo", "--config", str(cfg), "--out", str(tmp_path / "out"), "--workers", "1"]
    assert case == "bad value"
    return ["reproduce", "--configs", str(REPO_CONFIGS), "--out", str(tmp_path / "out"), "--set", "trainer.amp=fp32"]


BAD_CONFIGS = [("demo", "missing config file", ["nope.yaml", "does not exist"]),
               ("demo", "bad value", ["trainer.amp", "'fp32'"]),
               ("reproduce", "bad value", ["trainer.amp", "'fp32'"])]


def _stub_the_work(monkeypatch, verb: str, stub) -> None:
    if verb == "demo":
        monkeypatch.setattr("handvae.synth.generate.generate_dataset", stub)
    else:
        monkeypatch.setattr("handvae.experiments.reproduce.build_benchmark", stub)


@pytest.mark.parametrize(("verb", "case", "needles"), BAD_CONFIGS)
def test_bad_training_config_of_demo_and_reproduce(configs, tmp_path, capsys, monkeypatch, verb, case, needles):
    _stub_the_work(monkeypatch, verb, lambda *args, **kwargs: tmp_path / "made")
    assert main(_bad_config_argv(verb, configs, tmp_path, case)) == 2
    line = one_line_error(capsys, verb)
    assert all(n in line for n in needles), line


@pytest.mark.parametrize(("verb", "case", "needles"), BAD_CONFIGS)
def test_bad_training_config_is_found_before_any_work(configs, tmp_path, capsys, monkeypatch, verb, case, needles):
    def work(*args, **kwargs):
        raise AssertionError(f"{verb} started making its data before checking its config")

    _stub_the_work(monkeypatch, verb, work)
    assert main(_bad_config_argv(verb, configs, tmp_path, case)) == 2
    line = one_line_error(capsys, verb)
    assert all(n in line for n in needles), line
