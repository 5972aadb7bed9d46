"""What several commands share: the architecture options, the network and data options, logging, output checks."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from typing import List, Optional

from .. import options, zoo
from ..checkpoints import preflight
from ..splits import DataSource
from ..errors import OneShotError
from ..space import Candidate, SearchSpace

INHERITED_SPLIT = ("holdout", "holdout_seed", "val_split")


def add_network_args(parser: argparse.ArgumentParser, inherited_from: Optional[str] = None) -> None:
    """The network flags. They are left unset (None) on the command line, so that a zoo model's flags or a
    saved space can fill them before the usual defaults (:func:`space_from_args`)."""
    options.add_options(parser, SearchSpace, unset=options.names(SearchSpace),
                        group=None if not inherited_from else f"network (search space) options; defaults: "
                                                               f"{inherited_from}")


def add_data_args(parser: argparse.ArgumentParser, inherited_from: Optional[str] = None) -> None:
    """The data options; with ``inherited_from`` the split's defaults come from that file (resolved later)."""
    options.add_options(parser, DataSource, unset=INHERITED_SPLIT if inherited_from else (),
                        group=None if not inherited_from else f"data source; split defaults: {inherited_from}")


def space_from_args(args, entry: Optional[zoo.ZooEntry] = None, saved: Optional[dict] = None) -> SearchSpace:
    """The search space of the network flags given, else a zoo entry's, else a saved space's, else the defaults."""
    given = {name: getattr(args, name, None) for name in options.names(SearchSpace)}
    if entry and given["channels_layout"] and given["channels_layout"] != entry.channels_layout:
        raise OneShotError(f"--model {entry.name} uses the {entry.channels_layout} channels layout, "
                           f"not {given['channels_layout']}; drop --channels-layout")
    return SearchSpace.from_flags(given, entry.space_flags() if entry else {}, saved or {})


def add_candidate_args(parser: argparse.ArgumentParser, many: bool = False, positional: bool = True) -> None:
    g = parser.add_argument_group("architecture (one of)")
    help = "compact architecture string BLOCKS-CHANNELS, e.g. 00311100202110202132-65352634257546744543"
    if positional:
        g.add_argument("architecture", nargs="?", default=None, help=help)
    else:  # the command has a positional of its own
        g.add_argument("--architecture", default=None, metavar="BLOCKS-CHANNELS", help=help)
    g.add_argument("--model", default=None, help=f"a published architecture: {', '.join(zoo.ZOO)}")
    g.add_argument("--block-choices", default=None, help="comma list of 20 block genes 0..3, e.g. 0,0,3,1,...")
    g.add_argument("--channel-choices", default=None,
                   help="comma list of 20 channel genes 0..9 (scales 0.2..2.0), e.g. 6,5,3,5,...")
    if many:
        g.add_argument("--candidates", default=None, metavar="FILE",
                       help="file with one compact architecture string per line ('#' starts a comment)")


def candidates_from_args(args) -> tuple[Optional[zoo.ZooEntry], List[Candidate]]:
    """Resolve exactly one way of naming the architecture(s)."""
    given = [name for name, value in (("architecture string", args.architecture), ("--model", args.model),
                                      ("--block-choices/--channel-choices",
                                       args.block_choices or args.channel_choices),
                                      ("--candidates", getattr(args, "candidates", None))) if value]
    if len(given) != 1:
        raise OneShotError("name the architecture exactly one way: an architecture string, --model NAME, "
                           "--block-choices with --channel-choices"
                           + (", or --candidates FILE" if hasattr(args, "candidates") else "")
                           + (f" (got {' and '.join(given)})" if given else ""))
    if args.model:
        entry = zoo.get(args.model)
        return entry, [entry.candidate]
    if args.architecture:
        return None, [Candidate.parse(args.architecture)]
    if args.block_choices or args.channel_choices:
        if not (args.block_choices and args.channel_choices):
            raise OneShotError("--block-choices and --channel-choices go together; give both")
        return None, [Candidate.from_lists(args.block_choices, args.channel_choices)]
    return None, read_candidates_file(args.candidates)


def read_candidates_file(path: str) -> List[Candidate]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise OneShotError(f"cannot read candidates file {path}: {e.strerror}") from None
    out = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            out.append(Candidate.parse(text))
        except OneShotError as e:
            raise OneShotError(f"{path}:{number}: {e}") from None
    if not out:
        raise OneShotError(f"candidates file {path} holds no architecture strings")
    return out


def candidate_from_file(path: str) -> Candidate:
    """The architecture of a search's best.json, or the first line of a file of compact strings."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise OneShotError(f"cannot read candidate file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise OneShotError(f"candidate file {path} is not text: give a search's best.json or a file of compact "
                           "architecture strings") from None
    try:
        best = json.loads(text)
    except ValueError:
        return read_candidates_file(path)[0]
    value = best.get("candidate") if isinstance(best, dict) else (
        best[0].get("candidate") if isinstance(best, list) and best and isinstance(best[0], dict) else None)
    if not isinstance(value, str):
        raise OneShotError(f"candidate file {path} holds JSON without a \"candidate\" string (found {value!r}); give a "
                           "search's best.json or a file of compact architecture strings")
    try:
        return Candidate.parse(value)
    except OneShotError as e:
        raise OneShotError(f"candidate file {path}: {e}") from None


def log_file(given: Optional[str], folder: str, default_name: str) -> str:
    """The log file: ``given`` relative to the working directory (the original's meaning), its folder created,
    or ``default_name`` inside the run's ``folder``."""
    if not given:
        return os.path.join(folder, default_name)
    path = os.path.abspath(os.path.expanduser(given))
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as e:
        raise OneShotError(f"--logging-file {given}: cannot create its folder ({e.strerror})") from None
    return path


def setup_logging(path: Optional[str]) -> None:
    console = logging.StreamHandler()
    # the search's per-candidate lines in the original's format go to the log file only
    console.addFilter(lambda record: not record.name.startswith("oneshot_nas.candidates"))
    handlers = [console]
    if path:
        handlers.append(logging.FileHandler(path))
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=handlers, force=True)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # it logs every animation it saves


def preflight_out(out: str, need_bytes: int) -> None:
    """Before any work: the folder of an --out file (or prefix) takes a file and has ``need_bytes`` free."""
    preflight(os.path.dirname(os.path.abspath(out)), need_bytes, "the output folder of --out")


def progress(iterable, desc):
    if sys.stderr.isatty():
        from tqdm import tqdm
        return tqdm(iterable, desc=desc)
    return iterable


def read_json(path: str, what: str, required: bool):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise OneShotError(f"cannot read {what} {path}: {e.strerror}") from None
    except ValueError as e:
        if required:
            raise OneShotError(f"{what} {path} is not valid JSON: {e}") from None
        return None


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="JSON preset of option values (see configs/); command-line flags override it")


def add_subnet_params_args(parser: argparse.ArgumentParser, required: bool = True, data: bool = False,
                           positional: bool = True,
                           help: str = "a trained subnet's params: a `train` run's (its config.json beside names the "
                                       "network) or any other, e.g. the original codebase's, with the architecture "
                                       "and network flags given") -> None:
    """``--params FILE`` plus, for a file with no `train` run config beside it (the original codebase's
    checkpoints), the architecture and the network flags (and with ``data`` the data options)."""
    parser.add_argument("--params", required=required, metavar="FILE", help=help)
    add_candidate_args(parser, positional=positional)
    add_network_args(parser, inherited_from="the --model's, else the usual ones")
    if data:
        add_data_args(parser, inherited_from="the `train` run's config.json beside --params, else as for `train`")


def subnet_config_from_args(args) -> Optional[dict]:
    """The run config a parameter file is used with when the command line names the architecture (space,
    candidate, data options), else None: the `train` run's config.json beside the file then says."""
    named = [args.architecture, args.model, args.block_choices, args.channel_choices]
    if not any(named):
        flags = [options.flag(n) for n in options.names(SearchSpace) if getattr(args, n, None) is not None]
        if flags:
            raise OneShotError(f"{', '.join(flags)} describe the network of an architecture you name: add it "
                               "(BLOCKS-CHANNELS, --model NAME or --block-choices/--channel-choices), or leave the "
                               "flags out to use the `train` run's config.json beside --params")
        return None
    entry, cands = candidates_from_args(args)
    space = space_from_args(args, entry)
    config = {"space": space.to_dict(), "candidate": str(space.validate(cands[0])), "params": args.params}
    if hasattr(args, "val_split"):
        config.update({k: v for k, v in options.values(args, DataSource).items() if v is not None})
    return config


def data_given(args) -> dict:
    """The data options set on the command line, which win over those of the run a model came from: the split
    options when given (they are None when left out), the others when not at their defaults."""
    defaults = {f.name: options.default_of(f) for f in dataclasses.fields(DataSource)}
    return {name: value for name, value in options.values(args, DataSource).items()
            if value is not None and (name in INHERITED_SPLIT or value != defaults[name])}


def add_print_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--print-config", action="store_true",
                        help="print the fully resolved options as one JSON object (keys as in configs/*.json) and "
                             "exit, reading no data and building no network")


def print_config(*parts: dict) -> int:
    """--print-config: the resolved options as one JSON object, option names without the dashes (later parts win;
    gene lists as the comma lists the command line takes)."""
    merged = {}
    for part in parts:
        for name, value in part.items():
            if name.endswith("_choices") and isinstance(value, (list, tuple)):
                value = ",".join(map(str, value))
            merged[name.replace("_", "-")] = value
    print(json.dumps(merged, indent=1))
    return 0
