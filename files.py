"""Writes that are whole or absent: every file the project saves (caches' metadata, checkpoints,
samples, loss logs, evaluation reports, pictures) goes through a temporary file in the same folder,
is synced and renamed into place. A write that fails (a full disk, a read-only folder) is a
UserError naming the file; the previous file is left as it was and no temporary file stays behind.
A process killed in the middle of a write (kill -9, power loss) leaves its temporary file, which
the next write of the same file removes.
"""
import glob
import json
import os
import tempfile

import cv2

from cli import UserError

TEMP_PREFIX = ".tmp-"


def temp_path_for(path):
    """A fresh temporary path beside `path` (same folder, so the rename is atomic), named after
    this process so that a later write can tell a dead writer's leftovers from a live one's."""
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=f"-{name}")
    os.close(fd)
    return tmp


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_temps(path):
    """Delete the temporary files that killed writers of `path` left (their process is gone)."""
    folder, name = os.path.split(os.path.abspath(path))
    for leftover in glob.glob(os.path.join(glob.escape(folder), f"{TEMP_PREFIX}*-{glob.escape(name)}")):
        pid = os.path.basename(leftover)[len(TEMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            try:
                os.remove(leftover)
            except OSError:
                pass


def make_folder(folder):
    """os.makedirs, or a UserError saying why the folder cannot be made."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the folder {folder}: {err.strerror}") from None


def atomic_write_bytes(path, data):
    """Write `data` to `path` through a synced temporary file and a rename (see the module)."""
    make_folder(os.path.dirname(os.path.abspath(path)))
    remove_stale_temps(path)
    tmp = None
    try:
        tmp = temp_path_for(path)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide shipped files from other users
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_json(path, obj):
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_image(path, image):
    """An image written atomically, in the format its extension names (.png, .jpg)."""
    ext = os.path.splitext(path)[1].lower() or ".png"
    try:
        ok, data = cv2.imencode(ext, image)
    except cv2.error:
        ok = False
    if not ok:
        raise UserError(f"cannot write {path}: OpenCV cannot write {ext} pictures")
    atomic_write_bytes(path, data.tobytes())
