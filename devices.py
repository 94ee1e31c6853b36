"""Where work runs: the torch device (CUDA, else Apple MPS, else the CPU), and background threads
that give way to the thread doing the real-time work."""
import os
import platform
import sys
import threading


def select_device():
    """CUDA, else Apple MPS, else CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_inference_dtype():
    """bfloat16 where this CPU multiplies it in hardware (Intel AMX or AVX-512 BF16): the frozen
    inference networks then run 2.6x faster on one thread (a whole GAN frame, retrieval and warp
    included, 1.7x; the vanilla ones 2.2-2.5x) and their images move by 0.03-0.04 grey levels on
    average (at most 6): invisible. float32 elsewhere (a laptop's CPU emulates bfloat16, slower
    than float32)."""
    import torch

    native = any(getattr(torch.cpu, probe, lambda: False)() for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
    return torch.bfloat16 if native else torch.float32


def device_name(device):
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def lower_thread_priority():
    """Make the calling thread give way to the process's other threads (Linux, where each
    thread has its own nice value; elsewhere nothing changes). Background work, such as
    registering frames and building plates while MediaPipe reads a video, then fills the cores
    MediaPipe leaves idle instead of slowing MediaPipe down."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            pass
