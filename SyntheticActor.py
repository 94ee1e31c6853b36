"""Render our own people: an anny body posed through scripted moves, rasterised on the CPU.

    python SyntheticActor.py OUT.mp4 --actor {maya,leo} --routine {target,source} [--frames N]
    python SyntheticActor.py --demo-data          # re-render the three shipped videos in data/

The project may not ship anyone's real footage, so the demo target and source are rendered
here. Because we pose them ourselves we also know the exact truth, including the target
performing the source's routine (data/demo_transfer_truth.mp4), which no real dataset gives.
Next to every OUT.mp4 goes OUT.npz: per frame the 3-D COCO keypoints of the body, their 2-D
projections in pixels, and the camera.

Needs `pip install --no-deps -r requirements-actor.txt`; anny's first model build takes about a
minute and writes ~790 MB to ANNY_CACHE_DIR (default here: ~/.cache/anny).
"""
import argparse
import io
import math
import os
import time
import warnings

import numpy as np

from cli import HelpFormatter, UserError, run_cli
from files import atomic_write_bytes
from video_io import VideoWriter

FPS = 25
IMAGE_SIZE = 512
SUPERSAMPLE = 2
CAMERA = {"distance": 4.2, "height": 0.95, "focal": 880.0}  # metres, metres, pixels at 512
COCO_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
              "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
              "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_big_toe",
              "right_big_toe", "left_small_toe", "right_small_toe", "left_heel", "right_heel"]

# Two clearly different people: anny phenotype values and clothing (BGR colours, 0..1).
ACTORS = {
    "maya": {"phenotype": {"gender": 0.9, "age": 0.45, "muscle": 0.45, "weight": 0.45, "height": 0.5},
             "skin": (0.62, 0.72, 0.90), "hair": (0.08, 0.12, 0.22), "long_hair": True,
             "top": (0.20, 0.15, 0.75), "long_sleeves": True, "bottom": (0.35, 0.22, 0.12),
             "long_legs": True, "shoes": (0.92, 0.92, 0.92)},
    "leo": {"phenotype": {"gender": 0.1, "age": 0.5, "muscle": 0.7, "weight": 0.6, "height": 0.65},
            "skin": (0.30, 0.42, 0.58), "hair": (0.05, 0.05, 0.05), "long_hair": False,
            "top": (0.15, 0.75, 0.85), "long_sleeves": False, "bottom": (0.25, 0.45, 0.30),
            "long_legs": False, "shoes": (0.12, 0.12, 0.15)},
}
WALL = np.array([0.80, 0.84, 0.86])
FLOOR = np.array([0.45, 0.55, 0.62])

_model_cache = {}


def load_anny():
    """anny's body model (built once per process; the first build ever takes about a minute)."""
    if "model" not in _model_cache:
        os.environ.setdefault("ANNY_CACHE_DIR", os.path.expanduser("~/.cache/anny"))
        try:
            import anny
        except ImportError:
            raise UserError("SyntheticActor needs the actor requirements: "
                            "pip install --no-deps -r requirements-actor.txt") from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Fallback to lbs skinning" without warp-lang
            model = anny.Anny(pose_parameterization="local-ref")
        _model_cache["model"] = model
        _model_cache["keypoints"] = anny.KeypointsRegressor.coco(model)
    return _model_cache["model"], _model_cache["keypoints"]


# --- motions ---------------------------------------------------------------------------------
# A pose is {bone: rotation vector (radians, world-aligned axes: x = the subject's left,
# y = backwards, z = up)} plus "root_x" (sideways shift, metres) and "root_turn" (radians).
# Every move is a function of its phase p in [0, 1] that starts and ends at NEUTRAL, so moves
# chain into routines without jumps.
D = math.pi / 180
NEUTRAL = {"upperarm01.L": (0, 32 * D, 0), "upperarm01.R": (0, -32 * D, 0),
           "lowerarm01.L": (-10 * D, 0, 0), "lowerarm01.R": (-10 * D, 0, 0)}


def _bell(p):
    """0 at p=0 and p=1, 1 in the middle; sin rather than sin^2 so that a move spends its time
    across the whole range of its angles rather than near the neutral stance."""
    return math.sin(math.pi * p)


def _arm(side, raise_side=0.0, raise_front=0.0, elbow=0.0):
    """Shoulder abduction/flexion and elbow flexion (radians) for one arm, on top of NEUTRAL."""
    s = 1 if side == "L" else -1
    base = NEUTRAL[f"upperarm01.{side}"][1]
    return {f"upperarm01.{side}": (-raise_front, base - s * raise_side, 0),
            f"lowerarm01.{side}": (-10 * D - elbow, 0, 0)}


def _leg(side, hip_flex=0.0, hip_abduct=0.0, knee=0.0, ankle=0.0):
    s = 1 if side == "L" else -1
    return {f"upperleg01.{side}": (-hip_flex, -s * hip_abduct, 0), f"lowerleg01.{side}": (knee, 0, 0),
            f"foot.{side}": (ankle, 0, 0)}


def _spine(bend=0.0, turn=0.0, side=0.0):
    """Spread a bend (forward), a turn (about the vertical) and a side lean over four vertebrae."""
    return {b: (bend / 4, side / 4, turn / 4) for b in ("spine05", "spine04", "spine03", "spine02")}


def move_arm_circles(p, amp=1.0):
    a = 2 * math.pi * p
    env = _bell(p) ** 0.5
    pose = {}
    pose.update(_arm("L", raise_side=env * amp * (0.6 + 0.5 * math.sin(a)),
                     raise_front=env * amp * (0.9 + 0.7 * math.cos(a)), elbow=env * 0.5))
    pose.update(_arm("R", raise_side=env * amp * (0.6 - 0.5 * math.sin(a)),
                     raise_front=env * amp * (0.9 - 0.7 * math.cos(a)), elbow=env * 0.5))
    pose.update(_spine(turn=env * 0.25 * math.sin(a)))
    return pose


def move_arm_raise_side(p, amp=1.0):
    e = _bell(p)
    return {**_arm("L", raise_side=e * amp * 2.6), **_arm("R", raise_side=e * amp * 2.6)}


def move_arm_raise_front(p, amp=1.0):
    e = _bell(p)
    return {**_arm("L", raise_front=e * amp * 2.8, elbow=e * 0.2),
            **_arm("R", raise_front=e * amp * 1.6, elbow=e * 0.9)}


def move_side_step(p, amp=1.0):
    e = _bell(p)
    lift = math.sin(2 * math.pi * p) ** 2
    return {"root_x": amp * 0.45 * math.sin(math.pi * p) * (1 if amp > 0 else -1),
            **_leg("L", hip_abduct=lift * 0.35, knee=lift * 0.3), **_leg("R", hip_abduct=lift * 0.2),
            **_arm("L", raise_side=e * 0.6), **_arm("R", raise_side=e * 0.6)}


def move_squat(p, amp=1.0):
    e = _bell(p) * amp
    return {**_leg("L", hip_flex=e * 1.3, knee=e * 2.0, ankle=-e * 0.7, hip_abduct=e * 0.15),
            **_leg("R", hip_flex=e * 1.3, knee=e * 2.0, ankle=-e * 0.7, hip_abduct=e * 0.15),
            **_spine(bend=e * 0.5),
            **_arm("L", raise_front=e * 1.5), **_arm("R", raise_front=e * 1.5)}


def move_knee_lift(p, amp=1.0, side="L"):
    e = _bell(p) * amp
    other = "R" if side == "L" else "L"
    return {**_leg(side, hip_flex=e * 1.6, knee=e * 1.7),
            **_arm(other, raise_front=e * 1.2, elbow=e * 1.2), **_arm(side, raise_side=e * 0.5)}


def move_front_kick(p, amp=1.0, side="R"):
    e = _bell(p) * amp
    snap = max(0.0, math.sin(math.pi * (2 * p - 0.5))) if 0.25 < p < 0.75 else 0.0
    return {**_leg(side, hip_flex=e * 1.4, knee=e * 1.6 * (1 - snap)), **_spine(bend=-e * 0.15),
            **_arm("L", elbow=e * 1.8, raise_front=e * 0.5), **_arm("R", elbow=e * 1.8, raise_front=e * 0.5)}


def move_side_kick(p, amp=1.0, side="L"):
    e = _bell(p) * amp
    s = 1 if side == "L" else -1
    return {**_leg(side, hip_abduct=e * 1.0, knee=e * 0.3), **_spine(side=-s * e * 0.35),
            **_arm(side, raise_side=e * 1.2), **_arm("R" if side == "L" else "L", raise_side=e * 0.8)}


def move_torso_turn(p, amp=1.0):
    t = math.sin(2 * math.pi * p) * amp * 75 * D  # up to 75 degrees each way
    return {"root_turn": 0.25 * t, **_spine(turn=0.75 * t),
            **_arm("L", raise_side=abs(t) * 0.6, elbow=abs(t) * 0.8),
            **_arm("R", raise_side=abs(t) * 0.6, elbow=abs(t) * 0.8)}


def move_bend(p, amp=1.0):
    e = _bell(p) * amp
    return {**_spine(bend=e * 1.3), **_leg("L", hip_flex=e * 0.5), **_leg("R", hip_flex=e * 0.5),
            **_arm("L", raise_front=e * 0.9), **_arm("R", raise_front=e * 0.9)}


def move_punches(p, amp=1.0):
    a = 2 * math.pi * p * 2
    env = _bell(p) ** 0.5
    left, right = max(0.0, math.sin(a)), max(0.0, -math.sin(a))
    return {**_arm("L", raise_front=env * (0.6 + 1.0 * left * amp), elbow=env * (2.0 - 1.9 * left)),
            **_arm("R", raise_front=env * (0.6 + 1.0 * right * amp), elbow=env * (2.0 - 1.9 * right)),
            **_leg("L", hip_flex=env * 0.3, knee=env * 0.5), **_leg("R", hip_flex=env * 0.3, knee=env * 0.5),
            **_spine(turn=env * 0.3 * (left - right))}


def move_wave(p, amp=1.0, side="R"):
    e = _bell(p) ** 0.5
    return _arm(side, raise_side=e * 2.4 * amp, elbow=e * (0.6 + 0.5 * math.sin(6 * math.pi * p)))


MOVES = {"arm_circles": move_arm_circles, "arm_raise_side": move_arm_raise_side,
         "arm_raise_front": move_arm_raise_front, "side_step": move_side_step, "squat": move_squat,
         "knee_lift": move_knee_lift, "front_kick": move_front_kick, "side_kick": move_side_kick,
         "torso_turn": move_torso_turn, "bend": move_bend, "punches": move_punches, "wave": move_wave}

# Routines: (move, seconds, keyword arguments). The target's covers the pose space broadly (every
# move, both sides, several amplitudes); the source's is a different, shorter choreography.
ROUTINES = {
    "target": [("arm_circles", 4, {}), ("arm_raise_side", 2.4, {}), ("side_step", 2, {"amp": 1}),
               ("squat", 2.4, {}), ("knee_lift", 2, {"side": "L"}), ("knee_lift", 2, {"side": "R"}),
               ("torso_turn", 4, {}), ("front_kick", 2, {"side": "R"}), ("side_kick", 2, {"side": "L"}),
               ("bend", 2.4, {}), ("punches", 3, {}), ("wave", 2.4, {"side": "R"}),
               ("arm_raise_front", 2.4, {}), ("side_step", 2, {"amp": -1}), ("front_kick", 2, {"side": "L"}),
               ("side_kick", 2, {"side": "R"}), ("squat", 2, {"amp": 0.6}), ("arm_circles", 3.2, {"amp": 0.7}),
               ("wave", 2, {"side": "L"}), ("torso_turn", 3, {"amp": 0.6}), ("bend", 2, {"amp": 0.6}),
               ("arm_raise_side", 2, {"amp": 0.6}), ("punches", 2.4, {"amp": 0.7})],
    "source": [("wave", 1.6, {"side": "L"}), ("squat", 1.6, {"amp": 0.8}), ("punches", 2, {}),
               ("side_kick", 1.6, {"side": "R"}), ("arm_circles", 2.4, {"amp": 0.9}),
               ("torso_turn", 2.4, {"amp": 0.8}), ("arm_raise_front", 1.6, {"amp": 0.8})],
}


def routine_poses(routine, frames=None, seed=0):
    """The per-frame poses of a routine; with `frames`, the routine loops or is cut to fit.

    `seed` varies each move's amplitude a little (deterministically).
    """
    rng = np.random.default_rng(seed)
    poses = []
    steps = ROUTINES[routine]
    while frames is None or len(poses) < frames:
        for name, seconds, kwargs in steps:
            kwargs = dict(kwargs)
            jitter = 1.0 + 0.1 * rng.standard_normal() if seed else 1.0
            kwargs["amp"] = kwargs.get("amp", 1.0) * jitter
            n = int(round(seconds * FPS))
            poses += [MOVES[name]((i + 0.5) / n, **kwargs) for i in range(n)]
        if frames is None:
            break
    return poses[:frames] if frames else poses


# --- rendering -------------------------------------------------------------------------------
class Renderer:
    """Poses one actor and rasterises it with a small torch z-buffer (no OpenGL needed)."""

    def __init__(self, actor_name, size=IMAGE_SIZE):
        import torch

        if actor_name not in ACTORS:
            raise UserError(f"unknown actor {actor_name!r}; choose from {', '.join(ACTORS)}")
        self.torch = torch
        self.actor = ACTORS[actor_name]
        self.size = size
        self.model, self.keypoints = load_anny()
        self.faces = self.model.faces.long()
        self.bones = {name: i for i, name in enumerate(self.model.bone_labels)}
        self.phenotype = {k: torch.tensor([v], dtype=torch.float64) for k, v in self.actor["phenotype"].items()}
        rest = self.model(pose_parameters=torch.eye(4, dtype=torch.float64).repeat(1, len(self.bones), 1, 1),
                          phenotype_kwargs=self.phenotype)
        self.vertex_colours = self._vertex_colours(rest["rest_vertices"][0], rest["rest_bone_heads"][0])

    def _vertex_colours(self, rest_vertices, heads):
        """Clothing, skin, hair and shoes per vertex, from the bone that moves it most."""
        torch = self.torch
        model, a = self.model, self.actor
        dominant = model.vertex_bone_indices.gather(1, model.vertex_bone_weights.argmax(1, keepdim=True))[:, 0]
        names = [model.bone_labels[i] for i in dominant.tolist()]
        colours = np.zeros((len(names), 3))
        v = rest_vertices.numpy()
        eye_z = heads[self.bones["eye.L"], 2].item()
        head_y = heads[self.bones["head"], 1].item()
        neck_y = heads[self.bones["neck01"], 1].item()
        shorts_end = heads[self.bones["lowerleg01.L"], 2].item() + 0.12  # a hand above the knee
        for i, name in enumerate(names):
            stem = name.split(".")[0]
            if stem.startswith(("spine", "pelvis", "clavicle", "shoulder", "breast")) or stem == "root":
                # the waist and hips belong to the trousers
                c = a["bottom"] if v[i, 2] < heads[self.bones["spine04"], 2].item() else a["top"]
            elif stem.startswith("upperarm"):
                c = a["top"] if (a["long_sleeves"] or stem == "upperarm01") else a["skin"]
            elif stem.startswith("lowerarm"):
                c = a["top"] if a["long_sleeves"] else a["skin"]
            elif stem.startswith(("upperleg", "lowerleg")):
                c = a["bottom"] if (a["long_legs"] or v[i, 2] > shorts_end) else a["skin"]
            elif stem.startswith(("foot", "toe")):
                c = a["shoes"]
            elif stem == "eye":
                c = (0.1, 0.1, 0.1)
            elif stem == "head":
                is_hair = v[i, 2] > eye_z + 0.03 or (v[i, 1] > head_y + 0.02 and v[i, 2] > eye_z - 0.09)
                c = a["hair"] if is_hair else a["skin"]
            elif stem.startswith("neck"):
                c = a["hair"] if a["long_hair"] and v[i, 1] > neck_y + 0.03 else a["skin"]
            else:  # hands, fingers
                c = a["skin"]
            colours[i] = c
        return torch.tensor(colours, dtype=torch.float32)

    def pose_matrices(self, pose):
        import roma

        torch = self.torch
        mats = torch.eye(4, dtype=torch.float64).repeat(1, len(self.bones), 1, 1)
        for bone, rotvec in pose.items():
            if bone.startswith("root_"):
                continue
            mats[0, self.bones[bone], :3, :3] = roma.rotvec_to_rotmat(torch.tensor(rotvec, dtype=torch.float64))
        turn = pose.get("root_turn", 0.0)
        mats[0, 0, :3, :3] = roma.rotvec_to_rotmat(torch.tensor([0, 0, turn], dtype=torch.float64))
        return mats

    def posed(self, pose):
        """World vertices (V x 3) and COCO keypoints (23 x 3) with the feet on the floor z=0."""
        out = self.model(pose_parameters=self.pose_matrices(pose), phenotype_kwargs=self.phenotype)
        verts = out["vertices"][0]
        keypoints = self.keypoints(out)[0]
        shift = self.torch.tensor([pose.get("root_x", 0.0), 0.0, -verts[:, 2].min().item()], dtype=verts.dtype)
        return (verts + shift).float(), (keypoints + shift).float()

    def project(self, points, scale=1.0):
        """World points -> (u, v, depth) in pixels of an image `scale` times IMAGE_SIZE."""
        torch = self.torch
        depth = points[:, 1] + CAMERA["distance"]
        f = CAMERA["focal"] * self.size / IMAGE_SIZE * scale
        c = self.size * scale / 2
        u = c + f * points[:, 0] / depth
        v = c - f * (points[:, 2] - CAMERA["height"]) / depth
        return torch.stack([u, v, depth], dim=1)

    def render(self, pose):
        """(BGR uint8 image, COCO keypoints 23 x 3 in world metres, their 23 x 2 pixel positions)."""
        import cv2

        verts, keypoints = self.posed(pose)
        size = self.size * SUPERSAMPLE
        image = self._background(size, verts)
        screen = self.project(verts, SUPERSAMPLE)
        normals = vertex_normals(verts, self.faces)
        tri, bary = rasterize(screen, self.faces, size, size)
        covered = tri >= 0
        if covered.any():
            t = tri[covered]
            w = bary[covered]
            f = self.faces[t]
            n = (normals[f] * w[:, :, None]).sum(1)
            n = n / n.norm(dim=1, keepdim=True).clamp_min(1e-6)
            albedo = (self.vertex_colours[f] * w[:, :, None]).sum(1)
            key = self.torch.tensor([-0.45, -0.65, 0.6])
            fill = self.torch.tensor([0.6, -0.5, 0.1])
            key, fill = key / key.norm(), fill / fill.norm()
            light = 0.32 + 0.62 * (n @ key).clamp_min(0) + 0.22 * (n @ fill).clamp_min(0)
            shaded = (albedo * light[:, None]).clamp(0, 1).numpy()
            image[covered.numpy()] = shaded
        image = (image * 255 + 0.5).clip(0, 255).astype(np.uint8)
        image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return image, keypoints.numpy(), self.project(keypoints)[:, :2].numpy()

    def _background(self, size, verts):
        """A wall and a floor seen by the camera, with a soft contact shadow under the feet."""
        f = CAMERA["focal"] * size / IMAGE_SIZE
        c = size / 2
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
        dx, dz = (xs - c) / f, -(ys - c) / f  # ray direction per unit depth
        wall_depth = CAMERA["distance"] + 2.5
        floor_t = np.where(dz < 0, CAMERA["height"] / np.maximum(-dz, 1e-6), np.inf)  # depth to floor
        on_floor = floor_t < wall_depth
        image = np.empty((size, size, 3), np.float32)
        image[:] = WALL * (0.92 + 0.08 * (ys / size))[..., None]
        fx, fy = dx * floor_t, floor_t - CAMERA["distance"]
        feet = verts[verts[:, 2] < 0.08].numpy()
        cx, cy = (feet[:, 0].mean(), feet[:, 1].mean()) if len(feet) else (0.0, 0.0)
        shadow = 0.45 * np.exp(-(((fx - cx) / 0.45) ** 2 + ((fy - cy) / 0.25) ** 2))
        floor = FLOOR * (0.85 + 0.15 * np.clip(floor_t / wall_depth, 0, 1))[..., None]
        image[on_floor] = (floor * (1 - shadow)[..., None])[on_floor]
        return image


def vertex_normals(verts, faces):
    import torch

    tri = verts[faces]
    face_n = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1)
    normals = torch.zeros_like(verts).index_add_(0, faces.reshape(-1), face_n.repeat_interleave(3, 0))
    return normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-9)


def rasterize(screen, faces, height, width):
    """Z-buffer rasterisation: per pixel, the nearest triangle and its barycentric weights.

    Triangles are bucketed by bounding-box size; each bucket tests all pixels of its boxes at
    once, and the nearest hit per pixel wins through a scatter-min on depth.
    """
    import torch

    tri = screen[faces]  # F x 3 x (u, v, depth)
    u, v, z = tri[..., 0], tri[..., 1], tri[..., 2]
    area = (u[:, 1] - u[:, 0]) * (v[:, 2] - v[:, 0]) - (u[:, 2] - u[:, 0]) * (v[:, 1] - v[:, 0])
    x0 = u.min(1).values.floor().clamp(0, width - 1)
    y0 = v.min(1).values.floor().clamp(0, height - 1)
    extent = torch.maximum(u.max(1).values.ceil().clamp(0, width - 1) - x0,
                           v.max(1).values.ceil().clamp(0, height - 1) - y0) + 1
    keep = area.abs() > 1e-8
    pix_all, depth_all, tri_all, bary_all = [], [], [], []
    lower = 0
    for k in (2, 4, 8, 16, 32, 64, 128, 256):
        sel = torch.nonzero(keep & (extent > lower) & (extent <= k)).flatten()
        lower = k
        if len(sel) == 0:
            continue
        oy, ox = torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij")
        px = x0[sel, None] + ox.reshape(1, -1) + 0.5
        py = y0[sel, None] + oy.reshape(1, -1) + 0.5
        tu, tv, ta = u[sel], v[sel], area[sel, None]
        w0 = ((tu[:, 1, None] - px) * (tv[:, 2, None] - py) - (tu[:, 2, None] - px) * (tv[:, 1, None] - py)) / ta
        w1 = ((tu[:, 2, None] - px) * (tv[:, 0, None] - py) - (tu[:, 0, None] - px) * (tv[:, 2, None] - py)) / ta
        w2 = 1 - w0 - w1
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0) & (px < width) & (py < height)
        idx = torch.nonzero(inside, as_tuple=True)
        if len(idx[0]) == 0:
            continue
        ws = torch.stack([w0[idx], w1[idx], w2[idx]], dim=1)
        depth = (ws * z[sel][idx[0]]).sum(1)
        pix_all.append(py[idx].long() * width + px[idx].long())
        depth_all.append(depth)
        tri_all.append(sel[idx[0]])
        bary_all.append(ws)
    tri_buf = torch.full((height * width,), -1, dtype=torch.long)
    bary_buf = torch.zeros((height * width, 3))
    if pix_all:
        pix, depth = torch.cat(pix_all), torch.cat(depth_all)
        zbuf = torch.full((height * width,), float("inf")).scatter_reduce(0, pix, depth, "amin")
        win = depth <= zbuf[pix]
        tri_buf[pix[win]] = torch.cat(tri_all)[win]
        bary_buf[pix[win]] = torch.cat(bary_all)[win]
    return tri_buf.reshape(height, width), bary_buf.reshape(height, width, 3)


def render_video(path, actor, routine, frames=None, seed=0, size=IMAGE_SIZE, verbose=True):
    """Render `actor` performing `routine` to `path` (mp4) and its ground truth (npz beside it)."""
    from tqdm import tqdm

    renderer = Renderer(actor, size)
    poses = routine_poses(routine, frames, seed)
    writer = VideoWriter(path, FPS, (size, size))  # the mp4 appears only when complete
    joints3d, joints2d = [], []
    start = time.time()
    try:
        for pose in tqdm(poses, desc=f"{actor}/{routine}", unit="frame", disable=not verbose):
            image, kp3, kp2 = renderer.render(pose)
            writer.write(image)
            joints3d.append(kp3)
            joints2d.append(kp2)
        writer.close()
    finally:
        writer.discard()
    buf = io.BytesIO()
    np.savez_compressed(buf, joints3d=np.array(joints3d, np.float32), joints2d=np.array(joints2d, np.float32),
                        joint_names=np.array(COCO_NAMES), image_size=np.array([size, size]),
                        camera=np.array([CAMERA["distance"], CAMERA["height"], CAMERA["focal"] * size / IMAGE_SIZE]),
                        fps=np.array(FPS), actor=np.array(actor), routine=np.array(routine), seed=np.array(seed))
    atomic_write_bytes(os.path.splitext(path)[0] + ".npz", buf.getvalue())
    seconds = time.time() - start
    if verbose:
        print(f"{path}: {len(poses)} frames of {actor} doing the {routine} routine, "
              f"{seconds / len(poses):.2f} s/frame")
    return seconds / len(poses)


DEMO_DATA = [("data/demo_target.mp4", "maya", "target"), ("data/demo_source.mp4", "leo", "source"),
             ("data/demo_transfer_truth.mp4", "maya", "source")]


def main():
    parser = argparse.ArgumentParser(description="Render a synthetic actor performing a scripted routine.",
                                     formatter_class=HelpFormatter)
    parser.add_argument("out", nargs="?", help="output mp4 (a ground-truth .npz is written beside it)")
    parser.add_argument("--actor", choices=sorted(ACTORS), default="maya", help="who performs")
    parser.add_argument("--routine", choices=sorted(ROUTINES), default="target", help="which choreography")
    parser.add_argument("--frames", type=int, default=None,
                        help="number of frames (default: the routine once through)")
    parser.add_argument("--seed", type=int, default=0, help="0: the routine as scripted; other: amplitudes varied")
    parser.add_argument("--size", type=int, default=IMAGE_SIZE, help="frame side in pixels")
    parser.add_argument("--demo-data", action="store_true",
                        help="re-render data/demo_target.mp4, demo_source.mp4 and demo_transfer_truth.mp4")
    args = parser.parse_args()
    if args.demo_data:
        for path, actor, routine in DEMO_DATA:
            render_video(path, actor, routine)
        return 0
    if not args.out:
        parser.error("give an output file, or --demo-data")
    if args.frames is not None and args.frames < 1:
        raise UserError("--frames must be at least 1")
    render_video(args.out, args.actor, args.routine, args.frames, args.seed, args.size)
    return 0


if __name__ == "__main__":
    run_cli(main)
