"""The hand-written faults of ``benchmarks/mutations.py``: one :class:`Mutation` per fault, with the tests
that should catch it. Add a fault here; ``python benchmarks/mutations.py --list`` shows them all."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # relative to src/handvae
    original: str  # exact text, occurring exactly once in the file
    replacement: str
    tests: tuple[str, ...]  # pytest paths or node ids, relative to the repository
    description: str


MUTATIONS: list[Mutation] = [
    Mutation(
        "crop-margin", "predict/geometry.py",
        "max(max(w, h) / 2.0 * margin, 1.0)",
        "max(max(w, h) / 2.0, 1.0)",
        ("tests/test_predict.py::test_predict_writes_the_cached_training_crop",),
        "predict.geometry.crop_box ignores the margin",
    ),
    Mutation(
        "crop-centre", "predict/geometry.py",
        "return x + (w - 1) / 2.0, y + (h - 1) / 2.0,",
        "return x + w / 2.0, y + h / 2.0,",
        ("tests/test_predict.py::test_predict_writes_the_cached_training_crop",),
        "predict.geometry.crop_box puts the box centre half a pixel off",
    ),
    Mutation(
        "rhd-rows", "data/rhd.py",
        'rows = slice(0, 21) if side == "left" else slice(21, 42)',
        "rows = slice(21, 42)",
        ("tests/test_data_readers.py",),
        "the RHD reader always takes the right hand's rows of xyz / uv_vis",
    ),
    Mutation(
        "rhd-visibility", "data/rhd.py",
        "vis=uv_vis[rows, 2] > 0.5,",
        "vis=np.ones(21, dtype=bool),",
        ("tests/test_data_readers.py",),
        "the RHD reader ignores the visibility flag of uv_vis",
    ),
    Mutation(
        "stb-translation", "data/formats.py",
        "return (np.asarray(xyz_depth_mm, dtype=np.float64) - STB_T_MM) @ STB_R",
        "return (np.asarray(xyz_depth_mm, dtype=np.float64) + STB_T_MM) @ STB_R",
        ("tests/test_data_readers.py",),
        "STB depth -> colour frame adds the translation instead of subtracting it",
    ),
    Mutation(
        "stb-rotation", "data/formats.py",
        "return np.eye(3) + np.sin(theta) * kx + (1.0 - np.cos(theta)) * (kx @ kx)",
        "return np.eye(3) - np.sin(theta) * kx + (1.0 - np.cos(theta)) * (kx @ kx)",
        ("tests/test_data_readers.py",),
        "Rodrigues with the sine term's sign flipped: the STB rotation transposed",
    ),
    Mutation(
        "to-mm-mirror", "eval/scoring.py",
        'np.asarray(arrays["scale_mm"][index], np.float64), np.asarray(arrays["mirrored"][index]),',
        'np.asarray(arrays["scale_mm"][index], np.float64), np.zeros(len(index), dtype=bool),',
        ("tests/test_eval_ground_truth.py",),
        "eval.predict.to_mm ignores the mirrored flag",
    ),
    Mutation(
        "to-mm-transpose", "eval/scoring.py",
        'pred_norm, np.asarray(arrays["R_vc"][index], np.float64),',
        'pred_norm, np.asarray(arrays["R_vc"][index], np.float64).transpose(0, 2, 1),',
        ("tests/test_eval_ground_truth.py",),
        "eval.predict.to_mm uses the transpose of R_vc",
    ),
    Mutation(
        "resume-restarts", "train/trainer.py",
        "        if resume:\n            self._resume()\n",
        "        if False:\n            self._resume()\n",
        ("tests/test_trainer.py::test_resume_after_interruption_is_bit_identical",
         "tests/test_trainer.py::test_kill_minus_nine_then_resume_matches"),
        "--resume silently restarts from scratch",
    ),
    Mutation(
        "ddp-no-sync", "train/trainer.py",
        "        if self.dist.enabled:\n            ids =",
        "        if False:\n            ids =",
        ("tests/test_trainer.py::test_two_process_gloo_run",),
        "DDP without gradient synchronisation (no DistributedDataParallel wrapper)",
    ),
    Mutation(
        "palm-root", "eval/metrics.py",
        "return 0.5 * (pose[:, WRIST] + pose[:, ROOT_JOINT])",
        "return 0.5 * (pose[:, WRIST] + pose[:, 9])",
        ("tests/test_metrics.py",),
        "the palm root built from the wrist and another joint (the middle tip, 9)",
    ),
    Mutation(
        "loss-weights", "models/criterion.py",
        "return sum((w[k] * v for k, v in terms.items()), torch.zeros(()))",
        "return sum((v for k, v in terms.items()), torch.zeros(()))",
        ("tests/test_learning_fixes.py::test_the_logged_loss_is_the_weighted_sum_of_the_logged_terms",),
        "the trainer's loss sums the terms without their weights",
    ),
    Mutation(
        "pck-strict", "eval/metrics.py",
        "return (errors[None, :] <= thresholds[:, None]).mean(axis=1)",
        "return (errors[None, :] < thresholds[:, None]).mean(axis=1)",
        ("tests/test_metrics.py",),
        "PCK counts an error with < instead of <= the threshold",
    ),
    Mutation(
        "procrustes-reflection", "eval/metrics.py",
        "fix[:, -1] = d\n",
        "fix[:, -1] = 1.0\n",
        ("tests/test_metrics.py",),
        "Procrustes alignment allows reflections",
    ),
    Mutation(
        "onnx-batchnorm-stats", "export.py",
        "    module = PosePath(model.float().cpu().eval()).eval()\n",
        "    module = PosePath(model.float().cpu().eval()).eval()\n"
        "    for m in module.modules():\n"
        "        if isinstance(m, nn.modules.batchnorm._BatchNorm):\n"
        "            m.reset_running_stats()\n",
        ("tests/test_export_onnx.py",),
        "ONNX export loses the trained BatchNorm statistics (exports the defaults 0 / 1)",
    ),
    Mutation(
        "cli-config-error", "cli/__init__.py",
        "    except (UserError, ConfigError) as err:\n",
        "    except UserError as err:\n",
        ("tests/test_cli_errors.py",),
        "a ConfigError escapes the CLI as a traceback instead of a one-line error with exit code 2",
    ),
    # Faults that only value checks catch (shape-, finiteness- or "> 0"-only assertions let them through).
    Mutation(
        "chamfer-detached-term", "models/losses.py",
        "b = safe_norm(target - _gather_points(pred, nn_of_target))",
        "b = safe_norm(target - _gather_points(pred.detach(), nn_of_target))",
        ("tests/test_losses.py",),
        "Chamfer's target-to-prediction term sends no gradient to the prediction (same value)",
    ),
    Mutation(
        "emd-thread-split", "models/losses.py",
        "range(i * n // k, (i + 1) * n // k)",
        "range(i * n // k, i * n // k + 1)",
        ("tests/test_losses.py",),
        "the threaded EMD assignment leaves part of the batch unsolved (needs more than one core)",
    ),
    Mutation(
        "poe-weights-detached", "models/latent.py",
        "weights = torch.softmax(logits, dim=1)",
        "weights = torch.softmax(logits.detach(), dim=1)",
        ("tests/test_latent.py",),
        "the product of experts' mixing weights pass no gradient to the log-variances (same value)",
    ),
    Mutation(
        "kl-unmasked", "models/criterion.py",
        "return losses.masked_mean(kl_to_standard_normal(latents[elbo]), valid[elbo])",
        "return losses.masked_mean(kl_to_standard_normal(latents[elbo]), None)",
        ("tests/test_models.py",),
        "a KL term averages over every sample, also those whose ELBO is not valid",
    ),
    Mutation(
        "align-kl-mask", "models/criterion.py",
        "mask = valid[joint] & valid[single]",
        "mask = valid[single]",
        ("tests/test_models.py",),
        "the KL alignment averages over samples without the joint ELBO's inputs",
    ),
    Mutation(
        "procrustes-scale-sign", "eval/metrics.py",
        "scale = (s * fix).sum(axis=1)",
        "scale = s.sum(axis=1)",
        ("tests/test_metrics.py",),
        "Procrustes scale ignores the reflection fix (wrong PA-EPE for mirror-like predictions)",
    ),
    Mutation(
        "depth-pad-border", "data/augment.py",
        'padding_mode="zeros"',
        'padding_mode="border"',
        ("tests/test_data_batches.py",),
        "the augmentation warp pads by the border instead of the background",
    ),
    Mutation(
        "hue-half-angle", "data/augment.py",
        "phi = 2.0 * math.pi * delta.to(rgb.dtype)",
        "phi = math.pi * delta.to(rgb.dtype)",
        ("tests/test_data_batches.py",),
        "the hue shift turns the chroma plane by pi delta instead of 2 pi delta",
    ),
    Mutation(
        "aug-shift-unscaled", "data/augment.py",
        "t = cfg.translate_px * size / 256.0",
        "t = cfg.translate_px",
        ("tests/test_data_batches.py",),
        "the augmentation shift is not scaled with the crop size",
    ),
    Mutation(
        "cache-trim-tail", "data/cache.py",
        "small[i : i + 4096] = arr[i : min(i + 4096, self.count)]",
        "small[i : i + 4096] = arr[self.capacity - self.count + i : self.capacity - self.count + min(i + 4096, "
        "self.count)]",
        ("tests/test_data_prepare.py",),
        "a cache with skipped samples is trimmed from the wrong end (rows no longer match the ids)",
    ),
    Mutation(
        "val-gt-rows", "eval/scoring.py",
        'gt = np.asarray(extra["xyz_mm"][index], np.float64)',
        'gt = np.asarray(extra["xyz_mm"][index - loader.start], np.float64)',
        ("tests/test_trainer.py::test_every_strategy_trains_and_checkpoints",),
        "validation on the held-out tail scores against the ground truth of the split's first rows",
    ),
    Mutation(
        "baseline-test-mean", "eval/scoring.py",
        'mean = np.asarray(open_split(train_split_dir, ["pose"])["pose"], np.float64).mean(axis=0)',
        'mean = np.asarray(open_split(loader.split_dir, ["pose"])["pose"], np.float64).mean(axis=0)',
        ("tests/test_evaluate.py::test_evaluate_writes_consistent_files",),
        "the mean-pose baseline averages the evaluated split's poses instead of the training split's",
    ),
    Mutation(
        "backproject-swapped", "data/prepare.py",
        "pts = backproject(uu.astype(np.float64), vv.astype(np.float64),",
        "pts = backproject(vv.astype(np.float64), uu.astype(np.float64),",
        ("tests/test_data_prepare.py",),
        "prepare back-projects the hand pixels with u and v swapped (the cloud is mirrored about the diagonal)",
    ),
    Mutation(
        "prepare-margin", "data/prepare.py",
        "u_c, v_c, half = crop_box(s, margin)",
        "u_c, v_c, half = crop_box(s, 1.1)",
        ("tests/test_data_prepare.py",),
        "prepare's crop box ignores the configured margin",
    ),
    Mutation(
        "resume-layouts", "checkpoint.py",
        "        _match_param_layouts(optimizer)\n",
        "",
        ("tests/test_trainer.py::test_resume_after_interruption_is_bit_identical",
         "tests/test_trainer.py::test_resumed_adam_moments_keep_their_values_and_their_weights_layout"),
        "a resumed run keeps Adam's moments in NCHW order beside channels_last weights",
    ),
    Mutation(
        "clock-second-stop", "train/clock.py",
        "        if self._stopped_at is None:\n            self._stopped_at = time.perf_counter()\n",
        "        self._stopped_at = time.perf_counter()\n",
        ("tests/test_clock.py",),
        "a stop whose continue was discarded restarts the pause, so the time before it counts as training",
    ),
    Mutation(
        "cpu-bf16-ignored", "train/trainer.py",
        "        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)",
        "        return contextlib.nullcontext()",
        ("tests/test_trainer.py::test_cpu_autocast_only_when_asked_for_bf16",),
        "trainer.amp=bf16 on the CPU silently trains in float32",
    ),
]
