import json
import os

from conftest import assert_one_line_error, run_script


def test_evaluate_scores_nearest_and_notes_missing_models(taichi_clip, tmp_path):
    out = tmp_path / "eval"
    proc = run_script("Evaluate.py", taichi_clip, "--gen", "all", "--max-frames", "6", "--out", str(out),
                      cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    held = results["held_out"]
    assert set(held) == {"real", "nearest"}
    keys = {"psnr", "ssim", "psnr_person", "ssim_person", "pose_error", "detection_rate", "pck", "ms_per_frame",
            "flicker"}
    assert keys <= set(held["nearest"]) and keys <= set(held["real"])
    assert held["real"]["psnr"] is None and held["nearest"]["ssim"] > 0.3
    assert held["real"]["detection_rate"] == 1.0  # the padded detector reads every real crop
    assert 10 < held["nearest"]["psnr_person"] < 60 and 0 < held["nearest"]["ssim_person"] <= 1
    assert 0.1 < results["meta"]["person_share"]["held_out"] < 0.8
    assert results["meta"]["frames_scored"]["held_out"] == 6 and results["meta"]["device"]
    assert set(results["meta"]["notes"]) == {"vanilla-ske", "vanilla-image", "gan"}
    assert "skipped" in proc.stdout and "GenGAN.py" in proc.stdout
    assert (out / "report.md").exists() and (out / "contact_sheet.png").stat().st_size > 1000


def test_evaluate_refuses_a_model_trained_on_the_held_out_frames(taichi_clip, tmp_path):
    trained = run_script("GenVanillaNN.py", taichi_clip, "--variant", "ske", "--size", "16", "--ngf", "8",
                         "--batch-size", "4", "--epochs", "1", cwd=str(tmp_path))
    assert trained.returncode == 0, trained.stderr
    assert os.path.exists(tmp_path / "models" / "taichi_vanilla-ske.pt")
    line = assert_one_line_error(run_script("Evaluate.py", taichi_clip, "--gen", "2", "--max-frames", "4",
                                            "--out", str(tmp_path / "e"), cwd=str(tmp_path)))
    assert "trained on" in line
    proc = run_script("Evaluate.py", taichi_clip, "--gen", "all", "--max-frames", "4", "--out", str(tmp_path / "e"),
                      cwd=str(tmp_path))
    assert proc.returncode == 0 and "trained on" in proc.stdout


def test_evaluate_bad_generator_id(taichi_clip, tmp_path):
    assert "unknown generator" in assert_one_line_error(
        run_script("Evaluate.py", taichi_clip, "--gen", "1,9", cwd=str(tmp_path)))


def test_evaluate_scores_a_transfer_without_truth(taichi_clip, karate_clip, tmp_path):
    out = tmp_path / "eval"
    proc = run_script("Evaluate.py", taichi_clip, "--gen", "1", "--max-frames", "5", "--out", str(out),
                      "--transfer", karate_clip, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "no truth" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    moved = results["transfer"]
    assert set(moved) == {"real", "nearest"}
    nearest = moved["nearest"]
    assert all(nearest[k] is None for k in ("psnr", "ssim", "psnr_person", "ssim_person"))
    assert 0 < nearest["detection_rate"] <= 1 and 0 <= nearest["pck"] <= 1 and nearest["flicker"] > 0
    assert nearest["pose_error"] < 0.2  # nearest's retrieved poses are near the retargeted ones
    assert moved["real"]["detection_rate"] == 1.0  # the source's own crops
    assert results["meta"]["transfer"] == {"source": karate_clip, "truth": None, "notes": {}}
    assert results["meta"]["frames_scored"]["transfer"] == 5
    assert (out / "contact_sheet_transfer.png").stat().st_size > 1000
    assert "--transfer takes" in assert_one_line_error(
        run_script("Evaluate.py", taichi_clip, "--transfer", karate_clip, karate_clip, karate_clip, cwd=str(tmp_path)))
