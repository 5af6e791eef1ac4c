"""Pose and orientation samplers: named gestures and grasps, blends, uniform within the limits.

Real hands spend most of their time in a few grasp and gesture families and near relaxed poses;
uniform joint angles over-represent implausible poses. The sampler mixes: a named gesture with
per-joint noise, a blend of two gestures, a relaxed pose, and (rarely) uniform angles within the
limits with the natural PIP/DIP coupling. All angles are clipped to :data:`hand.LOWER`/`UPPER`.
"""

from __future__ import annotations

import numpy as np

from handvae.synth.hand import DEG, LOWER, UPPER, WRIST_LOWER, WRIST_UPPER

_EXT = (0, 0, 5, 3)  # an extended long finger (abduction filled in per finger)
_FIST = (88, 0, 100, 55)
_SPREAD = (0.0, 8.0, 0.0, -6.0, -14.0)  # abduction of an open hand per finger, degrees


def _g(thumb, index, middle, ring, little, spread=0.0):
    rows = np.array([thumb, index, middle, ring, little], dtype=np.float64)
    rows[1:, 1] += spread * np.array(_SPREAD[1:])
    return rows


# rows: thumb (CMC flex, CMC abd, MCP, IP), index..little (MCP flex, MCP abd, PIP, DIP); degrees
GESTURES: dict[str, np.ndarray] = {
    "open": _g((0, 15, 5, 5), _EXT, _EXT, _EXT, _EXT, spread=1.0),
    "flat": _g((-5, -5, 0, 0), _EXT, _EXT, _EXT, _EXT, spread=0.2),
    "relaxed": _g(
        (15, 15, 15, 15), (20, 0, 30, 15), (28, 0, 38, 20), (35, 0, 45, 22), (42, 0, 50, 25), spread=0.5
    ),
    "fist": _g((40, 5, 45, 40), _FIST, _FIST, _FIST, _FIST),
    "point": _g((35, 5, 40, 30), _EXT, _FIST, _FIST, _FIST),
    "pinch": _g(
        (40, 25, 20, 20), (45, 0, 45, 25), (30, 0, 40, 20), (35, 0, 45, 20), (40, 0, 50, 25), spread=0.5
    ),
    "ok": _g((40, 25, 20, 25), (55, 0, 55, 35), _EXT, _EXT, _EXT, spread=1.0),
    "victory": _g((45, 0, 40, 35), (0, 10, 5, 3), (0, -8, 5, 3), _FIST, _FIST),
    "thumbs_up": _g((-10, 20, 0, 0), _FIST, _FIST, _FIST, _FIST),
    "three": _g((45, 0, 40, 35), _EXT, _EXT, _EXT, _FIST, spread=0.8),
    "four": _g((50, 0, 35, 30), _EXT, _EXT, _EXT, _EXT, spread=0.8),
    "horns": _g((40, 0, 40, 30), _EXT, _FIST, _FIST, _EXT, spread=1.0),
    "call": _g((-10, 25, 0, 0), _FIST, _FIST, _FIST, _EXT, spread=1.0),
    "L": _g((-10, 30, 0, 0), _EXT, _FIST, _FIST, _FIST),
    "cylinder": _g((30, 30, 20, 20), (50, 0, 60, 30), (55, 0, 62, 30), (58, 0, 64, 30), (60, 0, 66, 32)),
    "sphere": _g(
        (25, 35, 15, 15), (35, 0, 35, 25), (38, 0, 38, 25), (40, 0, 40, 25), (42, 0, 42, 25), spread=1.0
    ),
    "tripod": _g((40, 25, 20, 25), (45, -5, 45, 25), (50, 5, 50, 25), (60, 0, 65, 35), (65, 0, 70, 35)),
    "claw": _g((20, 20, 35, 35), (5, 0, 85, 65), (5, 0, 85, 65), (5, 0, 85, 65), (5, 0, 85, 65), spread=0.6),
    "hook": _g((10, 10, 10, 10), (0, 0, 90, 50), (0, 0, 90, 50), (0, 0, 90, 50), (0, 0, 90, 50)),
    "key": _g((15, 0, 30, 20), (70, 0, 80, 40), (80, 0, 90, 50), (85, 0, 95, 50), (88, 0, 100, 55)),
    "writing": _g((35, 20, 25, 20), (40, -5, 35, 15), (45, 5, 50, 30), (70, 0, 80, 40), (75, 0, 85, 45)),
}
# gestures where the thumb tip meets another point: (target joints averaged, contact distance mm)
CONTACTS: dict[str, tuple[tuple[int, ...], float]] = {
    "pinch": ((5,), 9.0),
    "ok": ((5,), 9.0),
    "tripod": ((5, 9), 10.0),
    "writing": ((5,), 12.0),
    "key": ((6,), 13.0),
}
# gestures whose thumb holds folded fingers down or lies on the palm: in a fist it rests on the index and
# middle fingers' middle phalanges, in point on the middle finger's, in victory on the ring finger's, in
# horns on the middle and ring fingers'; in three and four it folds across the palm towards the little
# finger's PIP and the middle finger's MCP as far as this thumb reaches (it has no axial rotation, so it
# cannot oppose fully). Without these (``thumb_holds=False``, the world before session 20) the table's
# angles leave the thumb tip 53-89 mm in front of the long fingers' farthest joint, 0-18 mm with them
# (benchmarks/thumb_holds.py).
THUMB_HOLDS: dict[str, tuple[tuple[int, ...], float]] = {
    "fist": ((6, 7, 10, 11), 16.0),
    "point": ((10, 11), 16.0),
    "victory": ((14, 15), 16.0),
    "horns": ((10, 11, 14, 15), 16.0),
    "three": ((19,), 34.0),
    "four": ((12,), 30.0),
}
_SOLVED: dict[bool, dict[str, np.ndarray]] = {}


def contacts(thumb_holds: bool = True) -> dict[str, tuple[tuple[int, ...], float]]:
    """The thumb-tip targets of the gesture table: :data:`CONTACTS`, and :data:`THUMB_HOLDS` when asked."""
    return {**CONTACTS, **THUMB_HOLDS} if thumb_holds else dict(CONTACTS)


def solve_contact_gestures(thumb_holds: bool = True) -> dict[str, np.ndarray]:
    """The gesture table (degrees) with the thumb angles of every gesture in :func:`contacts` solved
    (default proportions) so that the thumb tip reaches its target; computed once per process."""
    if thumb_holds in _SOLVED:
        return _SOLVED[thumb_holds]
    from scipy.optimize import least_squares

    from handvae.synth.hand import HandProportions, forward_kinematics

    prop = HandProportions()
    solved: dict[str, np.ndarray] = {}
    targets_of = contacts(thumb_holds)
    for name, deg in GESTURES.items():
        rows = deg.copy()
        if name in targets_of:
            targets, dist = targets_of[name]

            def resid(th, rows=rows, targets=targets, dist=dist):
                a = np.radians(rows.copy())
                a[0] = th
                j = forward_kinematics(prop, a).joints
                gap = np.linalg.norm(j[1] - j[list(targets)].mean(axis=0)) - dist
                return np.concatenate([[gap], 0.05 * (th - np.radians(rows[0])) * 30])

            x0 = np.clip(np.radians(rows[0]), LOWER[0] + 1e-6, UPPER[0] - 1e-6)
            sol = least_squares(resid, x0, bounds=(LOWER[0], UPPER[0]))
            rows[0] = np.degrees(sol.x)
        solved[name] = rows
    _SOLVED[thumb_holds] = solved
    return solved


GRASPS = ("cylinder", "sphere", "pinch", "tripod", "key", "writing", "hook")


def clip_angles(angles: np.ndarray) -> np.ndarray:
    """Clip ``(5, 4)`` radians to the joint limits."""
    return np.clip(angles, LOWER, UPPER)


def sample_uniform_pose(rng: np.random.Generator) -> np.ndarray:
    """Angles ``(5, 4)`` rad uniform within the limits, with the natural DIP-PIP coupling and
    reduced abduction (the world's old sampler, kept for the ablation)."""
    rad = rng.uniform(LOWER, UPPER)
    rad[1:, 3] = np.clip(rad[1:, 2] * 0.67 + rng.normal(0.0, 10 * DEG, size=4), LOWER[1:, 3], UPPER[1:, 3])
    rad[1:, 1] *= 0.6
    return clip_angles(rad)


def sample_pose(
    rng: np.random.Generator, sampler: str = "natural", thumb_holds: bool = True
) -> tuple[np.ndarray, str]:
    """One finger pose: ``(angles (5, 4) rad, family name)``. ``sampler``: 'natural' (gesture and
    grasp families, blends, relaxed poses, rarely uniform) or 'uniform' (always uniform);
    ``thumb_holds``: the natural families' thumbs touch what they hold (:data:`THUMB_HOLDS`)."""
    if sampler == "uniform":
        return sample_uniform_pose(rng), "uniform"
    if sampler != "natural":
        raise ValueError(f"pose sampler must be 'natural' or 'uniform', got {sampler!r}")
    table = solve_contact_gestures(thumb_holds)
    names = list(table)
    u = rng.random()
    if u < 0.55:
        name = names[rng.integers(len(names))]
        deg = table[name] + rng.normal(0.0, 6.0, size=(5, 4))
    elif u < 0.8:
        n1, n2 = (names[i] for i in rng.choice(len(names), size=2, replace=False))
        lam = rng.uniform(0.15, 0.85)
        deg = (1 - lam) * table[n1] + lam * table[n2] + rng.normal(0.0, 5.0, size=(5, 4))
        name = f"{n1}+{n2}"
    elif u < 0.92:
        name = "relaxed"
        deg = table["relaxed"] * rng.uniform(0.3, 1.6) + rng.normal(0.0, 8.0, size=(5, 4))
    else:
        return sample_uniform_pose(rng), "uniform"
    # keep neighbouring fingers' abduction from crossing: mostly small around the gesture's spread
    return clip_angles(deg * DEG), name


def sample_wrist(rng: np.random.Generator) -> np.ndarray:
    """Wrist (flexion, deviation) in rad: mostly near neutral."""
    w = np.array([rng.normal(0.0, 22.0), rng.normal(0.0, 9.0)]) * DEG
    return np.clip(w, WRIST_LOWER, WRIST_UPPER)


def sample_orientation(rng: np.random.Generator) -> np.ndarray:
    """Rotation (3, 3) from the right-hand local frame to the camera frame (x right, y down, z forward).

    The finger direction points mostly upwards in the image (a wide von Mises around "up" mixed
    with uniform roll), tilts up to 60 degrees towards or away from the camera, and the palm
    faces any way around the finger axis (palm, side and back views).
    """
    if rng.random() < 0.75:
        roll = rng.vonmises(0.0, 1.2)
    else:
        roll = rng.uniform(-np.pi, np.pi)
    tilt = rng.uniform(-60.0, 60.0) * DEG
    f = np.array([np.sin(roll) * np.cos(tilt), -np.cos(roll) * np.cos(tilt), np.sin(tilt)])
    helper = np.array([0.0, 0.0, 1.0]) if abs(f[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    z0 = np.cross(f, helper)
    z0 /= np.linalg.norm(z0)
    z1 = np.cross(f, z0)
    psi = rng.uniform(-np.pi, np.pi)
    n = np.cos(psi) * z0 + np.sin(psi) * z1
    x = np.cross(f, n)
    return np.stack([x, f, n], axis=1)
