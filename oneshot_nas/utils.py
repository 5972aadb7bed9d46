"""Small shared helpers: atomic file writes, /proc/cpuinfo fields, numpy <-> NDArray copies that keep
OpenMP out of the main thread."""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Optional

import numpy as np


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a torn one."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def read_json_lines(path: str, damaged: str) -> list:
    """``(line, value)`` of each line of a JSON-lines file that a long job appends to. A torn last line (a
    kill mid-write) is left out with a warning; a bad line before it is an error ending in ``damaged``."""
    import json
    import logging

    from .errors import OneShotError
    with open(path) as f:
        lines = f.read().split("\n")
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append((line, json.loads(line)))
        except ValueError:
            if number >= len(lines) - 1:
                logging.getLogger("oneshot_nas").warning("ignoring the incomplete last line of %s", path)
                break
            raise OneShotError(f"{path}:{number} is not a JSON line; {damaged}") from None
    return out


def with_resolved_paths(config: dict, names) -> dict:
    """``config`` with the path options ``names`` resolved (``~`` expanded, symlinks and relative spellings
    followed), so that two configs naming one file by different spellings compare equal on resume."""
    out = dict(config)
    for name in names:
        if isinstance(out.get(name), list):  # a list of paths (--ensemble-params)
            out[name] = [os.path.realpath(os.path.expanduser(p)) for p in out[name]]
        elif out.get(name):
            out[name] = os.path.realpath(os.path.expanduser(out[name]))
    return out


def changed_settings(old: dict, new: dict, keys=None, flags: bool = False) -> list:
    """'name: old -> new' for each of ``keys`` (default: both dicts' keys, sorted) whose values differ, the name
    spelt '--name' with ``flags``: the one wording of every refused or announced change of settings."""
    keys = sorted(set(old) | set(new)) if keys is None else keys
    return [f"{'--' + k.replace('_', '-') if flags else k}: {old.get(k)!r} -> {new.get(k)!r}"
            for k in keys if old.get(k) != new.get(k)]


def cpuinfo_field(name: str) -> str:
    """The value of the first ``name`` line of /proc/cpuinfo ("model name", "flags"); "" where there is none."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(name):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


# Why the two copies below exist: MXNet copies an array of MXNET_CPU_PARALLEL_SIZE (default 200k) elements
# or more with an OpenMP loop in the calling thread (common::ParallelCopy: nd.array, asnumpy). That gives
# the Python thread an OpenMP team of its own next to the engine's, and from then on libgomp counts more
# OpenMP threads than cores: every parallel region in the process stops spinning and sleeps between
# regions, for the rest of the process. Measured on 2 cores (OMP_NUM_THREADS=2): supernet steps at batch
# 128 x 32 ran at 174-188 instead of 434-440 img/s (bench/train_throughput.py --copy-in-main-thread,
# logs/train_throughput.txt), batch-1 inference up to 6x slower.
def _parallel_copy_size() -> int:
    return int(os.environ.get("MXNET_CPU_PARALLEL_SIZE", "200000"))


def to_nd(array, dtype=None):
    """An NDArray copy of a numpy array, copied by MXNet's engine thread instead of this one."""
    from mxnet import nd
    array = np.ascontiguousarray(array, dtype=dtype)
    return nd.from_numpy(array, zero_copy=True).copy()


def to_numpy(array) -> np.ndarray:
    """``array.asnumpy()`` in pieces small enough to be copied without an OpenMP loop in this thread."""
    step = _parallel_copy_size() - 1
    if array.size <= step:
        return array.asnumpy()
    flat = array.reshape((-1,))  # a view: no copy
    return np.concatenate([flat[i:i + step].asnumpy() for i in range(0, array.size, step)]).reshape(array.shape)


@contextlib.contextmanager
def exclusive(path: str):
    """Waits for, then holds, an ``flock`` on ``path`` (created if missing): a short critical section shared by
    processes that append to one file (the shards of a benchmark)."""
    import fcntl
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the flock


class FolderLock:
    """An exclusive lock on an output folder (``FOLDER/.lock``, holding the owner's PID), so that a second
    process writing the same run stops at once instead of interleaving its files with the first. The lock
    is an ``flock``: the kernel releases it when its process dies, so a killed run's lock is taken over."""

    def __init__(self, folder: str, what: str, name: str = ".lock"):
        self.path, self.what, self.fd = os.path.join(folder, name), what, None

    def acquire(self) -> "FolderLock":
        from .errors import FolderInUse
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        holder = self._lock(fd)
        if holder is not None:
            raise FolderInUse(os.path.dirname(self.path), f"{os.path.dirname(self.path)} is in use by {self.what} "
                              f"(PID {holder}); wait for it to finish or stop it, or choose another output folder")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    @staticmethod
    def _lock(fd: int) -> Optional[str]:
        """Lock ``fd``; on failure close it and return the holder's PID as written in the file."""
        import fcntl
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return None
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            return holder

    @classmethod
    def holder(cls, folder: str, name: str = ".lock") -> Optional[str]:
        """The PID of the live process holding ``folder``'s lock, or None when it is free (or was never taken)."""
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            return None
        fd = os.open(path, os.O_RDONLY)
        holder = cls._lock(fd)
        if holder is None:
            os.close(fd)  # free: let it go at once
        return holder

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock; the file stays (removing it would race a new owner)
            self.fd = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
