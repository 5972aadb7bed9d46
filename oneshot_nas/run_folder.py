"""A `train` run's folder: what `train` writes and what `search`, `report`, `rank-study`, `benchmark` and the
deployment commands read back.

    config.json     the resolved TrainConfig (plus "changes" made on resume)
    history.jsonl   one record per finished epoch
    split.json      which images were trained on and validated on (with the hold-out's indices)
    train.log       the log; checkpoints/ and the last.*, best.*, epoch-N.* links (see checkpoints.py)
"""
from __future__ import annotations

import json
import os
from typing import List

from .errors import OneShotError
from .utils import atomic_write_text

CONFIG, HISTORY, SPLIT = "config.json", "history.jsonl", "split.json"
RUN_FILES = (CONFIG, HISTORY, SPLIT)


class RunFolder:
    def __init__(self, path: str):
        self.path = path

    @classmethod
    def of_params(cls, params_path: str) -> "RunFolder":
        """The run a parameter file belongs to (the folder it lies in)."""
        return cls(os.path.dirname(os.path.abspath(params_path)))

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    # ---- config.json ----------------------------------------------------------------------
    def has_config(self) -> bool:
        return os.path.exists(self.file(CONFIG))

    def config(self, need: tuple = ("space", "candidate"), what: str = "a `train` run") -> dict:
        """The saved config; one error line naming the file when it is missing, damaged or lacks ``need``."""
        path = self.file(CONFIG)
        try:
            with open(path) as f:
                config = json.load(f)
            for key in need:
                config[key]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise OneShotError(f"cannot read the run config {path} ({type(e).__name__}); this needs {what}") from None
        return config

    def config_or_empty(self) -> dict:
        """The saved config if it is readable, else {} (for defaults that merely fall back to the usual ones)."""
        try:
            config = self.config(need=())
        except OneShotError:
            return {}
        return config if isinstance(config, dict) else {}

    def write_config(self, config: dict) -> None:
        atomic_write_text(self.file(CONFIG), json.dumps(config, indent=1))

    # ---- history.jsonl --------------------------------------------------------------------
    @property
    def history_path(self) -> str:
        return self.file(HISTORY)

    def history(self) -> List[dict]:
        return read_history(self.history_path)

    def last_record(self) -> dict:
        """The last finished epoch's record; an error if none finished."""
        records = self.history()
        if not records:
            raise OneShotError(f"{self.history_path} holds no finished epoch")
        return records[-1]

    # ---- split.json -----------------------------------------------------------------------
    def write_split(self, split) -> None:
        """Which images the run trained and validated on, with the hold-out's index list."""
        record = {"description": split.describe(), **split.to_dict()}
        if split.holdout:
            record["holdout_indices"] = split.holdout_indices().tolist()
        atomic_write_text(self.file(SPLIT), json.dumps(record))


def read_history(path: str) -> List[dict]:
    """The epoch records of a `train` run's history.jsonl (one JSON object per finished epoch)."""
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError as e:
        raise OneShotError(f"cannot read {path}: {e.strerror}") from None
    except ValueError:
        raise OneShotError(f"{path} is not a history.jsonl written by `train`") from None


def finished_run(path: str) -> tuple:
    """(config, last epoch record) of a finished `train` run of a fixed architecture, or one error line."""
    folder = RunFolder(path)
    try:
        config, last = folder.config(), folder.last_record()
    except OneShotError:
        raise OneShotError(f"{path} is not a finished `train` run (config.json and history.jsonl with at least "
                           "one epoch)") from None
    return config, last
