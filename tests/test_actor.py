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
    assert SyntheticActor.ACTORS["maya"]["top"] != SyntheticActor.ACTORS["leo"]["top"]
    assert SyntheticActor.ACTORS["maya"]["long_sleeves"] != SyntheticActor.ACTORS["leo"]["long_sleeves"]
