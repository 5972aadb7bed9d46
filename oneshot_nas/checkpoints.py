"""Checkpoints written as one unit, and the checks a run folder gets before any work.

A checkpoint (network params, trainer states, and a manifest with the epoch, the run state and the sha256 of
both files) is written into a fresh temporary folder and made visible by one rename to
``SAVE_DIR/checkpoints/<tag>-<epoch>/``: a kill at any moment leaves the old unit or the new one, never a mix.
Only then are the user-facing names ``SAVE_DIR/<tag>.params|.states|.json`` pointed at it (hard links,
replaced one by one; they are for people and other commands, resume never reads them). Resume takes the
newest unit whose manifest and hashes check out, and falls back to the previous one with a warning.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from typing import Callable, List, Optional, Tuple

from .errors import OneShotError
from .utils import atomic_write_text

LOG = logging.getLogger("oneshot_nas")
UNIT_DIR = "checkpoints"
FILES = ("params", "states")
# Tests set this to "TAG:FILE:EPOCH" to pause the checkpoint write of unit TAG at EPOCH after FILE (a marker
# file SAVE_DIR/paused-TAG-FILE says so), so that a SIGKILL lands inside the write.
PAUSE_ENV = "ONESHOT_NAS_TEST_PAUSE_IN_CHECKPOINT"


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _test_pause(tag: str, name: str, epoch: int, save_dir: str) -> None:
    if os.environ.get(PAUSE_ENV) == f"{tag}:{name}:{epoch}":
        open(os.path.join(save_dir, f"paused-{tag}-{name}"), "w").close()
        time.sleep(60)


class Checkpoints:
    """``last`` every epoch (the previous one kept as a fallback), ``best`` by validation error, ``epoch-N``
    every --save-frequency epochs."""

    def __init__(self, save_dir: str):
        self.dir = save_dir
        self.units = os.path.join(save_dir, UNIT_DIR)

    def path(self, tag: str, ext: str) -> str:
        """The user-facing name of a checkpoint file, e.g. SAVE_DIR/last.params."""
        return os.path.join(self.dir, f"{tag}.{ext}")

    # ---- writing -----------------------------------------------------------------------------
    def save(self, tag: str, epoch: int, write_params: Callable[[str], None], write_states: Callable[[str], None],
             state: dict) -> None:
        os.makedirs(self.units, exist_ok=True)
        final = os.path.join(self.units, f"{tag}-{epoch:04d}")
        tmp = os.path.join(self.units, f".tmp-{tag}-{epoch:04d}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        try:
            for name, write in (("params", write_params), ("states", write_states)):
                write(os.path.join(tmp, f"{tag}.{name}"))
                _test_pause(tag, name, epoch, self.dir)
            manifest = {**state, "epoch": epoch, "tag": tag,
                        "sha256": {name: sha256(os.path.join(tmp, f"{tag}.{name}")) for name in FILES}}
            with open(os.path.join(tmp, f"{tag}.json"), "w") as f:
                json.dump(manifest, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            _fsync_dir(tmp)
            if os.path.exists(final):  # the same epoch written before a kill: replace it whole
                shutil.rmtree(final)
            os.rename(tmp, final)  # the commit: one rename
            _fsync_dir(self.units)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._publish(tag, final)
        self._prune(tag, keep=2 if tag == "last" else 1)

    def _publish(self, tag: str, unit: str) -> None:
        for ext in (*FILES, "json"):
            link = self.path(tag, ext)
            tmp = link + f".tmp-{os.getpid()}"
            if os.path.exists(tmp):
                os.unlink(tmp)
            try:
                os.link(os.path.join(unit, f"{tag}.{ext}"), tmp)
            except OSError:  # a file system without hard links: a copy
                shutil.copyfile(os.path.join(unit, f"{tag}.{ext}"), tmp)
            os.replace(tmp, link)

    def _prune(self, tag: str, keep: int) -> None:
        for unit in self._units(tag)[keep:]:
            shutil.rmtree(os.path.join(self.units, unit), ignore_errors=True)

    def _units(self, tag: str) -> List[str]:
        """Committed units of ``tag``, newest epoch first."""
        if not os.path.isdir(self.units):
            return []
        prefix = f"{tag}-"
        names = [n for n in os.listdir(self.units) if n.startswith(prefix) and n[len(prefix):].isdigit()]
        return sorted(names, key=lambda n: int(n[len(prefix):]), reverse=True)

    def remove_leftovers(self) -> int:
        """Temporary folders and files of writes that a kill interrupted; returns how many were removed."""
        removed = 0
        for folder in (self.units, self.dir):
            if not os.path.isdir(folder):
                continue
            for name in os.listdir(folder):
                if name.startswith(".tmp-") or ".tmp-" in name or name.endswith(".tmp"):
                    path = os.path.join(folder, name)
                    shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
                    removed += 1
        return removed

    # ---- reading -----------------------------------------------------------------------------
    def verified(self, tag: str) -> List[Tuple[str, dict]]:
        """(unit folder, manifest) of every complete unit of ``tag``, newest first."""
        out = []
        for name in self._units(tag):
            unit = os.path.join(self.units, name)
            manifest = self._check(unit, tag)
            if manifest is not None:
                out.append((unit, manifest))
        return out

    def _check(self, unit: str, tag: str) -> Optional[dict]:
        try:
            with open(os.path.join(unit, f"{tag}.json")) as f:
                manifest = json.load(f)
            if not isinstance(manifest, dict) or f"{tag}-{manifest['epoch']:04d}" != os.path.basename(unit):
                return None
            if any(sha256(os.path.join(unit, f"{tag}.{n}")) != manifest["sha256"][n] for n in FILES):
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return manifest

    def damaged(self, tag: str) -> List[str]:
        """Committed units of ``tag`` that fail their check (edited, truncated, or written by other code)."""
        good = {os.path.basename(u) for u, _ in self.verified(tag)}
        return [n for n in self._units(tag) if n not in good]

    def newest(self, tag: str = "last") -> Optional[Tuple[str, dict]]:
        units = self.verified(tag)
        if not units:
            return self._legacy(tag)
        newest_name = self._units(tag)[0]
        if os.path.basename(units[0][0]) != newest_name:
            LOG.warning("checkpoint %s is incomplete or damaged; falling back to %s (epoch %d)",
                        os.path.join(self.units, newest_name), units[0][0], units[0][1]["epoch"])
        return units[0]

    def _legacy(self, tag: str) -> Optional[Tuple[str, dict]]:
        """A checkpoint of an older version of this project (SAVE_DIR/last.* written one file after the other,
        no hashes): usable, but not verifiable."""
        if self._units(tag):
            return None
        try:
            with open(self.path(tag, "json")) as f:
                state = json.load(f)
            epoch = int(state["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if "sha256" in state or not all(os.path.exists(self.path(tag, n)) for n in FILES):
            return None
        LOG.warning("%s was written by an older version (no hashes): resuming from it unverified", self.path(tag, "*"))
        return self.dir, {**state, "epoch": epoch}

    def unit_file(self, unit: str, tag: str, ext: str) -> str:
        return os.path.join(unit, f"{tag}.{ext}")

    def describe_last_good(self) -> str:
        newest = self.newest("last")
        if newest is None:
            return "no epoch has finished, so there is no checkpoint: start over with --overwrite"
        return f"the last good checkpoint is {newest[0]} (epoch {newest[1]['epoch']})"


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def preflight(folder: str, need_bytes: int, what: str) -> None:
    """Before any work: the output folder exists and takes a file, and holds ``need_bytes`` free."""
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, f".tmp-probe-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("probe")
        os.unlink(probe)
    except OSError as e:
        raise OneShotError(f"cannot write {what} {folder}: {e.strerror}; choose another folder or fix its "
                           "permissions") from None
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise OneShotError(f"{folder} has {free / 2 ** 20:.0f} MiB free but {what} needs about "
                           f"{need_bytes / 2 ** 20:.0f} MiB; free some space or choose another folder")


def disk_error(e: Exception, folder: str, last_good: str) -> OneShotError:
    """One line for a write that failed (disk full, read-only, removed folder); MXNet's own write errors
    carry a C++ stack trace, of which the last message line is kept."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith((" ", "Traceback", "["))]
    reason = getattr(e, "strerror", None) or (lines[-1] if lines else type(e).__name__)[:200]
    return OneShotError(f"writing to {folder} failed ({reason}); {last_good}. Free space (or fix the folder) and "
                        "run the same command with --resume")


def atomic_json(path: str, value) -> None:
    atomic_write_text(path, json.dumps(value, indent=1))
