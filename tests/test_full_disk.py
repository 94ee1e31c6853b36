"""Writes onto a full disk, as a user with a nearly full drive meets them: a one-line error that
names the file, a non-zero exit, the previous file byte for byte as it was, and no temporary
file left behind. Each case runs in its own mount namespace on a tmpfs of a few hundred kB
(`unshare`; skipped where the system allows neither)."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, assert_one_line_error, run_script

REPORT = (f"{sys.executable} -c 'import hashlib, json, os, sys; d = sys.argv[1]; "
          "print(json.dumps({n: hashlib.sha256(open(os.path.join(d, n), \"rb\").read()).hexdigest() "
          "for n in os.listdir(d) if os.path.isfile(os.path.join(d, n))}))' ")


def on_a_full_disk(tmp_path, keep, free_kb, command):
    """Run `command` (a list; `{disk}` in it is the small disk's folder) with the files `keep`
    copied onto a tmpfs filled up to `free_kb` kB. Returns (process, {name: sha256} of the disk's
    files before, the same after)."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare here to mount a small disk")
    disk = tmp_path / "disk"
    disk.mkdir()
    copies = " && ".join(f"cp {k} {disk}/" for k in keep) or "true"
    args = " ".join(f"'{a.format(disk=disk)}'" for a in command)
    script = "\n".join([
        f"mount -t tmpfs -o size=2m tmpfs {disk} || exit 77", copies,
        f"avail=$(df -k --output=avail {disk} | tail -1); "
        f"dd if=/dev/zero of={disk}/filler bs=1k count=$((avail - {free_kb})) status=none",
        REPORT + str(disk) + f" > {tmp_path}/before.json",
        f"cd {REPO} && {args} > {tmp_path}/stdout 2> {tmp_path}/stderr; echo $? > {tmp_path}/rc",
        REPORT + str(disk) + f" > {tmp_path}/after.json",
        f"ls -a {disk} > {tmp_path}/listing"])
    proc = subprocess.run(["unshare", "-rm", "bash", "-c", script], capture_output=True, text=True, timeout=600)
    if proc.returncode == 77 or not (tmp_path / "rc").exists():
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip()[:200]}")
    done = subprocess.CompletedProcess(command, int((tmp_path / "rc").read_text()),
                                       (tmp_path / "stdout").read_text(), (tmp_path / "stderr").read_text())
    done.listing = (tmp_path / "listing").read_text().split()
    return done, json.loads((tmp_path / "before.json").read_text()), json.loads((tmp_path / "after.json").read_text())


def test_a_checkpoint_save_on_a_full_disk_keeps_the_previous_checkpoint(taichi_clip, tmp_path):
    first = tmp_path / "gan.pt"
    tiny = ["--size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "4"]
    trained = run_script("GenGAN.py", taichi_clip, *tiny, "--epochs", "1", "--out", str(first))
    assert trained.returncode == 0, trained.stderr
    assert os.path.getsize(first) > 300_000  # more than the room left below
    proc, before, after = on_a_full_disk(tmp_path, [first], 150, [
        sys.executable, "GenGAN.py", taichi_clip, *tiny, "--epochs", "2", "--resume", "--out", "{disk}/gan.pt"])
    line = assert_one_line_error(proc)
    assert "gan.pt" in line and "No space left" in line, line
    assert after["gan.pt"] == before["gan.pt"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert not [name for name in proc.listing if name.startswith(".tmp-")], proc.listing


def test_a_demo_video_on_a_full_disk_is_an_error_not_a_broken_file(karate_clip, taichi_clip, tmp_path):
    earlier = tmp_path / "dance.mp4"
    shutil.copy(karate_clip, earlier)  # a video the user made before, in the place the demo writes to
    proc, before, after = on_a_full_disk(tmp_path, [earlier], 200, [
        sys.executable, "DanceDemo.py", "--source", karate_clip, "--target", taichi_clip, "--gen", "1",
        "--no-window", "--out", "{disk}/dance.mp4"])
    line = assert_one_line_error(proc)
    assert "dance.mp4" in line, line
    assert after["dance.mp4"] == before["dance.mp4"]  # the earlier video, untouched
    assert not [name for name in proc.listing if name.startswith(".tmp-")], proc.listing
