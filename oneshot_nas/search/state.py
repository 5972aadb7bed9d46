"""What a search keeps on disk, so that it resumes exactly: its ``config.json`` (a resume must use the same
options), ``records.jsonl`` (one line per evaluation: the memo, so a candidate evaluated before a kill is not
evaluated again), ``state.json`` (stage, generation, population and RNG state after every generation) and the
population of every generation (``plots/generation-LABEL.json``)."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List, Optional

from .. import options
from ..errors import OneShotError
from ..space import Candidate
from ..splits import DATA_PATHS
from ..utils import atomic_write_text, changed_settings, read_json_lines, with_resolved_paths
from . import constraints

# options renamed since a search could have been started: old name -> new name (a resume maps them)
RENAMED = {"search_space": "searched_genes"}


class Records:
    """``records.jsonl``: one line per evaluation, appended and flushed as it happens."""

    def __init__(self, path: str):
        self.path = path
        self.by_candidate: Dict[str, dict] = {}

    def load(self) -> None:
        if not os.path.exists(self.path):
            return
        good = []
        for line, record in read_json_lines(self.path, "the search records are damaged - start afresh in another "
                                                       "--out-dir"):
            good.append(line)
            self.by_candidate[record["candidate"]] = record
        atomic_write_text(self.path, "".join(line + "\n" for line in good))

    def add(self, record: dict) -> None:
        self.by_candidate[record["candidate"]] = record
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def ranked(self) -> List[dict]:
        return sorted(self.by_candidate.values(), key=lambda r: (-r["fitness"], r["candidate"]))


def upgraded(saved: dict) -> dict:
    """A saved search config with the options renamed since under their new names and those added since at
    their defaults (e.g. ``ensemble_params``: a search started before it scored with one supernet)."""
    from .config import SearchConfig
    out = {**options.defaults(SearchConfig), **{RENAMED.get(k, k): v for k, v in saved.items()}}
    if isinstance(out.get("constraints"), dict):
        out["constraints"] = constraints.upgraded(out["constraints"])
    return out


# Paths a search config names: on resume they compare by the file they lead to, so a relative and an absolute
# spelling of one file agree.
PATH_OPTIONS = ("supernet_params", "ensemble_params", "few_shot_params", "lookup_table", "latency_table") + DATA_PATHS


def as_resumed(config: dict) -> dict:
    """A search config as a resume compares it: renamed options under their new names, paths resolved, and
    without ``out_dir``: the folder being resumed is the one named, wherever it has been moved to."""
    return with_resolved_paths({k: v for k, v in upgraded(config).items() if k != "out_dir"}, PATH_OPTIONS)


class SearchState:
    """The files of one search folder (``out_dir``), for a search with ``config`` (a SearchConfig)."""

    def __init__(self, out_dir: str, config):
        self.out_dir, self.config = out_dir, json.loads(json.dumps(dataclasses.asdict(config)))
        self.path = os.path.join(out_dir, "state.json")
        self.config_path = os.path.join(out_dir, "config.json")
        self.plot_dir = os.path.join(out_dir, "plots")
        self.records = Records(os.path.join(out_dir, "records.jsonl"))

    def start(self, resume: bool) -> None:
        """Write config.json; on resume, first check it against the saved one and load the records."""
        if resume:
            if not os.path.exists(self.path):
                raise OneShotError(f"no search state in {self.out_dir} to resume; run without --resume")
            with open(self.config_path) as f:
                saved, given = as_resumed(json.load(f)), as_resumed(self.config)
            if saved != given:
                changed = changed_settings(saved, given)
                raise OneShotError(f"the search in {self.out_dir} was started with other options "
                                   f"({'; '.join(changed)}); resume with the same options or use another --out-dir")
            self.records.load()
        elif os.path.exists(self.path) or os.path.exists(self.records.path):
            raise OneShotError(f"{self.out_dir} already holds a search; pass --resume to continue it, or choose "
                               "another --out-dir")
        atomic_write_text(self.config_path, json.dumps(self.config, indent=1))

    def load(self) -> Optional[dict]:
        """The saved state (stage, generation, population, rng, finished), or None before the first save."""
        if not os.path.exists(self.path):
            return None
        try:
            with open(self.path) as f:
                return json.load(f)
        except ValueError:
            raise OneShotError(f"{self.path} is damaged; start afresh in another --out-dir") from None

    def save(self, stage: int, generation: int, population: List[Candidate], rng_state: dict,
             finished: bool = False) -> None:
        atomic_write_text(self.path, json.dumps({
            "stage": stage, "generation": generation, "population": [str(c) for c in population],
            "rng": rng_state, "finished": finished}))

    # ---- generations -------------------------------------------------------------------------
    def generation_path(self, label: str, ext: str = "json") -> str:
        return os.path.join(self.plot_dir, f"generation-{label}.{ext}")

    def save_generation(self, label: str, records: List[dict]) -> None:
        os.makedirs(self.plot_dir, exist_ok=True)
        atomic_write_text(self.generation_path(label), json.dumps([r["candidate"] for r in records]))

    def generations(self, stages: List[str], label) -> List[tuple]:
        """(label, records of that generation's population) for each saved generation, in order;
        ``label(stage, generation)`` names a generation."""
        out = []
        for stage in stages:
            generation = 0
            while os.path.exists(self.generation_path(label(stage, generation))):
                with open(self.generation_path(label(stage, generation))) as f:
                    out.append((label(stage, generation), [self.records.by_candidate[k] for k in json.load(f)]))
                generation += 1
        return out
