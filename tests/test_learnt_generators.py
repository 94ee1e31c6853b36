"""GenVanillaNN and GenGAN: learning, checkpoints, resume, interruption, bad checkpoints, DDP."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from common import tensor_to_bgr
from conftest import REPO, SyntheticPoses, assert_one_line_error, run_script
from GenGAN import GenGAN
from GenVanillaNN import GenVanillaNN
from training import TargetData, load_checkpoint

TINY = {"ngf": 8, "max_ch": 16, "lr": 2e-3, "batch_size": 4, "held_out": 0.0, "default_epochs": 1}
TINY_GAN = dict(TINY, ndf=8, d_scales=2, lambda_l1=100.0, lambda_gan=1.0, lambda_fm=10.0, ema_decay=0.9)


def make(kind, video, path, size=32, load=False):
    cpu = torch.device("cpu")
    if kind == "gan":
        return GenGAN(video, load_from_file=load, config=dict(TINY_GAN, size=size), path=path, device=cpu)
    return GenVanillaNN(video, load_from_file=load, variant=kind, config=dict(TINY, size=size, variant=kind),
                        path=path, device=cpu)


def tiny_setup(kind, tmp_path):
    """8 synthetic 32 px frames, a fresh generator of `kind` and its training data."""
    torch.manual_seed(0)
    video = SyntheticPoses(8, size=32)
    return video, make(kind, video, str(tmp_path / "m.pt")), TargetData(video, np.arange(8), 32, torch.device("cpu"))


@pytest.mark.parametrize("kind", ["ske", "image", "gan"])
def test_a_few_steps_lower_the_loss(kind, tmp_path):
    video, gen, data = tiny_setup(kind, tmp_path)
    losses = [gen.train_step(data.batch(np.arange(i % 2 * 4, i % 2 * 4 + 4)))["l1"] for i in range(40)]
    assert np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4])


@pytest.mark.parametrize("kind", ["ske", "image", "gan"])
def test_save_load_round_trip_gives_identical_outputs(kind, tmp_path):
    video = SyntheticPoses(8, size=32)
    path = str(tmp_path / "m.pt")
    gen = make(kind, video, path)
    data = TargetData(video, np.arange(8), 32, torch.device("cpu"))
    for i in range(3):
        gen.train_step(data.batch(np.arange(4)))
    gen.epochs_done = 3
    gen.save(path)
    loaded = make(kind, video, path, load=True)
    assert loaded.epochs_done == 3
    # weights are stored in float16: outputs agree to within a grey level or two
    a, b = gen.generate(video.ske[5]), loaded.generate(video.ske[5])
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b).max() <= 3
    assert np.array_equal(b, loaded.generate(video.ske[5]))  # and loading is deterministic
    assert os.path.getsize(path) < 20e6


@pytest.mark.parametrize("kind", ["ske", "image", "gan"])
def test_generate_matches_the_network_and_follows_training(kind, tmp_path):
    video, gen, data = tiny_setup(kind, tmp_path)
    before = gen.generate(video.ske[3])  # through the frozen TorchScript copy
    with torch.no_grad():
        eager = tensor_to_bgr(gen.forward(data.batch([3]))[0])
    assert np.abs(before.astype(int) - eager).max() <= 1
    for _ in range(3):
        gen.train_step(data.batch(np.arange(4)))
    assert not np.array_equal(before, gen.generate(video.ske[3]))  # the copy is remade after training


def train_cli(script, clip, out, *extra, variant=None):
    args = [script, clip, "--size", "32", "--batch-size", "4", "--ngf", "8", "--out", out, *extra]
    if variant:
        args += ["--variant", variant]
    return run_script(*args)


def test_resume_continues_the_epoch_count_and_optimizer(taichi_clip, tmp_path):
    out = str(tmp_path / "van.pt")
    first = train_cli("GenVanillaNN.py", taichi_clip, out, "--epochs", "1", "--held-out", "0.2", variant="image")
    assert first.returncode == 0, first.stderr
    ckpt = load_checkpoint(out, "vanilla-image")
    assert ckpt["epochs"] == 1 and ckpt["config"]["size"] == 32 and len(ckpt["held_out_indices"]) == 12
    assert ckpt["state"]["opt"]["state"]  # Adam's moments are saved
    again = train_cli("GenVanillaNN.py", taichi_clip, out, "--epochs", "1", variant="image")
    assert "--resume" in assert_one_line_error(again)  # never overwrite a saved model silently
    second = train_cli("GenVanillaNN.py", taichi_clip, out, "--epochs", "2", "--resume", "--held-out", "0.2",
                       variant="image")
    assert second.returncode == 0, second.stderr
    resumed = load_checkpoint(out, "vanilla-image")
    assert resumed["epochs"] == 2 and resumed["steps"] == 2 * ckpt["steps"]
    assert [r["epoch"] for r in resumed["loss_log"]] == [1, 2]
    assert os.path.exists(os.path.join(str(tmp_path / "van"), "loss.png"))


def test_bad_checkpoints_and_flags_give_one_line_errors(taichi_clip, tmp_path):
    out = str(tmp_path / "van.pt")
    assert "no checkpoint" in assert_one_line_error(
        train_cli("GenVanillaNN.py", taichi_clip, out, "--epochs", "1", "--resume", variant="ske"))
    assert train_cli("GenVanillaNN.py", taichi_clip, out, "--epochs", "1", variant="ske").returncode == 0
    assert "32 px" in assert_one_line_error(
        run_script("GenVanillaNN.py", taichi_clip, "--variant", "ske", "--out", out, "--resume", "--size", "64"))
    assert "vanilla-ske model" in assert_one_line_error(
        run_script("GenVanillaNN.py", taichi_clip, "--variant", "image", "--out", out, "--resume"))
    assert "vanilla-ske model" in assert_one_line_error(run_script("GenGAN.py", taichi_clip, "--out", out, "--resume"))
    with open(out, "r+b") as f:
        f.seek(100)
        f.write(b"\0" * 500)
    assert "corrupt" in assert_one_line_error(
        run_script("GenVanillaNN.py", taichi_clip, "--variant", "ske", "--out", out, "--resume"))
    assert "--epochs" in assert_one_line_error(
        train_cli("GenVanillaNN.py", taichi_clip, out, "--epochs", "0", "--fresh", variant="ske"))


def test_ctrl_c_mid_epoch_saves_a_loadable_checkpoint(taichi_clip, tmp_path):
    out = str(tmp_path / "gan.pt")
    proc = subprocess.Popen([sys.executable, "GenGAN.py", taichi_clip, "--size", "64", "--batch-size", "2",
                             "--out", out, "--epochs", "50"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("training gan"):
            break
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(lines) + rest
    assert "Traceback" not in rest
    ckpt = load_checkpoint(out, "gan")
    assert ckpt["steps"] > 0 and ckpt["epochs"] < 50


def test_torchrun_two_cpu_ranks(taichi_clip, tmp_path):
    out = str(tmp_path / "ddp" / "gan.pt")
    os.makedirs(os.path.dirname(out))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "GenGAN.py",
                           taichi_clip, "--size", "32", "--batch-size", "4", "--ngf", "8", "--ndf", "8",
                           "--epochs", "1", "--out", out], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = {}
    for line in proc.stdout.splitlines():
        if line.startswith("rank "):
            rank, n = line.split()[1], int(line.split()[2])
            steps[rank] = n
    # 60 frames, 2 ranks, batches of 4: each rank takes 30 // 4 = 7 steps on its own shard
    assert steps == {"0/2:": 7, "1/2:": 7}
    assert [f for f in os.listdir(os.path.dirname(out)) if f.endswith(".pt")] == ["gan.pt"]
    assert load_checkpoint(out, "gan")["epochs"] == 1
