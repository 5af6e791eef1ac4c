"""``handvae predict`` end to end: per image crop -> RGB-only pose -> mm / pixels -> JSON and pictures.

Per image ``NAME`` (the file's stem, made unique) it writes into the output folder, each file under
a temporary name and then renamed: ``NAME.json`` (see :func:`record`), ``NAME_overlay.png`` (the
skeleton on the photo, same size as the photo), ``NAME_3d.png`` (3D plot, 480 x 480) and
``NAME_crop.png`` (what the network saw, S x S).
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from handvae.data.rgb import rgb_input
from handvae.errors import UserError
from handvae.files import atomic_write_bytes as write_bytes_atomic
from handvae.models.tta import TTA_DEG, predict_pose_tta
from handvae.predict.draw import overlay, plot_3d, save_png_atomic
from handvae.predict.geometry import DEFAULT_BONE_MM, JOINT_FILL, Crop, crop_box, crop_image, place_pose, scale_warning
from handvae.predict.hand_probe import check_fits_model, load_hand_probe
from handvae.predict.handedness import DEFAULT_SCORE, choose_hand
from handvae.predict.inputs import check_bbox_inside, read_image
from handvae.skeleton import JOINT_NAMES, ROOT_JOINT, SCALE_BONE


@dataclass
class PredictOptions:
    """How to crop and place. bbox: x, y, w, h px or None (the whole image is the crop); K: (3, 3) or None."""

    bbox: tuple[float, float, float, float] | None = None
    K: np.ndarray | None = None
    margin: float = 1.25
    bone_mm: float = DEFAULT_BONE_MM
    max_downsample: float = 3.0
    hand: str = "right"  # right | left | auto: the side of the hand in the photos (auto: decided per crop)
    hand_score: str | None = None  # how auto decides (handvae.predict.handedness.SCORES; None: Predictor.auto_score)
    tta_deg: float = TTA_DEG  # test-time rolls: the pose averaged with those of the crop rolled by +-tta_deg (0: off)


class Predictor:
    """A trained model for RGB-only inference on crops of its training size.

    ``checkpoint``: a run folder or checkpoint file; ``model``: the name of a released model. With
    neither, the released :data:`~handvae.models.released.DEFAULT_MODEL` (UserError saying how to get
    one when none is installed). ``hand_probe``: a hand probe file for ``--hand auto``'s ``probe``
    score (:mod:`handvae.predict.hand_probe`); a released model's own probe is used when it ships one.
    """

    def __init__(self, checkpoint: str | os.PathLike | None = None, device: str = "cpu",
                 model: str | None = None, hand_probe: str | os.PathLike | None = None) -> None:
        from handvae.models.load import load_model, trained_hands
        from handvae.models.released import DEFAULT_MODEL, load_released_file, released_path, released_probe_path

        if checkpoint is not None and model is not None:
            raise UserError("give --checkpoint or --model, not both")
        self.released = None if checkpoint is not None else (model or DEFAULT_MODEL)
        if self.released is None:
            self.model, self.cfg, self.checkpoint = load_model(checkpoint, device)
            self.hands = trained_hands(self.checkpoint)  # "right": trained on right hands (left ones mirrored)
        else:
            self.checkpoint = released_path(self.released)
            self.model, self.cfg, meta = load_released_file(self.checkpoint, device)
            self.hands = str(meta.get("hands", "both"))
            hand_probe = hand_probe if hand_probe is not None else released_probe_path(self.released)
        self.probe = None
        if hand_probe is not None:
            self.probe, _ = load_hand_probe(hand_probe)
            check_fits_model(self.probe, self.model, str(hand_probe))
            self.probe.to(device)
        self.device = torch.device(device)
        self.size = int(self.cfg.data.crop_size)

    def mirrors(self, hand: str) -> bool:
        """Whether a ``hand`` ("left" | "right") crop is mirrored for this model (trained on right hands only)."""
        if hand not in ("left", "right"):
            raise UserError(f"--hand {hand!r}: expected 'left' or 'right'")
        return hand == "left" and self.hands == "right"

    @torch.no_grad()
    def pose(self, pixels: np.ndarray, hand: str = "right", tta_deg: float = TTA_DEG) -> np.ndarray:
        """``pixels (S, S, 3) uint8`` of a ``hand`` -> normalised pose ``(21, 3)`` float64 (crop frame).

        ``tta_deg``: the pose is averaged with those of the crop rolled by +-``tta_deg`` degrees
        (:func:`~handvae.models.tta.predict_pose_tta`; 0: a single pass).

        A left hand, for a model trained on right hands, is mirrored as training mirrored it: the crop's
        columns are flipped (its principal point is the centre, so that is x -> -x in the crop frame),
        and the prediction's x is negated back.
        """
        flip = self.mirrors(hand)
        crop = pixels[:, ::-1] if flip else pixels
        rgb = rgb_input(crop)
        pose = predict_pose_tta(self.model, rgb.to(self.device), tta_deg)[0].double().cpu().numpy()
        return pose * np.array([-1.0, 1.0, 1.0]) if flip else pose

    @property
    def auto_score(self) -> str:
        """``--hand auto``'s default score: ``probe`` when the model has a hand probe, else :data:`DEFAULT_SCORE`."""
        return "probe" if self.probe is not None else DEFAULT_SCORE

    def predict(self, pixels: np.ndarray, hand: str = "right", score: str | None = None,
                tta_deg: float = TTA_DEG) -> tuple[np.ndarray, dict]:
        """``(pose (21, 3), decision)`` for a ``hand`` of "right", "left" or "auto" (:func:`choose_hand`,
        which decides the side; the pose is then :meth:`pose`'s for that side).

        ``decision["chosen"]`` is the side used ("unknown" for auto with a model trained on both
        hands unmirrored: there is nothing to decide, the crop is fed as it is).
        """
        if hand != "auto":
            return self.pose(pixels, hand, tta_deg), {"requested": hand, "chosen": hand}
        if self.hands != "right":
            return self.pose(pixels, "right", tta_deg), {"requested": "auto", "chosen": "unknown",
                                                "note": "the model was trained on both hands unmirrored"}
        choice = choose_hand(self.model, pixels, score or self.auto_score, self.probe)  # the chosen side's single pass
        pose = choice.pose if tta_deg == 0 else self.pose(pixels, choice.hand, tta_deg)
        return pose, {"requested": "auto", **choice.as_dict()}


_NUMBER_LIST = re.compile(r"\[\s*([-+0-9.eE,\s]*?)\s*\]")


def dumps(obj) -> str:
    """JSON with one line per innermost list of numbers (a joint, a matrix row)."""
    text = json.dumps(obj, indent=1)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def _r(a, nd: int = 3):
    return np.round(np.asarray(a, np.float64), nd).tolist()


def record(path: Path, image: np.ndarray, crop: Crop, pose_norm: np.ndarray, placed: dict, opt: PredictOptions,
           pred: Predictor, decision: dict | None = None) -> dict:
    """The JSON record of one prediction (all lengths mm, all pixels in the photo unless said).

    ``decision``: :meth:`Predictor.predict`'s (default: ``opt.hand`` as given).
    """
    decision = decision or {"requested": opt.hand, "chosen": opt.hand}
    hand = decision["chosen"]
    scale_mm = 2.0 * opt.bone_mm
    geom = crop.geom
    rec = {
        "image": str(path),
        "image_size": [int(image.shape[1]), int(image.shape[0])],
        "model": {"checkpoint": str(pred.checkpoint), "released": pred.released, "strategy": pred.cfg.model.strategy,
                  "alignment": pred.cfg.model.alignment, "crop_size": pred.size, "trained_hands": pred.hands},
        "hand": hand,
        "tta_deg": opt.tta_deg,
        "mirrored_for_model": hand in ("left", "right") and pred.mirrors(hand),
        "crop": {"source": crop.source, "box_xyxy": _r(geom.box, 2), "center": _r(geom.center, 2),
                 "half": round(geom.half, 2), "margin": opt.margin if crop.source == "bbox" else None,
                 "viewpoint_R": _r(geom.R_vc, 6)},
        "joint_order": "rhd", "joint_names": list(JOINT_NAMES), "root_joint": JOINT_NAMES[ROOT_JOINT],
        "assumed_scale": {
            "bone_mm": opt.bone_mm, "scale_mm": scale_mm,
            "note": f"a monocular model knows the pose only up to scale: every length here assumes "
                    f"|{JOINT_NAMES[SCALE_BONE[0]]} - {JOINT_NAMES[SCALE_BONE[1]]}| = {opt.bone_mm:g} mm "
                    "(--bone-mm); lengths scale linearly with it",
        },
        "pose_normalised": _r(pose_norm, 5),
        "joints_rel_mm": _r(placed["rel_mm_cam"] if crop.has_K else placed["rel_mm_crop"]),
        "frame": ("camera (x right, y down, z forward): the crop's viewpoint correction undone with K"
                  if crop.has_K else "crop: a camera looking along the box centre (no K given, so the box centre "
                  "is taken as the principal point); x right, y down, z forward"),
        "uv_px": _r(placed["uv_img"], 2),
        "projection": ("perspective with K; the root depth is fitted so the joints fill the box as in training"
                       if crop.has_K else "orthographic fit: the joints' bounding box centred in the crop box, "
                       f"filling {JOINT_FILL:g} / margin of it as in training"),
    }
    if decision["requested"] == "auto":
        rec["hand_decision"] = decision
    warning = scale_warning(pose_norm)
    if warning:
        rec["warning"] = warning
    if crop.has_K:
        rec["camera"] = {"K": _r(crop.K, 4), "joints_cam_mm": _r(placed["cam_mm"]),
                         "root_depth_mm": round(float(placed["root_depth_mm"]), 1),
                         "note": "absolute position estimated from the assumed scale and the box size"}
    return rec


def predict_image(pred: Predictor, path: str | os.PathLike, out_dir: str | os.PathLike, name: str,
                  opt: PredictOptions) -> dict:
    """Predict one image and write its four files; returns the JSON record. Raises UserError naming ``path``."""
    path, out_dir = Path(path), Path(out_dir)
    image = read_image(path)
    h, w = image.shape[:2]
    if opt.bbox is not None:
        check_bbox_inside(opt.bbox, w, h, str(path))
    u_c, v_c, half = crop_box(opt.bbox, w, h, opt.margin)
    crop = crop_image(image, (u_c, v_c), half, pred.size, opt.K, opt.max_downsample,
                      source="bbox" if opt.bbox is not None else "whole image")
    pose_norm, decision = pred.predict(crop.pixels, opt.hand, opt.hand_score, opt.tta_deg)
    margin = opt.margin if opt.bbox is not None else 1.25  # a whole image is assumed framed like a training crop
    placed = place_pose(pose_norm, crop, 2.0 * opt.bone_mm, margin)
    rec = record(path, image, crop, pose_norm, placed, opt, pred, decision)
    from PIL import Image

    rel = placed["rel_mm_cam"] if crop.has_K else placed["rel_mm_crop"]
    pictures = {
        "overlay": (overlay(image, placed["uv_img"], crop.geom.box), f"{name}_overlay.png"),
        "plot_3d": (plot_3d(rel, f"{path.name} (mm, root = middle MCP)"), f"{name}_3d.png"),
        "crop": (Image.fromarray(crop.pixels), f"{name}_crop.png"),
    }
    rec["files"] = {k: str(save_png_atomic(img, out_dir / fname)) for k, (img, fname) in pictures.items()}
    write_bytes_atomic(out_dir / f"{name}.json", dumps(rec).encode())
    return rec


def unique_names(paths: list[Path]) -> list[str]:
    """Output names: each file's stem; ``stem_ext`` and then ``stem_ext_N`` where stems repeat."""
    used: set[str] = set()
    names = []
    for p in paths:
        name = p.stem
        if name in used:
            name = f"{p.stem}_{p.suffix.lstrip('.')}"
        base, i = name, 2
        while name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        names.append(name)
    return names


def predict_batch(pred: Predictor, paths: list[Path], out_dir: str | os.PathLike, opt: PredictOptions,
                  progress: bool = True) -> tuple[list[dict], list[tuple[str, str]]]:
    """Predict every image; a bad one is recorded and skipped. Returns (records, [(path, reason)])."""
    from tqdm import tqdm

    records, failures = [], []
    bar = tqdm(list(zip(paths, unique_names(paths))), desc="predict", unit="img", disable=not progress)
    for path, name in bar:
        try:
            records.append(predict_image(pred, path, out_dir, name, opt))
            if "warning" in records[-1]:
                tqdm.write(f"handvae predict: warning: {path}: {records[-1]['warning']}", file=sys.stderr)
        except UserError as err:
            failures.append((str(path), str(err)))
            tqdm.write(f"handvae predict: skipped: {err}", file=sys.stderr)
    return records, failures
