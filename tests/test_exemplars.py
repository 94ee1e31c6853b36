"""Exemplars: the part-by-part warp of the target's own pixels, the facing-aware search that picks
them, the training pairs, and the GAN that refines them (old checkpoints still load)."""
import numpy as np
import pytest
import torch

import pose_warp
from conftest import SyntheticPoses, standing_skeleton
from exemplars import PoseIndex
from geometry import composite
from Skeleton import Skeleton

SIZE = 128
LIMBS = {"left upper arm": (11, 13), "left lower arm": (13, 15), "right upper arm": (12, 14),
         "right lower arm": (14, 16), "left thigh": (23, 25), "left shin": (25, 27)}
COLOURS = dict(zip(LIMBS, [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0)]))


def figure(ske, size=SIZE):
    """A person drawn as thick limbs, each part in its own colour, on black; and its mask."""
    import cv2

    image = np.zeros((size, size, 3), np.uint8)
    xy = ske.landmarks[:, :2] * size
    torso = xy[[11, 12, 24, 23]].astype(np.int32)
    cv2.fillConvexPoly(image, torso, (200, 200, 200))
    for name, (a, b) in LIMBS.items():
        cv2.line(image, tuple(int(v) for v in xy[a]), tuple(int(v) for v in xy[b]), COLOURS[name], 7)
    return image, (image.max(axis=2) > 0).astype(np.float32)


def segment_distance(points, a, b):
    ab = b - a
    t = np.clip(((points - a) @ ab) / (ab @ ab), 0, 1)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def pixels_of(image, colour, tolerance=12):
    ys, xs = np.nonzero((np.abs(image.astype(int) - colour).max(axis=2) <= tolerance))
    return np.stack([xs, ys], axis=1) + 0.5


def test_a_drawn_figure_warped_into_another_pose_puts_each_part_around_the_query_bone():
    source, query = standing_skeleton(arm_angle=0.7), standing_skeleton(arm_angle=2.0, leg_spread=0.12)
    image, mask = figure(source)
    warped = pose_warp.warp_person(image, mask, source.landmarks, query.landmarks)
    assert warped.image.shape == (SIZE, SIZE, 3) and warped.alpha.shape == (SIZE, SIZE)
    for name, (a, b) in LIMBS.items():
        found = pixels_of(warped.image * (warped.alpha[:, :, None] > 0.5), COLOURS[name])
        assert len(found) > 20, name
        to_query = segment_distance(found, *(query.landmarks[[a, b], :2] * SIZE))
        assert np.median(to_query) < 3, (name, np.median(to_query))  # the 7 px line, around its new bone
        to_source = segment_distance(found, *(source.landmarks[[a, b], :2] * SIZE))
        if "lower arm" in name:  # and it moved away from where it was (an upper arm turns about its shoulder)
            assert np.median(to_source) > np.median(to_query) + 3, name


def test_a_seam_between_two_parts_keeps_the_full_alpha():
    """Moving nothing, the parts' shares of every pixel add back to the person's own mask: the
    seams between them neither darken nor let the background through."""
    ske = standing_skeleton()
    for hand, wrist in ((17, 15), (19, 15), (18, 16), (20, 16)):  # hands long enough to be moved
        ske.landmarks[hand, :2] = ske.landmarks[wrist, :2] + 0.4 * (ske.landmarks[wrist, :2] - ske.landmarks[wrist - 2, :2])
    image, mask = figure(ske)
    warped = pose_warp.warp_person(image, mask, ske.landmarks, ske.landmarks)
    inside = mask > 0
    assert np.abs(warped.alpha[inside] - 1).mean() < 0.03
    assert np.abs(warped.image[inside].astype(int) - image[inside]).mean() < 6


def test_a_degenerate_or_unseen_part_is_dropped_not_smeared():
    source, query = standing_skeleton(arm_angle=0.3), standing_skeleton(arm_angle=1.3)
    source.landmarks[13:17, 2] = -0.2  # the arms a little in front of the body, as MediaPipe sees them
    image, mask = figure(source)
    collapsed = source.landmarks.copy()
    collapsed[15, :2] = collapsed[13, :2]  # the left forearm seen end-on: no direction
    assert pose_warp.part_transform("left lower arm", collapsed, query.landmarks) is None
    unseen = source.landmarks.copy()
    unseen[16, 3] = 0.1  # MediaPipe barely sees the right wrist
    warped = pose_warp.warp_person(image, mask, unseen, query.landmarks)
    assert "right lower arm" not in warped.parts and "right upper arm" in warped.parts
    left = pixels_of(warped.image * (warped.alpha[:, :, None] > 0.3), COLOURS["right lower arm"])
    drawn = pixels_of(image, COLOURS["right lower arm"])
    # its pixels are left for the network to paint, not dragged along: only those at the elbow,
    # shared with the upper arm, come with it
    assert len(left) < 0.4 * len(drawn)
    assert (np.linalg.norm(left - query.landmarks[14, :2] * SIZE, axis=1) < 8).all()


def test_an_exemplar_cut_once_warps_into_any_pose_as_a_fresh_cut_does():
    """A held exemplar is cut into parts once (pose_warp.exemplar_parts) and moved into every
    query pose from that cut: the cut must not depend on the query."""
    source = standing_skeleton(arm_angle=0.3)
    image, mask = figure(source)
    parts = pose_warp.exemplar_parts(mask, source.landmarks, SIZE)
    assert "left upper arm" in parts.boxes and parts.alphas["torso"].max() > 0.9
    for angle in (0.8, 1.3):
        query = standing_skeleton(arm_angle=angle).landmarks
        fresh = pose_warp.warp_maps(mask, source.landmarks, query, SIZE)
        held = pose_warp.warp_maps(mask, source.landmarks, query, SIZE, parts=parts)
        assert fresh[4] == held[4]
        for a, b in zip(fresh[:4], held[:4]):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        pose_warp.warp_maps(mask, source.landmarks, query, SIZE // 2, parts=parts)  # cut at another size


def test_the_torso_is_never_flipped():
    source = standing_skeleton()
    upside_down = Skeleton(source.landmarks.copy())
    upside_down.landmarks[:, 1] = 1 - upside_down.landmarks[:, 1]
    t = pose_warp.part_transform("torso", source.landmarks, upside_down.landmarks)
    turn = np.degrees(np.arctan2(t[1, 0], t[0, 0]))
    assert abs(turn) <= np.degrees(pose_warp.TORSO_MAX_TURN) + 1e-6


def test_the_search_gives_a_front_view_to_a_front_facing_pose():
    """Two candidates: the front view with the arms elsewhere, and a view from behind whose joints
    MediaPipe placed exactly where the query's are (it labels a back view as if it were a front
    one), but with the face unseen and the shoulders' depth order reversed. Joints alone pick
    the back view; the facing-aware search does not."""
    query = standing_skeleton(arm_angle=0.5).landmarks
    front = standing_skeleton(arm_angle=0.9).landmarks
    back = query.copy()
    back[[0, 2, 5, 7, 8], 3] = 0.1
    back[11, 2], back[12, 2] = 0.25, -0.25
    index = PoseIndex(np.stack([front, back]), [0, 100])
    joints = np.sqrt(((index.poses - PoseIndex(query[None], [0]).poses[0]) ** 2).sum(axis=2)).mean(axis=1)
    assert joints[1] < 1e-6 < joints[0]  # by joints alone, the back view wins
    assert index.pick(query)[0] == 0


def test_the_exemplar_search_holds_its_pick_while_it_fits_and_lets_go_when_the_pose_moves_on():
    """Look-alike frames that are not consecutive in the video (nothing to follow): without hold,
    the temporal search jumps between them as noisy queries come; with hold it keeps its pick until
    the pose leaves it, then takes the new pose's frame."""
    rng = np.random.default_rng(0)
    look_alikes = [standing_skeleton(arm_angle=0.5 + 0.004 * k).landmarks for k in range(8)]
    other = standing_skeleton(arm_angle=1.4).landmarks
    frames = np.stack(look_alikes + [other])
    numbers = np.arange(len(frames)) * 10
    queries = [standing_skeleton(arm_angle=0.514 + rng.normal(0, 0.01)).landmarks for _ in range(30)]
    changes = {}
    for hold in (False, True):
        index = PoseIndex(frames, numbers, temporal=True, hold=hold)
        picks = [index.pick(q)[0] for q in queries]
        changes[hold] = int(np.sum(np.diff(picks) != 0))
        assert index.pick(other)[0] == len(frames) - 1  # a pose far from the held one is not held
    assert changes[False] >= 5 and changes[True] == 0


def test_the_steady_search_ignores_a_one_frame_tremble_but_follows_a_move():
    """Two frames of the target far apart in the video; the queries hold the first pose, tremble
    towards the second for one frame now and then (MediaPipe's jitter), then move to it for good.
    The temporal search jumps at every tremble; the steady one keeps its pick through them and
    still follows the move within a few frames, sooner at a higher frame rate."""
    frames = np.stack([standing_skeleton(arm_angle=0.5).landmarks, standing_skeleton(arm_angle=0.75).landmarks])
    still, tremble = standing_skeleton(arm_angle=0.5).landmarks, standing_skeleton(arm_angle=0.75).landmarks
    queries = ([still] * 5 + [tremble]) * 4 + [tremble] * 15
    jumpy = PoseIndex(frames, [0, 100], temporal=True, hold=True)
    assert [jumpy.pick(q)[0] for q in queries][:24].count(1) == 4
    followed = {}
    for fps in (15, 30):
        steady = PoseIndex(frames, [0, 100], temporal=True, hold=True, steady=True)
        steady.reset(fps)
        picks = [steady.pick(q)[0] for q in queries]
        assert picks[:24] == [0] * 24
        assert picks[-1] == 1
        followed[fps] = picks.index(1) - 23  # the move starts at query 23
    assert 0 < followed[15] < followed[30] <= 4, followed


def test_hold_first_keeps_the_exemplar_while_it_fits_even_where_the_target_video_would_go_on():
    """Three frames of the target, two of them consecutive in its video; the queries stay at
    the first pose. The temporal search with hold plays on to the next frame of the video (it fits
    too); hold_first keeps the first, and still moves on once the pose leaves it."""
    first, next_frame, far = (standing_skeleton(arm_angle=a).landmarks for a in (0.5, 0.52, 1.1))
    frames = np.stack([first, next_frame, far])
    queries = [first] * 4 + [far] * 2
    follows = PoseIndex(frames, [0, 1, 100], temporal=True, hold=True)
    assert [follows.pick(q)[0] for q in queries] == [0, 1, 1, 1, 2, 2]
    holds = PoseIndex(frames, [0, 1, 100], temporal=True, hold_first=True)
    assert holds.hold
    assert [holds.pick(q)[0] for q in queries] == [0, 0, 0, 0, 2, 2]


def test_a_model_trained_on_exemplar_candidates_holds_first_and_an_older_one_follows(tmp_path):
    from GenGAN import GenGAN

    video = PlatedPoses(24, size=64)
    for candidates, held_first in ((None, False), (1, False), (3, True)):
        config = dict(REFINE) if candidates is None else dict(REFINE, exemplar_candidates=candidates)
        gen = GenGAN(video, load_from_file=False, config=config, path=str(tmp_path / "g.pt"), device=torch.device("cpu"))
        gen.held_out_indices = []
        gen.layers(video.ske[5], np.full((32, 32, 3), 120, np.uint8))
        assert gen.exemplar_search.hold and gen.exemplar_search.hold_first == held_first


def test_the_exemplar_search_prefers_a_frame_that_shows_every_part_the_query_shows():
    """Two candidates: one with the query's joints exactly but its left arm barely seen by
    MediaPipe (the warp would drop the arm), one a little further off that shows it. The plain
    search takes the first; the exemplar search (for_warp) the second, and a query that does not
    show the arm either takes the first again."""
    query = standing_skeleton(arm_angle=0.5).landmarks
    hidden_arm = query.copy()
    hidden_arm[[13, 15], 3] = 0.2
    shown_arm = standing_skeleton(arm_angle=0.56).landmarks
    frames = np.stack([hidden_arm, shown_arm])
    assert PoseIndex(frames, [0, 100]).pick(query)[0] == 0
    assert PoseIndex(frames, [0, 100], for_warp=True).pick(query)[0] == 1
    assert PoseIndex(frames, [0, 100], for_warp=True).pick(hidden_arm)[0] == 0
    dropped = pose_warp.part_transforms(hidden_arm, query)
    assert dropped["left upper arm"] is None and dropped["left lower arm"] is None
    assert not pose_warp.seen_parts(hidden_arm)[pose_warp.PART_NAMES.index("left lower arm")]


def test_a_training_frame_gets_its_exemplar_from_outside_its_window_and_the_training_frames():
    from target_data import TargetData

    video = SyntheticPoses(60, size=64)
    train = np.arange(48)  # the last 12 are held out
    data = TargetData(video, train, 32, torch.device("cpu"), exemplar_window=5)
    assert set(data.exemplar_of) == set(train.tolist())
    for i, exemplars in data.exemplar_of.items():
        assert len(exemplars) == 1
        assert exemplars[0] in set(train.tolist()) and abs(exemplars[0] - i) > 5
    batch = data.batch(np.arange(4), augment=True)
    assert batch["exemplar"].shape == (4, 3, 32, 32) and batch["exemplar_mask"].shape == (4, 1, 32, 32)
    assert batch["exemplar_mask"].max() > 0.5  # the exemplar's person is there


def test_exemplar_candidates_fit_like_a_held_exemplar_stay_outside_the_window_and_are_drawn_in_training():
    from exemplars import TEMPORAL_ABSOLUTE_SLACK, TEMPORAL_RELATIVE_SLACK
    from target_data import TargetData

    video = SyntheticPoses(60, size=64)
    train = np.arange(48)
    search = PoseIndex(video.landmarks[train], train, for_warp=True)
    data = TargetData(video, train, 32, torch.device("cpu"), exemplar_window=5, exemplar_candidates=3)
    closest = TargetData(video, train, 32, torch.device("cpu"), exemplar_window=5)
    several = 0
    for i, exemplars in data.exemplar_of.items():
        assert exemplars[0] == closest.exemplar_of[i][0]  # the closest comes first, as without candidates
        assert 1 <= len(exemplars) <= 3 and len(set(exemplars)) == len(exemplars)
        d = search.distances(video.landmarks[i])
        for e in exemplars:
            assert e in set(train.tolist()) and abs(e - i) > 5
            assert d[e] <= d[exemplars[0]] * (1 + TEMPORAL_RELATIVE_SLACK) + TEMPORAL_ABSOLUTE_SLACK + 1e-6
        several += len(exemplars) > 1
    assert several > len(train) // 2  # the poses come back: most frames have more than one that fits
    frame = int(next(i for i, e in data.exemplar_of.items() if len(e) == 3))
    position = [int(np.flatnonzero(train == frame)[0])] * 64
    drawn = data.batch(position, augment=False)["exemplar"]
    assert torch.equal(drawn[0], closest.batch(position[:1])["exemplar"][0])  # unaugmented: the closest
    candidates = data.pictures(position[:1])["exemplar"][0].float() / 127.5 - 1  # K x 3 x H x W
    torch.manual_seed(0)
    unmoved = data.batch(position, augment=True, shift=0.0, scale=0.0)["exemplar"]  # drawn, not shifted
    which = [int(torch.argmin((candidates - e).abs().flatten(1).mean(1))) for e in unmoved]
    assert all(float((candidates[k] - e).abs().max()) < 1e-3 for k, e in zip(which, unmoved))
    assert set(which) == {0, 1, 2}  # training batches draw each of the frame's candidates


TINY = {"ngf": 8, "max_ch": 16, "ndf": 8, "d_scales": 2, "lr": 2e-3, "batch_size": 4, "held_out": 0.0,
        "default_epochs": 1, "lambda_gan": 1.0, "lambda_fm": 10.0, "ema_decay": 0.9, "size": 32, "plates": True,
        "lambda_mask": 10.0}
REFINE = dict(TINY, exemplar="refine", exemplar_window=0.2, max_flow=4.0, nn_window=3, lambda_l1=0.0,
              lambda_nn=100.0, lambda_coarse=100.0, lambda_choice=20.0)


class PlatedPoses(SyntheticPoses):
    """SyntheticPoses over a grey plate, so a generator paints the person and a mask."""

    def __init__(self, count=24, size=64):
        super().__init__(count, size)
        self.crop_boxes = np.tile([0, 0, size], (count, 1)).astype(np.float32)

    def plates(self, train_count=None):
        class Flat:
            def crop(self, i, box, size):
                return np.full((size, size, 3), 120, np.uint8)
        return Flat()


def test_the_refining_gan_learns_and_gives_the_person_at_native_size(tmp_path):
    from GenGAN import GenGAN
    from target_data import TargetData

    torch.manual_seed(0)
    video = PlatedPoses(24, size=64)
    gen = GenGAN(video, load_from_file=False, config=dict(REFINE), path=str(tmp_path / "g.pt"), device=torch.device("cpu"))
    data = TargetData(video, np.arange(24), 32, torch.device("cpu"), plates=video.plates(), exemplar_window=3)
    losses = [gen.train_step(data.batch(np.arange(i % 6 * 4, i % 6 * 4 + 4)))["l1"] for i in range(36)]
    assert np.mean(losses[-6:]) < 0.8 * np.mean(losses[:6])
    gen.held_out_indices = []
    layers = gen.layers(video.ske[5], np.full((32, 32, 3), 120, np.uint8))
    assert layers.person.shape == (32, 32, 3) and layers.alpha.shape == (32, 32)
    sharp = layers.sharper(64)  # the cached crops are 64 px: twice the network's size
    assert sharp.person.shape == (64, 64, 3) and sharp.alpha.shape == (64, 64)
    grey = np.full((64, 64, 3), 120, np.uint8)
    small = np.asarray(composite(sharp.person, sharp.alpha, grey), np.float32).reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
    assert np.abs(small - composite(layers.person, layers.alpha, grey[:32, :32])).mean() < 12  # the same person, only sharper
    gen.save(str(tmp_path / "g.pt"))
    again = GenGAN(video, path=str(tmp_path / "g.pt"), device=torch.device("cpu"))
    assert again.exemplar_mode == "refine" and again.generate(video.ske[5], grey[:32, :32]).shape == (32, 32, 3)


def test_in_use_the_learnt_flow_is_shortened_where_the_pose_is_covered(tmp_path):
    """A network whose head predicts a uniform flow of 2 px to the right, the exemplar chosen
    everywhere and an opaque mask: in use, for a pose the training frames cover, the person is the
    warped exemplar resampled by INFERENCE_FLOW_SCALE x 2 px, not by the whole 2 px that training
    applies; for one they do not cover, by the whole flow."""
    from GenGAN import GenGAN
    from network_generator import INFERENCE_FLOW_SCALE, bgr_to_tensor, resample, tensor_to_bgr

    video = PlatedPoses(8, size=64)
    gen = GenGAN(video, load_from_file=False, config=dict(REFINE), path=str(tmp_path / "g.pt"), device=torch.device("cpu"))
    head = gen.G_ema.up[-2]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[0] = float(np.arctanh(2.0 / REFINE["max_flow"]))  # x flow: 2 px at the network's size
        head.bias[5] = head.bias[6] = 5.0  # the exemplar chosen, the mask opaque
    grey = np.full((32, 32, 3), 120, np.uint8)
    gen.reset()
    person = gen.layers(video.ske[3], grey).person.astype(np.float32)
    gen.reset()
    exemplar = bgr_to_tensor(gen.exemplar_for(video.ske[3]).image)[None]

    def moved(pixels):
        flow = torch.zeros(1, 2, 32, 32)
        flow[:, 0] = pixels
        return tensor_to_bgr(resample(exemplar, flow)[0]).astype(np.float32)

    assert INFERENCE_FLOW_SCALE < 1
    used, whole = moved(2.0 * INFERENCE_FLOW_SCALE), moved(2.0)
    assert np.abs(used - whole).mean() > 2  # the two readings differ enough to tell apart
    assert np.abs(person - used).mean() < 0.25 * np.abs(person - whole).mean()
    gen.covered_distance = -1.0  # now no training frame covers any pose: the exemplar is poor, the flow all needed
    gen.reset()
    uncovered = gen.layers(video.ske[3], grey).person.astype(np.float32)
    assert np.abs(uncovered - whole).mean() < 0.25 * np.abs(uncovered - used).mean()


def test_the_flow_cost_shortens_the_learnt_flow_where_the_exemplar_has_pixels(tmp_path):
    """Two refining GANs start alike, with a head that moves the exemplar 2 px: trained on the same
    batches, the one that pays for the flow's length (--lambda-flow) ends with a much shorter flow
    over the exemplar's pixels; the cost itself counts only where the exemplar has some."""
    from GenGAN import GenGAN
    from losses import flow_cost
    from target_data import TargetData

    flow = torch.zeros(1, 2, 4, 4)
    flow[:, 0] = 3.0
    flow[:, 1] = 4.0
    alpha = torch.zeros(1, 1, 4, 4)
    alpha[..., :2, :] = 1.0  # the exemplar covers half the picture
    assert float(flow_cost(flow, {"exemplar_mask": alpha})) == pytest.approx(2.5)

    video = PlatedPoses(24, size=64)
    data = TargetData(video, np.arange(24), 32, torch.device("cpu"), plates=video.plates(), exemplar_window=3)
    lengths = {}
    for lambda_flow in (0.0, 50.0):
        torch.manual_seed(0)
        gen = GenGAN(video, load_from_file=False, config=dict(REFINE, lambda_flow=lambda_flow),
                     path=str(tmp_path / f"g{lambda_flow}.pt"), device=torch.device("cpu"))
        with torch.no_grad():
            gen.G.up[-2].bias[0] = float(np.arctanh(2.0 / REFINE["max_flow"]))
        torch.manual_seed(1)
        for i in range(24):
            gen.train_step(data.batch(np.arange(i % 6 * 4, i % 6 * 4 + 4)))
        batch = data.batch(np.arange(8), augment=False)
        with torch.no_grad():
            decoded = gen.decode(gen.G(gen.network_input(batch)), batch)
        lengths[lambda_flow] = float(flow_cost(decoded.flow, batch) / batch["exemplar_mask"].mean())
    assert lengths[0.0] > 1.0  # without the cost the flow stays long
    assert lengths[50.0] < 0.5 * lengths[0.0]


def test_at_native_size_no_part_shows_the_networks_person_not_its_untrained_paint(tmp_path):
    """Where the network chose the exemplar its synthesised channels get no gradient and hold
    anything (green here); where no exemplar part shows, the native person must be the network's
    own person upscaled, not that paint."""
    from GenGAN import GenGAN
    from network_generator import Exemplar

    video = PlatedPoses(4, size=64)
    gen = GenGAN(video, load_from_file=False, config=dict(REFINE), path=str(tmp_path / "g.pt"), device=torch.device("cpu"))
    low = gen.size  # 32: the maps and the network's outputs are at its size
    over = np.zeros((low, low), np.float32)
    over[:, :low // 2] = 1  # only the left half shows a part, fetched from where it is
    grid = (np.arange(low, dtype=np.float32) + 0.5) / low
    from_x, from_y = np.meshgrid(grid, grid)
    exemplar = Exemplar(0, (from_x * over, from_y * over, over, over, ["torso"]), None, over)
    person = np.full((low, low, 3), (255, 0, 0), np.uint8)  # the network's person: blue
    synth = torch.tensor([-1.0, 1.0, -1.0])[:, None, None].expand(3, low, low)  # its raw paint: green (RGB, -1..1)
    choice, flow = np.ones((low, low, 1), np.float32), np.zeros((low, low, 2), np.float32)
    sharp = gen.native_layers(64, video.ske[0], exemplar, np.ones((low, low), np.float32), person, flow, choice, synth)
    assert np.abs(sharp.person[:, 40:].astype(int) - (255, 0, 0)).max() <= 1  # blue, never green
    own = video.read_image(0)
    assert np.abs(sharp.person[:, :28].astype(int) - own[:, :28]).mean() < 2  # the exemplar's own pixels


def test_a_checkpoint_from_before_exemplars_still_loads_and_runs(tmp_path):
    from checkpoints import load_checkpoint, save_checkpoint
    from GenGAN import GenGAN

    video = PlatedPoses(8, size=32)
    old = dict(TINY, lambda_l1=100.0)  # a config as GenGAN wrote it before exemplars: no such keys
    gen = GenGAN(video, load_from_file=False, config=old, path=str(tmp_path / "old.pt"), device=torch.device("cpu"))
    gen.save(str(tmp_path / "old.pt"))
    checkpoint = load_checkpoint(str(tmp_path / "old.pt"), "gan")
    assert "exemplar" not in checkpoint["config"]
    save_checkpoint(str(tmp_path / "old.pt"), checkpoint)
    loaded = GenGAN(video, path=str(tmp_path / "old.pt"), device=torch.device("cpu"))
    assert loaded.exemplar_mode is None and loaded.G.down[0].in_channels == 6
    layers = loaded.layers(video.ske[3], np.full((32, 32, 3), 120, np.uint8))
    assert layers.person.shape == (32, 32, 3) and layers.sharper is None


def test_the_u_net_trains_on_exemplars_too_and_the_vector_network_refuses_them(taichi_clip, tmp_path):
    import json

    from conftest import assert_one_line_error, run_script

    out = tmp_path / "van.pt"
    proc = run_script("GenVanillaNN.py", taichi_clip, "--variant", "image", "--exemplar", "refine", "--size", "32",
                      "--ngf", "8", "--batch-size", "4", "--epochs", "1", "--held-out", "0.2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / "van" / "config.json").read_text())
    assert config["exemplar"] == "refine" and config["loss"] == "nn" and config["plates"]
    assert config["validation"] == 0.1 and "only 5 validation frames" in proc.stdout  # 48 training frames
    proc = run_script("GenVanillaNN.py", taichi_clip, "--variant", "image", "--exemplar", "refine", "--size", "32",
                      "--ngf", "8", "--batch-size", "4", "--epochs", "1", "--held-out", "0.2", "--validation", "0.25",
                      "--fresh", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "kept epoch 1 of 1 (validation PCK" in proc.stdout and (tmp_path / "van_last.pt").exists()
    assert "--variant image" in assert_one_line_error(run_script(
        "GenVanillaNN.py", taichi_clip, "--variant", "ske", "--exemplar", "input", "--out", str(tmp_path / "s.pt")))


def test_positions_read_at_a_larger_size_are_smooth_within_a_part_and_never_between_two():
    """The scene fetches the exemplar at up to 512 px through maps laid out at 128: within a part
    the source positions are interpolated (no blocks), but across a seam between parts that come
    from far apart, no pixel takes a position in between (a stripe of what lies between them)."""
    size = 8
    ramp = np.tile(np.linspace(0.1, 0.4, size, dtype=np.float32), (size, 1))
    two_parts = np.where(np.arange(size) < size // 2, 0.2, 0.8).astype(np.float32)[None].repeat(size, 0)
    over = np.ones((size, size), np.float32)
    smooth_x, _, shown = pose_warp.source_positions(ramp, ramp.T.copy(), over, 32)
    inside = smooth_x[8:24, 8:24]
    assert np.all(np.diff(inside, axis=1) > 0) and shown[8:24, 8:24].min() == 1.0
    split_x, _, _ = pose_warp.source_positions(two_parts, ramp.T.copy(), over, 32)
    assert np.all(np.isclose(split_x, 0.2) | np.isclose(split_x, 0.8))
    assert np.isclose(split_x[:, 15], 0.2).all() and np.isclose(split_x[:, 16], 0.8).all()
    # two parts with their own texture: each side stays interpolated right up to the seam (no
    # block of one exemplar pixel repeated), and no position falls between the two sides
    ramps = np.where(np.arange(size) < size // 2, ramp, ramp + 0.5).astype(np.float32)
    seam_x, _, _ = pose_warp.source_positions(ramps, ramp.T.copy(), over, 32)
    assert np.all(np.diff(seam_x[:, 4:16], axis=1) > 0) and np.all(np.diff(seam_x[:, 16:28], axis=1) > 0)
    step = ramp[0, 1] - ramp[0, 0]  # each part is continued at most half a map pixel across the seam
    assert seam_x[:, :16].max() <= ramp[0, 3] + step / 2 + 1e-6
    assert seam_x[:, 16:].min() >= ramp[0, 4] + 0.5 - step / 2 - 1e-6
    # at the person's outline the map pixels outside have no position: none is taken, and how much
    # shows fades over the outline's map pixel instead of stepping in blocks
    half = over.copy()
    half[:, size // 2:] = 0
    edge_x, _, edge_shown = pose_warp.source_positions(ramp * half, ramp.T.copy(), half, 32)
    assert np.all(np.diff(edge_x[:, 4:14], axis=1) > 0) and np.all(np.diff(edge_x[:, 13:17], axis=1) >= -1e-6)
    assert np.all(edge_x[:, :17] >= ramp[0, 0] - 1e-6) and np.all(edge_x[:, :17] <= ramp[0, 3] + 1e-6)
    assert 0 < edge_shown[:, 16].min() < 1 and edge_shown[:, 15].min() > edge_shown[:, 16].max()
    box = (5, 9, 27, 20)  # the scene fetches only inside the person's box: the same positions there
    boxed = pose_warp.source_positions(ramp, ramp.T.copy(), over, 32, box=box)
    full = pose_warp.source_positions(ramp, ramp.T.copy(), over, 32)
    for part, whole in zip(boxed, full):
        assert np.array_equal(part, whole[9:20, 5:27])


def test_the_shown_box_covers_every_pixel_a_part_can_reach():
    over = np.zeros((16, 16), np.float32)
    over[4:8, 6:9] = 1
    assert pose_warp.shown_box(over, 64, margin=1) == (20, 12, 40, 36)  # map pixels 5..9 x 3..8, times 4
    assert pose_warp.shown_box(over, 64, margin=10) == (0, 0, 64, 64)
    assert pose_warp.shown_box(np.zeros((16, 16), np.float32), 64, margin=1) is None


def test_training_with_validation_keeps_the_best_epoch_and_never_copies_a_validation_frame(tmp_path):
    """fit(validate=...) scores every VALIDATE_EVERY epochs and after the last; the best epoch's
    checkpoint ends at the path (what the demo loads), the last one beside it. A validation frame
    is scored with exemplars from the other training frames only."""
    from checkpoints import load_checkpoint
    from GenGAN import GenGAN
    from target_data import TargetData
    from training import PoseValidation, fit, last_path, validation_split

    torch.manual_seed(0)
    video = PlatedPoses(24, size=64)
    fitted, validation = validation_split(np.arange(24), 0.25)
    assert fitted.tolist() == list(range(18)) and validation.tolist() == list(range(18, 24))
    path = str(tmp_path / "g.pt")
    gen = GenGAN(video, load_from_file=False, config=dict(REFINE), path=path, device=torch.device("cpu"))
    gen.held_out_indices = []
    data = TargetData(video, fitted, 32, torch.device("cpu"), plates=video.plates(), exemplar_window=3)
    scores = iter([(0.5, 0.1), (0.9, 0.05), (0.9, 0.07)])
    validated = []

    def validate(g):
        validated.append(g.epochs_done)
        return next(scores)

    fit(gen, data, path, epochs=6, sample_every=100, log=lambda *a: None, validate=validate)
    assert validated == [2, 4, 6]
    assert load_checkpoint(path, "gan")["epochs"] == 4 and load_checkpoint(last_path(path), "gan")["epochs"] == 6

    picked = []
    exemplar_for = gen.exemplar_for

    def spy(ske):
        exemplar = exemplar_for(ske)
        picked.append(exemplar.frame)
        return exemplar

    gen.exemplar_for = spy
    pck, error = PoseValidation(video, validation, video.plates())(gen)
    assert 0 <= pck <= 1 and error > 0
    assert len(picked) == len(validation) and not set(picked) & set(validation.tolist())
    assert list(gen.held_out_indices) == [] and gen.exemplar_search is None  # as it was: all frames are exemplars again


class ArmsOrLegs(PlatedPoses):
    """Frames that each fit the query pose's arms or its legs, never both: frame 0 has its arms
    (legs wide apart), frame 1 its legs (arms raised), the rest neither. Each frame is figure()'s
    drawing of its pose, dimmed by its own factor, so a warped pixel tells which frame it came from."""

    query = standing_skeleton(arm_angle=0.5, leg_spread=0.05)
    dimming = [1.0, 0.6, 0.8, 0.8, 0.8, 0.8]

    def __init__(self, size=128):
        super().__init__(6, size)
        self.ske = [standing_skeleton(0.5, 0.15), standing_skeleton(2.2, 0.05)] + [
            standing_skeleton(1.6 + 0.2 * k, 0.2) for k in range(4)]
        self.landmarks = np.stack([s.landmarks for s in self.ske])

    def read_image(self, i, at_least=None):
        return (figure(self.ske[i], self.size)[0] * self.dimming[i]).round().astype(np.uint8)

    def read_mask(self, i):
        return figure(self.ske[i], self.size)[1]


def test_the_legs_come_from_the_frame_whose_legs_fit_and_the_arms_from_the_one_whose_arms_do(tmp_path, monkeypatch):
    import network_generator
    from exemplars import LEG_JOINTS, LEG_PART_MASK
    from GenGAN import GenGAN

    video = ArmsOrLegs()
    query = video.query
    everything = PoseIndex(video.landmarks, np.arange(6))
    legs = PoseIndex(video.landmarks, np.arange(6), joints=LEG_JOINTS, parts=LEG_PART_MASK)
    assert everything.pick(query.landmarks)[0] == 0 and legs.pick(query.landmarks)[0] == 1
    assert legs.pick(query.landmarks, prefer=0)[0] == 1  # the body's frame, whose legs do not fit
    near = PoseIndex(np.stack([standing_skeleton(2.2, 0.052).landmarks, query.landmarks]), [0, 100],
                     joints=LEG_JOINTS, parts=LEG_PART_MASK)
    assert near.pick(query.landmarks)[0] == 1 and near.pick(query.landmarks, prefer=0)[0] == 0  # nearly as close: kept

    gen = GenGAN(video, load_from_file=False, config=dict(REFINE, size=64), path=str(tmp_path / "g.pt"),
                 device=torch.device("cpu"))
    gen.held_out_indices = []
    exemplar = gen.exemplar_for(query)
    assert exemplar.frame == 0 and exemplar.legs[0] == 1
    size = 64
    for name, frame in (("left shin", 1), ("left thigh", 1), ("left upper arm", 0), ("left lower arm", 0)):
        colour = np.array(COLOURS[name]) * video.dimming[frame]
        found = pixels_of(exemplar.image * (exemplar.alpha[:, :, None] > 0.5), colour, tolerance=20)
        assert len(found) > 5, name
        a, b = LIMBS[name]
        assert np.median(segment_distance(found, *(query.landmarks[[a, b], :2] * size))) < 3, name
        other = np.array(COLOURS[name]) * video.dimming[1 - frame]  # not the other frame's pixels
        assert len(pixels_of(exemplar.image * (exemplar.alpha[:, :, None] > 0.5), other, tolerance=20)) < len(found) / 4, name
    sharp = gen.layers(query, np.full((64, 64, 3), 120, np.uint8)).sharper(128)  # both frames fetched at 128 px
    assert sharp.person.shape == (128, 128, 3) and sharp.alpha.shape == (128, 128)

    monkeypatch.setattr(network_generator, "LEGS_OWN_EXEMPLAR", False)
    alone = GenGAN(video, load_from_file=False, config=dict(REFINE, size=64), path=str(tmp_path / "h.pt"),
                   device=torch.device("cpu"))
    alone.held_out_indices = []
    assert alone.exemplar_for(query).legs is None
