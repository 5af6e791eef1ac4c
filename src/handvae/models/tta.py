"""Test-time rolls: a pose predicted on copies of the crop rotated about its centre, rotated back.

Training augments by rotations about the camera axis (the crop centre), so a model should predict
the same hand whatever its roll; the poses of rolled copies, rotated back, are further views of the
same answer. :func:`rolled_poses` gives them; :func:`predict_pose_tta` averages the crop's pose with
those of its copies rolled by ``+deg`` and ``-deg`` (three forward passes). ``--hand auto``'s
``stability`` score (:mod:`handvae.predict.handedness`) measures how far they disagree.

:data:`TTA_DEG` was chosen on a synthetic selection split (500 scenes of the release world, seed 1),
never on real photos: docs/MODELS.md.
"""

from __future__ import annotations

import math

import torch

from handvae.data.augment import identity_params, rotation_z, warp

TTA_DEG = 30.0


def rolled_poses(model: torch.nn.Module, rgb: torch.Tensor, degrees: tuple[float, ...],
                 zoom: float = 1.0) -> torch.Tensor:
    """``rgb (N, 3, S, S)`` -> ``(len(degrees), N, 21, 3)``: the pose of the crop rolled by each angle
    (degrees, about the crop centre, black outside, as training warps; ``zoom``: training's scale about
    the centre, 1 = none), rotated back to the crop's frame.

    A view rolled by angle a shows the hand rotated by ``R_z(a)``, so its pose is ``p' = R_z(a) p``;
    in row form ``p = p' R_z(a)``.
    """
    n = len(rgb)
    angles = torch.tensor([math.radians(d) for d in degrees], dtype=torch.float32, device=rgb.device)
    params = identity_params(n * len(degrees), rgb.device)
    params["angle"] = angles.repeat_interleave(n)
    params["scale"] = torch.full((n * len(degrees),), float(zoom), device=rgb.device)
    views = warp(rgb.repeat(len(degrees), 1, 1, 1), params)
    turned = model.predict_pose(views).reshape(len(degrees), n, 21, 3)
    return turned @ rotation_z(angles.to(turned.dtype))[:, None]


def predict_pose_tta(model: torch.nn.Module, rgb: torch.Tensor, deg: float = TTA_DEG) -> torch.Tensor:
    """``rgb (N, 3, S, S)`` -> ``(N, 21, 3)`` normalised: the mean of the crop's pose and those of its
    copies rolled by ``+deg`` and ``-deg``; ``deg`` 0 is the single plain pass."""
    pose = model.predict_pose(rgb)
    if deg == 0:
        return pose
    return torch.cat([pose[None], rolled_poses(model, rgb, (deg, -deg))]).mean(0)
