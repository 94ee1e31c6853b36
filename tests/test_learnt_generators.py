"""GenVanillaNN and GenGAN: learning, checkpoints, resume, interruption, bad checkpoints, DDP."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import REPO, SyntheticPoses, assert_one_line_error, run_script
from GenGAN import GenGAN
from GenVanillaNN import GenVanillaNN
from checkpoints import load_checkpoint, save_checkpoint
from network_generator import tensor_to_bgr
from target_data import TargetData

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
    with open(tmp_path / "van" / "config.json") as f:  # the run's resolved options, readable
        assert json.load(f) == resumed["config"]


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
    assert "--exemplar-candidates" in assert_one_line_error(
        run_script("GenGAN.py", taichi_clip, "--out", str(tmp_path / "gan.pt"), "--exemplar-candidates", "0"))


def start_training(command, out):
    """A training subprocess, read up to its "training ..." line; (process, lines read)."""
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1"))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("training gan"):
            break
    return proc, lines


def steps_reported(stdout):
    return {line.split()[1]: int(line.split()[2]) for line in stdout.splitlines() if line.startswith("rank ")}


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_epoch_saves_a_loadable_checkpoint_and_resume_continues(taichi_clip, tmp_path, signum, code):
    """Ctrl-C, and SIGTERM as a cluster preempts a job: the current step finishes, the checkpoint
    is saved with the steps really done, the exit is non-zero with one line, --resume goes on."""
    out = str(tmp_path / "gan.pt")
    command = [sys.executable, "GenGAN.py", taichi_clip, "--size", "64", "--batch-size", "2", "--out", out]
    proc, lines = start_training(command + ["--epochs", "50"], out)
    time.sleep(3)
    proc.send_signal(signum)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == code, "".join(lines) + rest + err
    assert "Traceback" not in err
    message = [line for line in err.splitlines() if line.startswith("stopped by")]
    assert len(message) == 1 and signal.Signals(signum).name in message[0] and "--resume" in message[0]
    ckpt = load_checkpoint(out, "gan")
    steps = steps_reported(rest)["0/1:"]
    assert ckpt["steps"] == steps > 0 and ckpt["epochs"] < 50
    assert ckpt["epochs"] == sum(line.startswith("epoch ") for line in rest.splitlines())
    resumed = subprocess.run(command + ["--resume", "--epochs", str(ckpt["epochs"] + 1)], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    again = load_checkpoint(out, "gan")
    assert again["epochs"] == ckpt["epochs"] + 1 and again["steps"] > ckpt["steps"]


def rank_pids(torchrun_pid):
    """{rank: pid} of torchrun's workers (their RANK environment variable)."""
    pids = {}
    for pid in open(f"/proc/{torchrun_pid}/task/{torchrun_pid}/children").read().split():
        environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        rank = next(v for v in environ if v.startswith(b"RANK="))
        pids[int(rank[5:])] = int(pid)
    return pids


TORCHRUN_GAN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "GenGAN.py", "--size", "32",
                "--batch-size", "2", "--ngf", "8", "--ndf", "8", "--epochs", "200"]


def test_sigterm_under_torchrun_stops_every_rank_at_the_same_step(taichi_clip, tmp_path):
    out = str(tmp_path / "gan.pt")
    proc, lines = start_training(TORCHRUN_GAN + [taichi_clip, "--out", out], out)
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)  # to torchrun, which passes it on to the ranks
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in rest
    steps = steps_reported(rest)
    assert set(steps) == {"0/2:", "1/2:"} and steps["0/2:"] == steps["1/2:"] > 0, "".join(lines) + rest + err
    assert load_checkpoint(out, "gan")["steps"] == steps["0/2:"]


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="finds the ranks through Linux's /proc")
def test_a_sigterm_to_one_rank_stops_both_at_the_same_step_and_a_late_one_loses_nothing(taichi_clip, tmp_path):
    """What a busy machine did in CI: rank 0's SIGTERM stops both ranks, rank 1's own arrives late.
    Both must report the same steps and the checkpoint hold them. (The narrow window in which the
    late signal killed rank 1 before it reported cannot be hit on demand; this guards the rest.)"""
    out = str(tmp_path / "gan.pt")
    proc, lines = start_training(TORCHRUN_GAN + [taichi_clip, "--out", out], out)
    time.sleep(4)
    pids = rank_pids(proc.pid)
    os.kill(pids[0], signal.SIGTERM)
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("SIGTERM: stopping"):
            break
    time.sleep(0.05)
    try:
        os.kill(pids[1], signal.SIGTERM)
    except ProcessLookupError:  # already gone: nothing late to survive this time
        pass
    rest, err = proc.communicate(timeout=120)
    steps = steps_reported(rest)
    assert set(steps) == {"0/2:", "1/2:"} and steps["0/2:"] == steps["1/2:"] > 0, "".join(lines) + rest + err
    assert load_checkpoint(out, "gan")["steps"] == steps["0/2:"]


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


KEEP_SAVING = """
import sys, torch
from checkpoints import save_checkpoint
path, version = sys.argv[1], 0
while True:
    version += 1
    weights = torch.full((4_000_000,), float(version))  # 16 MB: a write takes a while
    save_checkpoint(path, {"generator": "gan", "version": version, "state": {"w": weights}})
    print(version, flush=True)
"""


def test_kill_9_during_checkpoint_writes_never_leaves_a_bad_checkpoint(tmp_path):
    """A process killed at any moment of a save leaves the previous checkpoint or the new one,
    whole: never a torn file. The temporary file a killed write leaves is removed by the next save."""
    path = str(tmp_path / "gan.pt")
    rng = np.random.default_rng(0)
    left_behind = 0
    for attempt in range(6):
        proc = subprocess.Popen([sys.executable, "-c", KEEP_SAVING, path], cwd=REPO, stdout=subprocess.PIPE,
                                text=True)
        proc.stdout.readline()  # one save done (which removed the last one's leftovers), the next ones under way
        assert len([n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]) <= 1  # this process's own only
        if attempt % 2:
            time.sleep(rng.uniform(0.05, 0.6))  # anywhere
        else:
            before = set(os.listdir(tmp_path))
            deadline = time.time() + 5
            while not set(os.listdir(tmp_path)) - before and time.time() < deadline:
                pass  # until a new temp file shows a write under way
        proc.kill()
        proc.wait()
        ckpt = load_checkpoint(path, "gan")
        assert (ckpt["state"]["w"] == ckpt["version"]).all()
        left_behind += any(name.startswith(".tmp-") for name in os.listdir(tmp_path))
    assert left_behind > 0  # some kills landed inside a write
    save_checkpoint(path, {"generator": "gan", "version": 0, "state": {"w": torch.zeros(4)}})
    assert [name for name in os.listdir(tmp_path)] == ["gan.pt"]


def test_the_bfloat16_autocast_path_trains_on_the_cpu(tmp_path):
    """On CUDA the GAN trains under bfloat16 autocast; no GPU is at hand, but torch autocasts on
    the CPU too, so the same code path runs here: convolutions in bfloat16, losses in float32."""
    video, gen, data = tiny_setup("gan", tmp_path)
    gen.autocast = True  # what a CUDA device sets
    dtypes = []
    first_conv = next(m for m in gen.G.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    losses = [gen.train_step(data.batch(np.arange(i % 2 * 4, i % 2 * 4 + 4))) for i in range(30)]
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert all(np.isfinite(list(step.values())).all() for step in losses)
    assert np.mean([s["l1"] for s in losses[-5:]]) < np.mean([s["l1"] for s in losses[:5]])
    assert all(p.dtype == torch.float32 for p in gen.G.parameters())  # the weights stay float32


def test_streamed_training_data_gives_the_batches_held_in_memory(taichi_clip):
    """Beyond the memory budget the frames are read from the cache batch by batch (the next
    one in a thread): the batches are those the in-memory path gives."""
    from VideoSkeleton import VideoSkeleton

    video = VideoSkeleton(taichi_clip, verbose=False)
    plates = video.plates(40)
    cpu = torch.device("cpu")
    held = TargetData(video, np.arange(40), 32, cpu, plates=plates)
    streamed = TargetData(video, np.arange(40), 32, cpu, plates=plates, memory_budget=0)
    assert not held.streamed and streamed.streamed and streamed.arrays is None
    chunks = [np.array([3, 1, 4, 1]), np.array([5, 9, 2, 6]), np.array([39, 0, 7, 8])]
    for a, b in zip(held.batches(chunks), streamed.batches(chunks)):
        assert a.keys() == b.keys() == {"image", "drawing", "background", "mask", "vector"}
        for key in a:
            torch.testing.assert_close(a[key], b[key])
    assert sum(1 for _ in streamed.batches(chunks[:2])) == 2


def test_training_streams_a_target_over_the_budget(taichi_clip, tmp_path):
    out = str(tmp_path / "gan.pt")
    proc = run_script("GenGAN.py", taichi_clip, "--size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "4",
                      "--epochs", "1", "--memory-budget", "0", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "streaming them from the cache" in proc.stdout
    assert load_checkpoint(out, "gan")["epochs"] == 1
    assert "--memory-budget" in assert_one_line_error(
        run_script("GenGAN.py", taichi_clip, "--memory-budget", "-1", "--out", out, "--fresh"))


def test_the_frozen_inference_copy_runs_in_bfloat16_only_where_the_cpu_has_it(monkeypatch):
    """Where the CPU multiplies bfloat16 in hardware, generate runs a bfloat16 copy of the shipped
    GAN: its images are those of the float32 copy to within a few grey levels (and the model's
    own weights stay float32); elsewhere the copy is float32."""
    import devices
    import network_generator
    from VideoSkeleton import VideoSkeleton

    target = VideoSkeleton(os.path.join(REPO, "data", "demo_target.mp4"), verbose=False)
    native = devices.cpu_inference_dtype()
    assert native in (torch.bfloat16, torch.float32)
    images = {}
    for dtype in {native, torch.float32}:
        monkeypatch.setattr(network_generator, "cpu_inference_dtype", lambda: dtype)
        gen = GenGAN(target, load_from_file=True, device=torch.device("cpu"))
        images[dtype] = np.stack([gen.generate(target.ske[i]) for i in (0, 40, 80)]).astype(int)
        assert gen.frozen_dtype == dtype and all(p.dtype == torch.float32 for p in gen.G_ema.parameters())
    difference = np.abs(images[native] - images[torch.float32])
    assert difference.mean() < 0.5 and difference.max() <= 16
