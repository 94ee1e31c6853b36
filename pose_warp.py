"""The target's own pixels moved into a new pose, body part by body part.

Given a crop of the target (an exemplar), its person mask and skeleton, and a query skeleton (both
in crop coordinates), `warp_person` cuts the person into `PARTS` (torso, head, upper and lower
arms, hands, thighs, shins, feet) and moves each by its own transform, fitted to the part's joints
in the two poses (after Balakrishnan et al., "Synthesizing Images of Humans in Unseen Poses", CVPR
2018):

- Soft assignment: each person pixel belongs to the parts by its distance to their bones
  (Gaussian, `ASSIGN_SIGMA`, normalised over the parts), so a pixel between two bones is shared
  and loose clothing goes with its nearest limb; where parts overlap, the one in front takes it.
- Transforms that stay sane: a limb's transform turns its bone onto the query's and stretches it
  along the bone only (foreshortening; by at most `ALONG_SCALE`), keeping the body's width; the
  torso turns by its spine (never by more than `TORSO_MAX_TURN`: it is never flipped upside down)
  and scales within `TORSO_SCALE`; the head follows its face points. A part whose joints
  MediaPipe barely sees in the exemplar (visibility under `MIN_VISIBILITY`), or whose bone is
  too short to give a direction, is dropped, never smeared: the network paints what is missing.
- Layers: each part's premultiplied colour and alpha are warped (only over the part's own box)
  and laid back to front by MediaPipe's depth of the query's joints (a front arm hides the
  torso). The alpha of the result is the sum of the parts' alphas (clipped to 1), not the "over"
  product: two neighbouring parts that share a seam pixel half and half cover it fully, so seams
  neither darken nor let the background through.

Coordinates are relative to the crop (0..1), so the warp runs at any resolution: 128 px for the
network, the crop's native size for the scene.
"""
import cmath
from collections import namedtuple

import cv2
import numpy as np

from geometry import resize
from Skeleton import (L_ANKLE, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, NOSE, R_ANKLE, R_ELBOW, R_HIP,
                      R_KNEE, R_SHOULDER, R_WRIST)

L_PINKY, R_PINKY, L_INDEX, R_INDEX = 17, 18, 19, 20
L_HEEL, R_HEEL, L_TOE, R_TOE = 29, 30, 31, 32
FACE = (NOSE, 2, 5, 7, 8, 9, 10)  # nose, eyes, ears, mouth corners

# name: (kind, joints). A limb's bone runs from its first joint to the mean of the others.
PARTS = {
    "torso": ("torso", (L_SHOULDER, R_SHOULDER, L_HIP, R_HIP)),
    "head": ("head", FACE),
    "left upper arm": ("limb", (L_SHOULDER, L_ELBOW)),
    "left lower arm": ("limb", (L_ELBOW, L_WRIST)),
    "left hand": ("limb", (L_WRIST, L_PINKY, L_INDEX)),
    "right upper arm": ("limb", (R_SHOULDER, R_ELBOW)),
    "right lower arm": ("limb", (R_ELBOW, R_WRIST)),
    "right hand": ("limb", (R_WRIST, R_PINKY, R_INDEX)),
    "left thigh": ("limb", (L_HIP, L_KNEE)),
    "left shin": ("limb", (L_KNEE, L_ANKLE)),
    "left foot": ("limb", (L_ANKLE, L_HEEL, L_TOE)),
    "right thigh": ("limb", (R_HIP, R_KNEE)),
    "right shin": ("limb", (R_KNEE, R_ANKLE)),
    "right foot": ("limb", (R_ANKLE, R_HEEL, R_TOE)),
}
PART_NAMES = list(PARTS)
LEG_PARTS = ("left thigh", "left shin", "left foot", "right thigh", "right shin", "right foot")
BODY_PARTS = tuple(name for name in PART_NAMES if name not in LEG_PARTS)

ASSIGN_SIZE = 48         # the soft assignment is computed at this size and resized (it is smooth)
MAP_SIZE = 128           # the parts are laid out at most at this size; their pixels are fetched at any
AGREE = 1.5              # pixels at MAP_SIZE: parts whose sources are this close blend (a seam), else the most shown wins
SEAM = 2.0               # map pixels: neighbouring sources further apart than this are not interpolated between
ASSIGN_SIGMA = 0.02      # crop sides: how far a pixel's share fades from a bone
DEPTH_TEMPERATURE = 0.05  # MediaPipe depth (about image widths) by which a part in front takes a shared pixel e times more
MIN_VISIBILITY = 0.5     # MediaPipe's visibility under which an exemplar joint is not trusted
MIN_BONE = 0.02          # crop sides: a shorter exemplar bone gives no direction
ALONG_SCALE = (0.5, 1.6)  # how much a limb may shorten (foreshortening) or lengthen along its bone
TORSO_SCALE = (0.75, 1.33)
TORSO_MAX_TURN = np.radians(50)
HEAD_MAX_TURN = np.radians(45)
HEAD_SCALE = (0.8, 1.25)

# The warped person (uint8 BGR, S x S), its alpha (float32 S x S, 0..1), and the parts that
# moved (the others were dropped).
Warped = namedtuple("Warped", "image alpha parts")
# An exemplar cut into its parts at `size` px (exemplar_parts): each part's box in it (x0, y0, x1,
# y1, pixels) and its premultiplied alpha there; the parts without pixels are not in them.
ExemplarParts = namedtuple("ExemplarParts", "size boxes alphas")


def _bone(xy, joints):
    """(start, end) of a limb's bone: its first joint to the mean of the others."""
    return xy[joints[0]], xy[list(joints[1:])].mean(axis=0)


def _affine(turn, along, across, axis, source_point, target_point):
    """2x3 affine (complex points): stretch by `along` in the direction `axis` (a unit complex)
    and by `across` across it, turn by `turn` (a unit complex), taking `source_point` to
    `target_point`."""
    # z -> turn * (along * Re(z / axis) + 1j * across * Im(z / axis)) * axis, as a real 2x2 matrix
    c0 = turn * (along * (1 / axis).real + 1j * across * (1 / axis).imag) * axis
    c1 = turn * (along * (1j / axis).real + 1j * across * (1j / axis).imag) * axis
    shift = target_point - (c0 * source_point.real + c1 * source_point.imag)
    return np.array([[c0.real, c1.real, shift.real], [c0.imag, c1.imag, shift.imag]])


def _clip(value, bounds):
    return min(max(value, bounds[0]), bounds[1])


def _clamped_turn(turn, limit):
    """A unit complex `turn`, its angle clamped to +-`limit`."""
    return cmath.exp(1j * _clip(cmath.phase(turn), (-limit, limit)))


def _unit(z):
    return z / abs(z) if abs(z) > 0 else 1


def seen_parts(landmarks):
    """(..., parts) bool: which parts of `landmarks` (..., 33, 4) MediaPipe sees well enough to
    move (part_transforms drops the others): a limb or the torso when all its joints are seen,
    the head when three of its face points are."""
    seen = np.asarray(landmarks)[..., 3] >= MIN_VISIBILITY
    return np.stack([seen[..., list(joints)].sum(axis=-1) >= 3 if kind == "head" else seen[..., list(joints)].all(axis=-1)
                     for kind, joints in PARTS.values()], axis=-1)


def part_transforms(source, query):
    """{part name: 2x3 transform (crop units) moving it from the `source` landmarks (33 x 4) onto
    the `query`'s, or None when the part is dropped} (see the module docstring)."""
    src = [complex(x, y) for x, y in np.asarray(source, np.float64)[:, :2]]
    dst = [complex(x, y) for x, y in np.asarray(query, np.float64)[:, :2]]
    seen = (np.asarray(source)[:, 3] >= MIN_VISIBILITY).tolist()
    part_seen = dict(zip(PART_NAMES, seen_parts(source).tolist()))

    def spine(z):  # hips' midpoint -> shoulders' midpoint
        return (z[L_SHOULDER] + z[R_SHOULDER]) / 2 - (z[L_HIP] + z[R_HIP]) / 2

    def mean(z, joints):
        return sum(z[j] for j in joints) / len(joints)

    body = _clip(abs(spine(dst)) / max(abs(spine(src)), 1e-6), TORSO_SCALE)
    out = {}
    for name, (kind, joints) in PARTS.items():
        out[name] = None
        if not part_seen[name]:
            continue
        if kind == "head":
            face = [j for j in joints if seen[j]]
            centre_s, centre_q = mean(src, face), mean(dst, face)
            a = [src[j] - centre_s for j in face]
            b = [dst[j] - centre_q for j in face]
            power = sum(abs(v) ** 2 for v in a)
            if (power / len(a)) ** 0.5 < MIN_BONE / 2:
                continue
            w = sum(q * p.conjugate() for p, q in zip(a, b)) / power  # the least-squares zoom and turn
            scale = _clip(abs(w), HEAD_SCALE)
            out[name] = _affine(_clamped_turn(w, HEAD_MAX_TURN), scale, scale, 1, centre_s, centre_q)
            continue
        if kind == "torso":
            bone_s, bone_q = spine(src), spine(dst)
            if abs(bone_s) < MIN_BONE:
                continue
            width_s = abs(src[L_SHOULDER] - src[R_SHOULDER]) + abs(src[L_HIP] - src[R_HIP])
            width_q = abs(dst[L_SHOULDER] - dst[R_SHOULDER]) + abs(dst[L_HIP] - dst[R_HIP])
            across = _clip(width_q / max(width_s, 1e-6), TORSO_SCALE)
            turn = _clamped_turn(_unit(bone_q) / _unit(bone_s), TORSO_MAX_TURN)
            out[name] = _affine(turn, body, across, _unit(bone_s), mean(src, joints), mean(dst, joints))
            continue
        start_s, end_s = src[joints[0]], mean(src, joints[1:])
        start_q, end_q = dst[joints[0]], mean(dst, joints[1:])
        bone_s, bone_q = end_s - start_s, end_q - start_q
        if abs(bone_s) < MIN_BONE:
            continue
        along = _clip(abs(bone_q) / abs(bone_s), ALONG_SCALE)
        out[name] = _affine(_unit(bone_q) / _unit(bone_s), along, body, _unit(bone_s), (start_s + end_s) / 2,
                            (start_q + end_q) / 2)
    return out


def part_transform(name, source, query):
    """The transform of part `name` (see part_transforms), or None when it is dropped."""
    return part_transforms(np.asarray(source, np.float64), np.asarray(query, np.float64))[name]


def _segment_distances(points, starts, ends):
    """(segments, N): distance of `points` (N x 2) to each segment starts[i]-ends[i]."""
    px, py = points[:, 0][None], points[:, 1][None]
    ax, ay = starts[:, 0][:, None], starts[:, 1][:, None]
    dx, dy = (ends[:, 0] - starts[:, 0])[:, None], (ends[:, 1] - starts[:, 1])[:, None]
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0, 1)
    return np.hypot(px - ax - t * dx, py - ay - t * dy)


_GRIDS = {}


def _grid(size):
    """Pixel centres of a size x size grid in crop units, (size * size, 2) float32."""
    if size not in _GRIDS:
        ys, xs = np.mgrid[0:size, 0:size]
        _GRIDS[size] = ((np.stack([xs, ys], axis=-1).reshape(-1, 2) + 0.5) / size).astype(np.float32)
    return _GRIDS[size]


def part_distances(source, size=ASSIGN_SIZE):
    """(parts, size, size): each pixel's distance (crop sides) to each part in the `source`
    landmarks: a limb's bone, the torso's outline (0 inside), the head's circle of face points."""
    xy = source[:, :2].astype(np.float32)
    grid = _grid(size)
    corners = xy[[L_SHOULDER, R_SHOULDER, R_HIP, L_HIP]]
    starts, ends = [corners[i] for i in range(4)], [corners[(i + 1) % 4] for i in range(4)]
    limbs = [k for k, (kind, _) in enumerate(PARTS.values()) if kind == "limb"]
    for k in limbs:
        start, end = _bone(xy, list(PARTS.values())[k][1])
        starts.append(start)
        ends.append(end)
    d = _segment_distances(grid, np.array(starts), np.array(ends))
    out = np.empty((len(PARTS), size * size), np.float32)
    inside = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(inside, np.round(corners * size * 16).astype(np.int32), 1, cv2.LINE_8, 4)
    out[PART_NAMES.index("torso")] = np.where(inside.reshape(-1) > 0, 0.0, d[:4].min(axis=0))
    out[limbs] = d[4:]
    face = xy[list(FACE)]
    centre = face.mean(axis=0)
    radius = 1.2 * np.sqrt(((face - centre) ** 2).sum(axis=1)).max()
    out[PART_NAMES.index("head")] = np.maximum(np.hypot(grid[:, 0] - centre[0], grid[:, 1] - centre[1]) - radius, 0.0)
    return out.reshape(len(PARTS), size, size)


def part_weights(source, size=ASSIGN_SIZE):
    """The soft assignment of every pixel to the parts (parts, size, size), summing to 1. Where
    two parts overlap in the exemplar (a forearm across the torso), the one in front (MediaPipe's
    depth) takes the pixel: the other's pixels there are hidden."""
    d = part_distances(source, size)
    depth = part_depths(source)
    logits = -(d ** 2) / np.float32(2 * ASSIGN_SIGMA ** 2) - ((depth - depth.min()) / DEPTH_TEMPERATURE)[:, None, None]
    logits -= logits.max(axis=0, keepdims=True)
    w = np.exp(logits)
    return w / w.sum(axis=0, keepdims=True)


_PART_JOINTS = np.zeros((len(PARTS), 33), np.float32)  # each part's mean over its joints
for _k, (_, _joints) in enumerate(PARTS.values()):
    _PART_JOINTS[_k, list(_joints)] = 1 / len(_joints)


def part_depths(landmarks):
    """Each part's MediaPipe depth: the mean z of its joints (smaller is nearer the camera)."""
    return (_PART_JOINTS @ np.asarray(landmarks, np.float32)[:, 2]).astype(np.float32)


def _pixel_matrix(t, size):
    """A crop-unit transform (pixel centres at (i + 0.5) / size) between `size` px pixel grids."""
    linear = t[:, :2]
    return np.hstack([linear, (t[:, 2] * size + 0.5 * linear.sum(axis=1) - 0.5)[:, None]])


def exemplar_parts(mask, source, size=MAP_SIZE, names=None):
    """The exemplar's parts at `size` px, cut once for any query pose (an ExemplarParts): each
    part's box (where its pixels are) and its premultiplied alpha there, the person `mask` times
    the part's share of each pixel (its soft assignment, upsampled as a resize would). `names`:
    only those parts (default all)."""
    mask = resize(np.asarray(mask, np.float32), size, mask=True)
    low = part_weights(np.asarray(source, np.float64))
    support = low * resize(mask, ASSIGN_SIZE, mask=True)[None] > 1 / 255  # at the assignment's size
    rows, columns = support.any(axis=2), support.any(axis=1)
    step = size / ASSIGN_SIZE
    boxes, alphas = {}, {}
    for k, name in enumerate(PART_NAMES):
        if not rows[k].any() or (names is not None and name not in names):
            continue
        ys, xs = np.flatnonzero(rows[k])[[0, -1]], np.flatnonzero(columns[k])[[0, -1]]
        sx0, sy0 = max(0, int((xs[0] - 1) * step)), max(0, int((ys[0] - 1) * step))
        sx1, sy1 = min(size, int(np.ceil((xs[1] + 2) * step))), min(size, int(np.ceil((ys[1] + 2) * step)))
        upsample = np.array([[1 / step, 0, (sx0 + 0.5) / step - 0.5], [0, 1 / step, (sy0 + 0.5) / step - 0.5]])
        share = cv2.warpAffine(low[k], upsample, (sx1 - sx0, sy1 - sy0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REPLICATE)
        boxes[name] = (sx0, sy0, sx1, sy1)
        alphas[name] = mask[sy0:sy1, sx0:sx1] * share
    return ExemplarParts(size, boxes, alphas)


def warp_maps(mask, source, query, size=MAP_SIZE, parts=None):
    """Where each pixel of the warped person comes from, at `size` px: (source x, source y, in
    crop units, each times the "over" alpha; the coverage alpha; the "over" alpha; the parts
    moved). Each part's alpha is warped by its transform and laid front to back; a pixel comes
    from the part that shows most there, or, where the parts that show agree on the place to
    within `AGREE` pixels (a seam), from their mean, so seams blend and overlaps do not smear.
    `parts`: the exemplar's, from exemplar_parts(mask, source, size), when it is already cut (a
    held exemplar: the cut is about half of the warp's time)."""
    if parts is None:
        parts = exemplar_parts(mask, source, size)
    elif parts.size != size:
        raise ValueError(f"the exemplar was cut at {parts.size} px, not at the warp's {size}")
    source, query = np.asarray(source, np.float64), np.asarray(query, np.float64)
    sum_x, sum_y, best_x, best_y, best, over, cover = (np.zeros((size, size), np.float32) for _ in range(7))
    through = np.ones((size, size), np.float32)  # what the parts in front let through
    transforms = part_transforms(source, query)
    depth = dict(zip(PART_NAMES, part_depths(query)))
    order = sorted((name for name, t in transforms.items() if t is not None), key=lambda n: depth[n])
    moved = []
    for name in order:  # nearest first
        if name not in parts.boxes:
            continue
        sx0, sy0, sx1, sy1 = parts.boxes[name]
        matrix = _pixel_matrix(transforms[name], size)
        matrix[:, 2] += matrix[:, :2] @ (sx0, sy0)  # from the source box's pixels
        corners = np.array([[0, 0], [sx1 - sx0, 0], [0, sy1 - sy0], [sx1 - sx0, sy1 - sy0]], np.float64)
        moved_box = corners @ matrix[:, :2].T + matrix[:, 2]
        x0, y0 = np.clip(np.floor(moved_box.min(axis=0)).astype(int) - 1, 0, size)
        x1, y1 = np.clip(np.ceil(moved_box.max(axis=0)).astype(int) + 1, 0, size)
        if x1 <= x0 or y1 <= y0:
            continue
        matrix[:, 2] -= (x0, y0)  # into the destination box's pixels
        a = cv2.warpAffine(parts.alphas[name], matrix, (x1 - x0, y1 - y0),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        # where the destination box's pixels come from, in the source crop's units
        back = cv2.invertAffineTransform(matrix)
        back[:, 2] += (sx0, sy0)
        back = back / size
        back[:, 2] += 0.5 / size  # pixel i's centre is at (i + 0.5) / size
        gx, gy = np.arange(x1 - x0, dtype=np.float32), np.arange(y1 - y0, dtype=np.float32)[:, None]
        at_x = back[0, 0] * gx + back[0, 1] * gy + back[0, 2]
        at_y = back[1, 0] * gx + back[1, 1] * gy + back[1, 2]
        region = (slice(y0, y1), slice(x0, x1))
        shown = through[region] * a
        sum_x[region] += shown * at_x
        sum_y[region] += shown * at_y
        over[region] += shown
        more = shown > best[region]
        np.copyto(best[region], shown, where=more)
        np.copyto(best_x[region], at_x, where=more)
        np.copyto(best_y[region], at_y, where=more)
        through[region] *= 1 - a
        cover[region] += a
        moved.append(name)
    seen = np.maximum(over, 1e-6)
    mean_x, mean_y = sum_x / seen, sum_y / seen
    agree = np.hypot(mean_x - best_x, mean_y - best_y) * size <= AGREE
    from_x = np.where(agree, mean_x, best_x) * over
    from_y = np.where(agree, mean_y, best_y) * over
    return from_x, from_y, np.clip(cover, 0, 1), over, moved


def continued_positions(positions, shows):
    """The map's source positions (rows, columns, 2) continued two map pixels beyond the parts
    (each new pixel the mean of its known neighbours), and where a position is known: reading the
    map between the outline and a pixel just outside it then fetches the part's own pixels, not
    whatever a position of 0 points at."""
    known = shows.astype(np.float32)
    filled = np.ascontiguousarray(positions * known[..., None])
    for _ in range(2):
        total = cv2.boxFilter(filled, -1, (3, 3), normalize=False, borderType=cv2.BORDER_REPLICATE)
        count = cv2.boxFilter(known, -1, (3, 3), normalize=False, borderType=cv2.BORDER_REPLICATE)
        reach = (known == 0) & (count > 0)
        filled[reach] = total[reach] / count[reach][:, None]
        known[reach] = 1
    return filled, known > 0


def _part_gradient(positions, shows, rows, columns, axis, low):
    """How the source position of map pixels (`rows`, `columns`) moves one map pixel on along
    `axis` (1: x, 0: y), measured towards a neighbour of the same part (one that shows, its source
    within `SEAM`), the one ahead first; 0 where neither is."""
    limit = shows.shape[axis] - 1
    here = positions[rows, columns]
    gradient = np.zeros_like(here)
    for step in (-1, 1):  # the one behind first, so the one ahead overrides it
        r = np.clip(rows + step, 0, limit) if axis == 0 else rows
        c = np.clip(columns + step, 0, limit) if axis == 1 else columns
        change = (positions[r, c] - here) * step
        moved = (r != rows) | (c != columns)
        same = moved & shows[r, c] & (np.hypot(change[:, 0], change[:, 1]) * low <= SEAM)
        gradient[same] = change[same]
    return gradient


def source_positions(from_x, from_y, over, size, flow=None, box=None):
    """Where each pixel at `size` px fetches the exemplar's pixel (crop units), and how much a part
    shows there: warp_maps' maps (at their own size) read at each pixel, moved by `flow` (pixels at
    `size`, optional). Within a part the positions are interpolated bilinearly, and each part is
    continued a little beyond the person's outline, so that how much shows fades over the outline.
    In a map cell that spans a seam between parts whose sources lie far apart (further than
    `SEAM`), an in-between position would fetch a stripe of whatever lies between them: there each
    pixel takes the nearest map pixel's position moved by its part's own gradient (its position
    alone showed as blocks of one exemplar pixel, 3-4 px wide at the scene's size). With `box` (x0,
    y0, x1, y1 in pixels at `size`), only the pixels inside it (and `flow` is the box's)."""
    low = from_x.shape[0]
    scale = low / size
    x0, y0, x1, y1 = box or (0, 0, size, size)
    at_x, at_y = np.meshgrid((np.arange(x0, x1, dtype=np.float32) + 0.5) * scale - 0.5,
                             (np.arange(y0, y1, dtype=np.float32) + 0.5) * scale - 0.5)
    if flow is not None:
        at_x, at_y = at_x + flow[:, :, 0] * scale, at_y + flow[:, :, 1] * scale
    shows = over > 1e-3
    ys, xs = np.nonzero(shows)
    if len(xs) == 0:
        return np.zeros_like(at_x), np.zeros_like(at_y), np.zeros_like(at_x)
    # the map around the parts only (the pixels further out show nothing, as the border replicates)
    mx0, my0 = max(0, xs.min() - 3), max(0, ys.min() - 3)
    mx1, my1 = min(low, xs.max() + 4), min(low, ys.max() + 4)
    around = (slice(my0, my1), slice(mx0, mx1))
    at_x, at_y = at_x - mx0, at_y - my0
    shows, safe = shows[around], np.maximum(over[around], 1e-4)
    positions = np.dstack([np.where(shows, from_x[around] / safe, 0),
                           np.where(shows, from_y[around] / safe, 0)]).astype(np.float32)
    filled, known = continued_positions(positions, shows)
    maps = np.dstack([filled, shows]).astype(np.float32)
    smooth = cv2.remap(maps, at_x, at_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # a cell's largest step between neighbouring corners (not across its diagonal: a part
    # stretched 1.6x steps 1.6 map pixels along each side, 2.3 across)
    padded = np.pad(filled, ((0, 1), (0, 1), (0, 0)), mode="edge")
    top_left, top_right, bottom_left, bottom_right = padded[:-1, :-1], padded[:-1, 1:], padded[1:, :-1], padded[1:, 1:]
    spread = low * np.max([np.hypot(*(a - b).transpose(2, 0, 1)) for a, b in
                           ((top_left, top_right), (bottom_left, bottom_right), (top_left, bottom_left),
                            (top_right, bottom_right))], axis=0)
    padded_known = np.pad(known, ((0, 1), (0, 1)), mode="edge")
    whole = padded_known[:-1, :-1] & padded_known[:-1, 1:] & padded_known[1:, :-1] & padded_known[1:, 1:]
    # the map cell each pixel is interpolated in (its top-left map pixel) spans a seam (a cell
    # with a corner of unknown position is two map pixels away from any part: nothing shows there)
    seam = cv2.remap(((spread > SEAM) & whole).astype(np.uint8), at_x - 0.5, at_y - 0.5, cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_REPLICATE).astype(bool)
    source_x, source_y = smooth[:, :, 0], smooth[:, :, 1]
    if seam.any():
        ax, ay = at_x[seam], at_y[seam]
        nx = np.clip(np.rint(ax), 0, shows.shape[1] - 1).astype(np.intp)
        ny = np.clip(np.rint(ay), 0, shows.shape[0] - 1).astype(np.intp)
        part = shows[ny, nx]  # a pixel just outside takes its continued position as it is
        along_x = _part_gradient(positions, shows, ny, nx, 1, low) * part[:, None]
        along_y = _part_gradient(positions, shows, ny, nx, 0, low) * part[:, None]
        near = filled[ny, nx] + (ax - nx)[:, None] * along_x + (ay - ny)[:, None] * along_y
        source_x[seam], source_y[seam] = near[:, 0], near[:, 1]
    return source_x, source_y, smooth[:, :, 2]


def shown_box(over, size, margin):
    """(x0, y0, x1, y1): the pixels at `size` px where warp_maps' `over` map (at its own size)
    shows a part, plus `margin` map pixels (a flow's reach, and one more for interpolation); None
    when no part shows."""
    ys, xs = np.nonzero(over > 1e-3)
    if len(xs) == 0:
        return None
    low = over.shape[0]
    scale = size / low
    margin = int(np.ceil(margin))
    return (int(max(0, xs.min() - margin) * scale), int(max(0, ys.min() - margin) * scale),
            int(np.ceil(min(low, xs.max() + 1 + margin) * scale)), int(np.ceil(min(low, ys.max() + 1 + margin) * scale)))


def remap_person(image, from_x, from_y, over, size):
    """The pixels of `image` (any size) at the source positions of warp_maps' maps, at `size` px
    (black where no part shows)."""
    if from_x.shape[0] == size:  # the maps' own pixels: nothing to interpolate
        shown = over
        safe = np.maximum(over, 1e-4)
        source_x, source_y = from_x / safe, from_y / safe
    else:
        source_x, source_y, shown = source_positions(from_x, from_y, over, size)
    side = image.shape[0]
    person = cv2.remap(image, source_x * side - 0.5, source_y * side - 0.5, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    person[shown <= 1e-3] = 0
    return person


def warp_person(image, mask, source, query, size=None):
    """The person of `image` (an exemplar crop, BGR) with person `mask` (float 0..1) and
    landmarks `source` (33 x 4, crop coordinates) moved into the pose `query`: a Warped at `size`
    px (default the image's). The parts are laid out at MAP_SIZE at most, and the pixels are
    then fetched from `image` at its own resolution: one resampling, as sharp as the exemplar."""
    size = size or image.shape[0]
    from_x, from_y, alpha, over, moved = warp_maps(mask, source, query, min(size, MAP_SIZE))
    person = remap_person(image, from_x, from_y, over, size)
    return Warped(person, resize(alpha, size, mask=True), moved)
