"""``--hand auto``: which side a hand crop shows, decided by the model itself, without labels.

A model trained on right hands (left ones mirrored) sees a right hand as it is and a left hand
mirrored. :func:`choose_hand` predicts both views of the crop, the crop as it is ("right") and its
mirror image ("left", the prediction's x negated back), and keeps the view the model finds more
plausible by a score ``s(view)`` (higher = more plausible), one of :data:`SCORES`:

- ``confidence``: ``-mean_z log sigma_z^2`` of ``q(z | R)`` (nats per latent dimension): the VAE's
  own certainty, i.e. minus the posterior's entropy per dimension up to a constant (its
  variance shrinks on inputs like its training data);
- ``kl``: ``-KL(q(z | R) || N(0, I))`` (nats): a posterior close to the prior, the latent region
  that training covered;
- ``stability``: ``-mean`` joint distance (normalised units) between the view's pose and its
  poses on the view rotated by +-:data:`STABILITY_DEG` about the crop centre, rotated back (a
  rotation about the camera axis, as training augmented): a model that understands the
  view predicts the same hand whatever its roll;
- ``probe``: the logit of a small classifier on the RGB trunk's features, fitted to tell the
  model's training crops from their mirror images (:mod:`handvae.predict.hand_probe`); needs the
  model's probe (released models ship one).

Mirror symmetry holds by construction: the score of a side is a deterministic function of the image
fed to the network (each view in its own forward pass, same batch layout), and mirroring twice is
the identity, so the "right" view of mirror(X) is the "left" view of X and vice versa. Hence auto on
mirror(X) picks the side opposite to auto on X, with the same pose mirrored (x negated). Only an
exact tie (a mirror-symmetric crop) breaks it: ties go to "right".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from handvae.data.rgb import rgb_input
from handvae.errors import UserError
from handvae.models.latent import kl_to_standard_normal
from handvae.models.tta import rolled_poses
from handvae.predict.hand_probe import HandProbe, probe_logit

SCORES = ("confidence", "kl", "stability", "probe")
DEFAULT_SCORE = "stability"  # of the label-free scores, chosen on a synthetic selection split (docs/MODELS.md)
STABILITY_DEG = 20.0
MIRROR_X = np.array([-1.0, 1.0, 1.0])


@dataclass
class HandChoice:
    """The decision of :func:`choose_hand`. Poses ``(21, 3)`` float64, normalised units, the photo's crop frame."""

    hand: str  # "right" or "left": the side the crop is taken to show
    pose: np.ndarray  # the chosen side's pose (for "left", predicted on the mirror image and mirrored back)
    score: str  # the name of the score
    scores: dict[str, float] = field(default_factory=dict)  # per side, higher = more plausible
    poses: dict[str, np.ndarray] = field(default_factory=dict)  # per side

    def as_dict(self) -> dict:
        """JSON-able summary (no poses)."""
        return {"chosen": self.hand, "score": self.score, "scores": {k: float(v) for k, v in self.scores.items()}}


def _stability(model: torch.nn.Module, rgb: torch.Tensor, pose: torch.Tensor) -> float:
    """-mean joint distance between ``pose (21, 3)`` and the poses of the rolled views, rotated back."""

    back = rolled_poses(model, rgb, (STABILITY_DEG, -STABILITY_DEG))[:, 0]
    return -float((back - pose[None]).norm(dim=-1).mean())


@torch.no_grad()
def view_score(model: torch.nn.Module, pixels: np.ndarray, score: str = DEFAULT_SCORE,
               probe: HandProbe | None = None) -> tuple[np.ndarray, float]:
    """``(pose (21, 3) float64 normalised units, plausibility)`` of the crop ``pixels (S, S, 3) uint8`` as it is.

    ``probe``: the model's hand probe, needed by (only) the score ``probe``."""
    if score not in SCORES:
        raise UserError(f"hand score {score!r}: expected one of {', '.join(SCORES)}")
    if score == "probe" and probe is None:
        raise UserError("hand score 'probe': this model has no hand probe (released models ship one; "
                        "tools/fit_hand_probe.py fits one); use another --hand-score")
    rgb = rgb_input(pixels).to(next(model.parameters()).device)
    q = model.encode_rgb(rgb)
    pose = model.decode(q.mu, "P")
    if score == "confidence":
        value = -float(q.logvar.double().mean())
    elif score == "kl":
        value = -float(kl_to_standard_normal(q).double()[0])
    elif score == "probe":
        value = probe_logit(model, probe, pixels)
    else:
        value = _stability(model, rgb, pose[0])
    return pose[0].double().cpu().numpy(), value


def choose_hand(model: torch.nn.Module, pixels: np.ndarray, score: str = DEFAULT_SCORE,
                probe: HandProbe | None = None) -> HandChoice:
    """Predict ``pixels (S, S, 3) uint8`` as a right hand and, mirrored, as a left one; keep the more plausible.

    ``model``: trained on right hands (``predict_pose``, ``encode_rgb``, ``decode``). See the module
    doc for the scores and why auto on the mirror image picks the opposite side.
    """
    right_pose, right = view_score(model, pixels, score, probe)
    left_pose, left = view_score(model, pixels[:, ::-1], score, probe)
    poses = {"right": right_pose, "left": left_pose * MIRROR_X}
    hand = "left" if left > right else "right"
    return HandChoice(hand=hand, pose=poses[hand], score=score, scores={"right": right, "left": left}, poses=poses)
