"""SyntheticActor: needs requirements-actor.txt (CI installs it); skipped without anny."""
import numpy as np
import pytest

pytest.importorskip("anny")
pytest.importorskip("roma")

import SyntheticActor  # noqa: E402
from Skeleton import Skeleton  # noqa: E402


@pytest.fixture(scope="module", params=sorted(SyntheticActor.ACTORS))
def renderer(request):
    return SyntheticActor.Renderer(request.param, size=256)


def test_two_rendered_frames_show_a_person_mediapipe_finds(renderer):
    poses = SyntheticActor.routine_poses("target")
    for pose in (poses[60], poses[400]):
        image, joints3d, joints2d = renderer.render(pose)
        assert image.shape == (256, 256, 3) and image.dtype == np.uint8
        assert joints3d.shape == (23, 3) and joints2d.shape == (23, 2)
        ske = Skeleton()
        assert ske.from_image(image)
        # the detected nose and ankles are where the body was rendered (within 5% of the image)
        detected = ske.landmarks[[0, 27, 28], :2] * 256
        truth = joints2d[[0, 15, 16]]
        assert np.linalg.norm(detected - truth, axis=1).mean() < 0.05 * 256


def test_rendering_is_deterministic(renderer):
    pose = SyntheticActor.routine_poses("source", seed=3)[100]
    a, _, _ = renderer.render(pose)
    b, _, _ = renderer.render(pose)
    assert np.abs(a.astype(int) - b).max() <= 2


def test_routines_are_deterministic_and_feet_stay_on_the_floor(renderer):
    assert SyntheticActor.routine_poses("source", seed=5) == SyntheticActor.routine_poses("source", seed=5)
    assert SyntheticActor.routine_poses("source", seed=5) != SyntheticActor.routine_poses("source", seed=6)
    for pose in SyntheticActor.routine_poses("target")[::150]:
        verts, _ = renderer.posed(pose)
        assert abs(verts[:, 2].min().item()) < 1e-5


def test_the_two_actors_look_different():
    """The same pose rendered for each actor: another top on the chest, and on the forearm maya's
    long sleeve against leo's bare skin, so the source can never pass for the target."""
    pose = SyntheticActor.routine_poses("target")[60]
    colours = {}
    for actor in ("maya", "leo"):
        image, _, joints2d = SyntheticActor.Renderer(actor, size=256).render(pose)
        chest = joints2d[[5, 6, 11, 12]].mean(axis=0) * 0.6 + joints2d[[5, 6]].mean(axis=0) * 0.4
        forearm = (joints2d[7] + joints2d[9]) / 2
        colours[actor] = [image[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3].reshape(-1, 3).mean(axis=0)
                          for x, y in (chest, forearm)]
    for part in range(2):
        assert np.abs(colours["maya"][part] - colours["leo"][part]).sum() > 60, (part, colours)
