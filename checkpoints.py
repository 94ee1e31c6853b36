"""The checkpoint format of the learnt generators: where a checkpoint lives, saving it atomically,
loading it safely, and checking that a run may resume it.

A checkpoint (`models/<target>_<generator>.pt`) is a plain dict loaded with weights_only=True:
format version, generator name, config (everything needed to rebuild the networks), frame count
and held-out indices of the target cache, epochs and steps done, the loss log, and the states
of the networks and optimizers. Weights are stored in float16 and optimizer moments in bfloat16
(float16 would flush Adam's tiny second moments to zero), which keeps a shipped model small.
Saving goes through files.atomic_write_bytes: a save that fails (a full disk) is a one-line
error and leaves the previous checkpoint as it was.
"""
import io
import os

import torch

from cli import UserError
from files import atomic_write_bytes

CHECKPOINT_FORMAT = 1


def model_path(target, gen_name):
    """Where the checkpoint of generator `gen_name` trained on video `target` lives."""
    stem = os.path.splitext(os.path.basename(target))[0]
    return os.path.join("models", f"{stem}_{gen_name}.pt")


def run_folder(path):
    """The folder beside a checkpoint for its samples, loss log and config.json."""
    return os.path.splitext(path)[0]


def _compact(obj):
    """float32 tensors -> float16 (weights) / bfloat16 (optimizer moments), recursively."""
    if isinstance(obj, torch.Tensor):
        return obj.to(torch.float16) if obj.is_floating_point() else obj
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in ("exp_avg", "exp_avg_sq") and isinstance(v, torch.Tensor):
                out[k] = v.to(torch.bfloat16)
            else:
                out[k] = _compact(v)
        return out
    if isinstance(obj, list):
        return [_compact(v) for v in obj]
    return obj


def _expand(obj):
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.is_floating_point() else obj
    if isinstance(obj, dict):
        return {k: _expand(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_expand(v) for v in obj]
    return obj


def save_checkpoint(path, checkpoint):
    checkpoint = dict(checkpoint, state=_compact(checkpoint["state"]), format_version=CHECKPOINT_FORMAT)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path, generator_name):
    """The checkpoint at `path`, checked to be a readable `generator_name` checkpoint."""
    if not os.path.exists(path):
        raise UserError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise UserError(f"checkpoint {path} is corrupt or not a checkpoint ({type(err).__name__}); "
                        "retrain with --fresh") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format_version") != CHECKPOINT_FORMAT:
        raise UserError(f"checkpoint {path} is from an incompatible version; retrain with --fresh")
    if checkpoint.get("generator") != generator_name:
        raise UserError(f"checkpoint {path} holds a {checkpoint.get('generator')} model, not {generator_name}")
    checkpoint["state"] = _expand(checkpoint["state"])
    return checkpoint


def load_weights(module, state, path):
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise UserError(f"checkpoint {path} does not fit this architecture ({first})") from None


def open_run(path, generator_name, resume, fresh):
    """The checkpoint a training run continues (`resume`), or None for a new one; a saved model is
    never overwritten without `fresh`."""
    if resume and fresh:
        raise UserError("--resume and --fresh contradict each other")
    if resume:
        if not os.path.exists(path):
            raise UserError(f"--resume: there is no checkpoint at {path} yet; train without --resume first")
        return load_checkpoint(path, generator_name)
    if os.path.exists(path) and not fresh:
        raise UserError(f"{path} exists; continue it with --resume or replace it with --fresh")
    return None


def check_resumable(checkpoint, path, size, held_out, frame_count, target):
    """UserError unless a run asking for `size` (None: any) and `held_out` on a cache of
    `frame_count` frames may continue `checkpoint`."""
    saved = checkpoint["config"]
    if size is not None and size != saved["size"]:
        raise UserError(f"{path} was trained at {saved['size']} px; --size {size} does not fit it")
    if checkpoint["frame_count"] != frame_count:
        raise UserError(f"{path} was trained on a cache of {checkpoint['frame_count']} frames, but "
                        f"{target} now has {frame_count}; retrain with --fresh")
    if abs(held_out - saved["held_out"]) > 1e-9:
        raise UserError(f"{path} was trained with --held-out {saved['held_out']}; resume with the same value")
