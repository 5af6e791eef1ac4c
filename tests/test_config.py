"""YAML configs with dotted overrides: merging, type checks, clear errors, saving."""

from pathlib import Path

import pytest
import yaml

from handvae.config import ConfigError, config_from_dict, load_config, save_config, to_dict
from handvae.models.released import package_released_dir, read_release
from handvae.schema import Config


def test_defaults_are_the_papers():
    cfg = load_config(Config)
    assert cfg.model.latent_dim == 64 and cfg.loss.lambda_heat == 0.01 and cfg.loss.lambda_cloud == 1.0
    assert cfg.trainer.lr == 1e-4 and cfg.trainer.batch_size == 32
    assert (cfg.trainer.beta_start, cfg.trainer.beta_end) == (1e-5, 1e-3)
    assert cfg.data.crop_size == 256 and cfg.data.n_points == 256 and cfg.data.heatmap_size == 64
    assert (cfg.model.heat_width, cfg.model.heat_kernel, cfg.model.point_width) == (1.0, 5, 1.0)


def test_paper_configs_keep_the_papers_decoders_and_the_release_keeps_what_it_was_trained_with():
    for path in sorted(CONFIG_ROOT.glob("*.yaml")):  # the paper configs (the presets live in folders)
        m = load_config(Config, path).model
        assert (m.heat_width, m.heat_kernel, m.point_width) == (1.0, 5, 1.0), path
    # the CPU release runs end on their time budget, s1w32 (on a GPU) and s4w32h, s4w32hc (started from it) on
    # steps; s4w32's config stays as s4w32h's base, its file no longer ships
    for name, budget in (("s1", "max_minutes"), ("s4", "max_minutes"), ("s1w32", "max_steps"),
                         ("s4w32h", "max_steps"), ("s4w32hc", "max_steps")):
        cfg = load_config(Config, CONFIG_ROOT / "release" / f"{name}.yaml")
        # keys the shipped file predates (heat_kernel) take the schema's default, as when the file is loaded
        shipped = config_from_dict(Config, read_release(package_released_dir() / f"{name}.safetensors")[1]["config"])
        for section, key in [("model", "heat_width"), ("model", "heat_kernel"), ("model", "point_width"),
                             ("model", "rgb_width"), ("model", "strategy"), ("data", "aug_color"),
                             ("data", "val_holdout"), ("trainer", "schedule"), ("trainer", "warmup_steps"),
                             ("trainer", "lr"), ("trainer", "batch_size"), ("trainer", "val_every"),
                             ("trainer", budget)]:
            assert getattr(getattr(cfg, section), key) == getattr(getattr(shipped, section), key), (name, section, key)


def test_cpu_presets_end_their_schedule():
    """The presets decay the lr to 0 at the run's last step (warm-up first); the paper configs keep the plateau rule."""
    for path in sorted((CONFIG_ROOT / "cpu").glob("[!_]*.yaml")):
        t = load_config(Config, path).trainer
        assert (t.schedule, t.warmup_steps) == ("cosine", 300), path
    assert load_config(Config, CONFIG_ROOT / "s4.yaml").trainer.schedule == "plateau"


def test_gpu_presets_are_the_cpu_presets_at_a_larger_batch():
    """configs/gpu/X.yaml trains the model and data of configs/cpu/X.yaml (so caches and weights carry over)
    at batch 512 with twice the lr; only the trainer's batch, lr, validation interval, device and out_dir differ."""
    def flat(cfg) -> dict:
        out = {}
        for k, v in to_dict(cfg).items():
            out.update({f"{k}.{kk}": vv for kk, vv in v.items()} if isinstance(v, dict) else {k: v})
        return out

    gpu_files = sorted((CONFIG_ROOT / "gpu").glob("[!_]*.yaml"))
    assert gpu_files
    for path in gpu_files:
        gpu = load_config(Config, path)
        cpu = load_config(Config, CONFIG_ROOT / "cpu" / path.name)
        changed = {k for k, v in flat(gpu).items() if flat(cpu)[k] != v}
        assert changed == {"out_dir", "trainer.batch_size", "trainer.lr", "trainer.val_every", "trainer.device"}, path
        assert (gpu.trainer.batch_size, gpu.trainer.lr) == (16 * cpu.trainer.batch_size, 2 * cpu.trainer.lr)
        assert (gpu.trainer.schedule, gpu.trainer.warmup_steps, gpu.trainer.amp) == ("cosine", 300, "auto")


def test_time_budget_runs_have_no_last_step_so_keep_the_plateau_rule(tmp_path):
    from handvae.experiments.pipeline import budget_overrides

    over = budget_overrides(tmp_path / "cache", tmp_path / "run", 4.0, 300)
    t = load_config(Config, CONFIG_ROOT / "cpu" / "s1.yaml", over).trainer
    assert (t.schedule, t.max_minutes, t.max_steps) == ("plateau", 4.0, 10_000_000)
    arm = [*over, "trainer.schedule=cosine", "trainer.max_steps=2400"]  # an arm that names its last step
    t = load_config(Config, CONFIG_ROOT / "cpu" / "s1.yaml", arm).trainer
    assert (t.schedule, t.max_steps) == ("cosine", 2400)


def test_yaml_then_overrides(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("seed: 3\ntrainer:\n  lr: 0.001\n  epochs: 7\n")
    child = tmp_path / "child.yaml"
    child.write_text("base: base.yaml\ntrainer:\n  epochs: 9\nmodel:\n  strategy: R2P\n")
    cfg = load_config(Config, child, ["trainer.lr=1e-4", "data.aug_scale=[1.0, 1.5]", "eval.visible_only=false"])
    assert cfg.seed == 3
    assert cfg.trainer.epochs == 9 and cfg.trainer.lr == 1e-4
    assert cfg.model.strategy == "R2P" and cfg.model.alignment == "poe"
    assert cfg.data.aug_scale == (1.0, 1.5)
    assert cfg.eval.visible_only is False


def test_a_choice_that_yaml_reads_as_a_boolean_keeps_its_name(tmp_path):
    """YAML 1.1 reads ``off`` as False: ``trainer.amp=off`` (command line or file) must still mean "off", and a
    boolean where no choice is named like it stays an error."""
    (tmp_path / "c.yaml").write_text("trainer:\n  amp: off\n")
    assert load_config(Config, None, ["trainer.amp=off"]).trainer.amp == "off"
    assert load_config(Config, tmp_path / "c.yaml").trainer.amp == "off"
    with pytest.raises(ConfigError, match=r"trainer\.amp: expected one of"):
        load_config(Config, None, ["trainer.amp=true"])


def test_unknown_key_names_it_and_lists_valid_ones():
    with pytest.raises(ConfigError) as err:
        load_config(Config, None, ["trainer.lrr=1"])
    msg = str(err.value)
    assert "trainer.lrr" in msg and "lr" in msg and "batch_size" in msg


def test_unknown_section(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trainr:\n  lr: 1\n")
    with pytest.raises(ConfigError, match=r"trainr.*valid keys.*trainer"):
        load_config(Config, path)


@pytest.mark.parametrize(
    "override, key",
    [("trainer.batch_size=abc", "trainer.batch_size"), ("trainer.batch_size=2.5", "trainer.batch_size"),
     ("data.augment=3", "data.augment"), ("data.aug_scale=[1.0]", "data.aug_scale"), ("trainer=3", "trainer")],
)
def test_wrong_type_names_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(Config, None, [override])


def test_int_accepted_for_float_and_saved_config_round_trips(tmp_path):
    cfg = load_config(Config, None, ["trainer.lr=1", "seed=5"])
    assert isinstance(cfg.trainer.lr, float) and cfg.trainer.lr == 1.0
    out = tmp_path / "run" / "config.yaml"
    save_config(cfg, out)
    assert yaml.safe_load(out.read_text())["seed"] == 5
    assert load_config(Config, out) == cfg
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Config, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Config, bad)
    with pytest.raises(ConfigError, match=r"key\.sub=value"):
        load_config(Config, None, ["trainer.lr"])


CONFIG_ROOT = Path(__file__).resolve().parents[1] / "configs"
SHIPPED = sorted(CONFIG_ROOT.rglob("*.yaml"))


def test_the_shipped_configs_are_all_there():
    assert len(SHIPPED) >= 18


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CONFIG_ROOT)))
def test_every_shipped_config_loads(path):
    load_config(Config, path)


def test_the_shipped_configs_cover_every_table_1_strategy():
    strategies = set()
    for f in SHIPPED:
        cfg = load_config(Config, f)
        strategies.add((cfg.model.strategy, cfg.model.alignment, cfg.trainer.iterative))
    assert {("R2P", "none", False), ("RC2CHP", "poe", False), ("RC2CHP", "kl", False), ("RD2DHP", "poe", False),
            ("RC2CHP", "none", True)} <= strategies


@pytest.mark.parametrize("key, bad, valid", [
    ("trainer.amp", "fp32", "['auto', 'bf16', 'fp16', 'off']"),
    ("trainer.schedule", "step", "['plateau', 'cosine']"),
    ("model.alignment", "product", "['none', 'kl', 'poe']"),
    ("loss.emd", "hungarian", "['auto', 'exact', 'sinkhorn']"),
    ("loss.l2_form", "l1", "['norm', 'squared']"),
    ("data.on_device", "gpu", "['auto', 'always', 'never']"),
    ("eval.root", "plam", "['mcp', 'palm', 'wrist']"),
    ("eval.scale", "bone", "['gt_bone', 'none', 'procrustes']"),
])
def test_a_bad_choice_fails_at_load_naming_the_key_and_the_choices(key, bad, valid):
    """``trainer.amp=fp32`` once trained silently in bf16; a typo in eval.root failed at the first validation."""
    with pytest.raises(ConfigError) as err:
        load_config(Config, None, [f"{key}={bad}"])
    assert key in str(err.value) and valid in str(err.value) and repr(bad) in str(err.value)


def test_base_may_be_a_list_merged_in_order(tmp_path):
    (tmp_path / "a.yaml").write_text("trainer: {lr: 0.5, batch_size: 4}\nseed: 1\n")
    (tmp_path / "b.yaml").write_text("trainer: {lr: 0.25}\nmodel: {latent_dim: 8}\n")
    (tmp_path / "c.yaml").write_text("base: [a.yaml, b.yaml]\nseed: 3\n")
    cfg = load_config(Config, tmp_path / "c.yaml")
    assert (cfg.trainer.lr, cfg.trainer.batch_size, cfg.model.latent_dim, cfg.seed) == (0.25, 4, 8, 3)
    (tmp_path / "d.yaml").write_text("base: [b.yaml, a.yaml]\n")
    assert load_config(Config, tmp_path / "d.yaml").trainer.lr == 0.5
    (tmp_path / "e.yaml").write_text("base: {x: 1}\n")
    with pytest.raises(ConfigError, match="'base' must be a file name or a list"):
        load_config(Config, tmp_path / "e.yaml")
    (tmp_path / "f.yaml").write_text("base: [a.yaml, f.yaml]\n")
    with pytest.raises(ConfigError, match="inherits from itself"):
        load_config(Config, tmp_path / "f.yaml")


def test_packaged_configs_resolve_by_name_from_any_folder(tmp_path, monkeypatch):
    from handvae.config import packaged_configs_dir, resolve_config

    monkeypatch.chdir(tmp_path)  # no configs/ folder here
    assert resolve_config("cpu/s4") == packaged_configs_dir() / "cpu" / "s4.yaml"
    assert resolve_config("s4.yaml") == packaged_configs_dir() / "s4.yaml"
    assert load_config(Config, resolve_config("cpu/s4")).model.alignment == "poe"
    own = tmp_path / "s4.yaml"  # a file of that name in the working folder wins over the packaged one
    own.write_text("base: " + str(packaged_configs_dir() / "s1.yaml") + "\n")
    assert resolve_config("s4.yaml").resolve() == own
    with pytest.raises(ConfigError, match=r"config nope: .*packaged: .*cpu/s4"):
        resolve_config("nope")
    assert sorted(p.relative_to(packaged_configs_dir()) for p in packaged_configs_dir().rglob("*.yaml")) == sorted(
        p.relative_to(CONFIG_ROOT) for p in SHIPPED)  # the repository's configs/ is the packaged folder
