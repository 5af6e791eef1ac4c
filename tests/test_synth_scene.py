"""Rendered samples: labels, keypoints, depth and visibility agree with the 3D joints."""

import numpy as np
import pytest

from handvae.synth.generate import make_sample, scene_options
from handvae.synth.render import project
from handvae.synth.scene import SceneOptions

N = 10


@pytest.fixture(scope="module", params=["mesh", "capsule"])
def samples(request):
    opt = SceneOptions(width=112, height=112, hand_model=request.param)
    return [make_sample(11, "training", i, opt) for i in range(N)]


def _dominant(mask):
    left = int(np.sum((mask >= 2) & (mask <= 17)))
    right = int(np.sum((mask >= 18) & (mask <= 33)))
    return ("left", left, 2) if left >= right else ("right", right, 18)


def test_shapes_and_types(samples):
    s = samples[0]
    assert s.rgb.shape == (112, 112, 3) and s.rgb.dtype == np.uint8
    assert s.mask.shape == (112, 112) and s.mask.dtype == np.uint8
    assert s.depth_mm.shape == (112, 112) and np.all(np.isfinite(s.depth_mm))
    assert s.joints_mm.shape == (42, 3) and s.visible.shape == (42,)


def test_keypoints_are_the_projections_of_the_joints(samples):
    for s in samples:
        x, y, z = s.joints_mm.T
        u = s.K[0, 0] * x / z + s.K[0, 2]  # pinhole by hand
        v = s.K[1, 1] * y / z + s.K[1, 2]
        assert np.all(np.abs(s.uv[:, 0] - u) < 0.5) and np.all(np.abs(s.uv[:, 1] - v) < 0.5)


def test_depth_at_visible_joints_is_within_the_surface_radius(samples):
    total = 0
    for s in samples:
        for i in np.nonzero(s.visible)[0]:
            u, v = np.rint(s.uv[i]).astype(int)
            assert abs(s.depth_mm[v, u] - s.joints_mm[i, 2]) <= s.joint_radius_mm[i] + 1e-6
            total += 1
        assert np.all(s.joint_radius_mm <= 45.0)  # no joint is given a huge radius
    assert total > 5 * N  # most samples show many visible joints


def test_invisible_means_occluded_or_outside(samples):
    for s in samples:
        for i in np.nonzero(~s.visible)[0]:
            u, v = np.rint(s.uv[i]).astype(int)
            if 0 <= u < 112 and 0 <= v < 112 and s.joints_mm[i, 2] > 0:
                side_base = 2 if i < 21 else 18
                own = side_base <= s.mask[v, u] <= side_base + 15
                near = abs(s.depth_mm[v, u] - s.joints_mm[i, 2]) <= s.joint_radius_mm[i]
                front = s.depth_mm[max(v - 1, 0) : v + 2, max(u - 1, 0) : u + 2].min()
                hidden = front < s.joints_mm[i, 2] - s.joint_radius_mm[i] - 10.0  # an edge in front
                assert not (own and near) or hidden or i % 21 == 0


def test_nothing_lies_in_front_of_a_visible_joint(samples):
    """The audit's check: around a visible joint's pixel (3x3) the depth map shows nothing more than
    the joint's skin radius + 10 mm in front of it."""
    for s in samples:
        for i in np.nonzero(s.visible)[0]:
            u, v = np.rint(s.uv[i]).astype(int)
            front = s.depth_mm[max(v - 1, 0) : v + 2, max(u - 1, 0) : u + 2].min()
            assert s.joints_mm[i, 2] - front <= s.joint_radius_mm[i] + 10.0 + 1e-9


def test_mask_of_dominant_hand_is_non_empty_and_in_range(samples):
    with_joints = 0
    for s in samples:
        assert set(np.unique(s.mask)) <= set(range(34))
        side, count, base = _dominant(s.mask)
        assert count > 20
        labels = np.unique(s.mask[(s.mask >= base) & (s.mask <= base + 15)])
        assert base + 15 in labels or len(labels) >= 3  # palm or several phalanges
        rows = slice(0, 21) if side == "left" else slice(21, 42)
        with_joints += int(s.visible[rows].sum() >= 3)
    assert with_joints >= 0.6 * N  # occluders and self-occlusion hide joints only now and then


def test_main_hand_side_and_mask_side_agree(samples):
    for s in samples:
        base = 2 if s.main_side == "left" else 18
        assert np.any((s.mask >= base) & (s.mask <= base + 15))


def test_stb_world_uses_stb_camera_and_left_hand():
    opt = scene_options("stb")
    s = make_sample(3, "train", 0, opt)
    assert s.rgb.shape == (480, 640, 3) and s.main_side == "left"
    assert np.allclose(s.K, opt.K)
    assert np.allclose(project(s.joints_mm, s.K), s.uv)


def test_world_overrides_are_typed_and_checked():
    from handvae.errors import UserError

    opt = scene_options("rhd", 96, {"hand_model": "capsule", "p_sleeve": "0", "hand_span": "0.5,0.9"})
    assert (opt.hand_model, opt.p_sleeve, opt.hand_span, opt.width) == ("capsule", 0.0, (0.5, 0.9), 96)
    bad_values = (({"p_sleve": "0"}, "p_sleve"), ({"p_sleeve": "x"}, "p_sleeve"),
                  ({"hand_model": "voxel"}, "hand_model"), ({"pose_sampler": "gauss"}, "pose_sampler"))  # fmt: skip
    for bad, word in bad_values:
        with pytest.raises(UserError, match=word):
            scene_options("rhd", 96, bad)


def test_uniform_pose_sampler_is_used_for_both_hands():
    opt = scene_options("rhd", 64, {"pose_sampler": "uniform"})
    fams = [make_sample(2, "training", i, opt).info["families"] for i in range(3)]
    assert all(f == {"left": "uniform", "right": "uniform"} for f in fams)


@pytest.mark.parametrize("model", ["mesh", "capsule"])
def test_without_forearm_the_person_label_nearly_vanishes(model):
    def arm_pixels(forearm):
        opt = scene_options("rhd", 96, {"hand_model": model, "forearm": forearm})
        return sum(int(np.sum(make_sample(5, "training", i, opt).mask == 1)) for i in range(4))

    with_arm, without = arm_pixels("true"), arm_pixels("false")
    assert with_arm > 200
    # capsules: nothing is labelled "person" any more; the mesh keeps the faces that touch the hand
    assert without == 0 if model == "capsule" else without < 0.2 * with_arm


def test_dead_leaves_cover_the_image_with_many_occluding_discs():
    from handvae.synth.appearance import dead_leaves

    img = dead_leaves(np.random.default_rng(0), 64, 80)
    colours, counts = np.unique(img.reshape(-1, 3), axis=0, return_counts=True)
    assert img.shape == (64, 80, 3) and len(colours) > 50  # many leaves are seen
    assert counts.max() < 0.3 * img.shape[0] * img.shape[1]  # no single leaf (or the fill) dominates
    flat = dead_leaves(np.random.default_rng(0), 16, 16, n=0)
    assert len(np.unique(flat.reshape(-1, 3), axis=0)) == 1  # no disc: only the farthest leaf


@pytest.mark.parametrize(("index", "cleared"), [(18063, ["objects"]), (29308, ["objects", "other hand"])])
def test_the_main_hand_is_never_hidden_entirely(index, cleared):
    # two scenes of the default world (seed 0) whose main hand was hidden before: by an occluder in
    # front, and by the other hand's forearm; both are cleared away and the main hand shows
    s = make_sample(0, "train", index, SceneOptions())
    assert s.info["cleared"] == cleared
    base = 18 if s.main_side == "right" else 2
    assert np.sum((s.mask >= base) & (s.mask <= base + 15)) > 1000
    assert s.visible[(0 if s.main_side == "left" else 21) :][:21].sum() >= 5
