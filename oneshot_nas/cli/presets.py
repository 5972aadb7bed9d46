"""Option values from files: a `--config` preset (see configs/) and the network flags of a search's best.json.

They become the parser's defaults, so flags given on the command line still win."""
from __future__ import annotations

import argparse
import sys
from typing import List

from ..errors import OneShotError
from .common import read_json


def subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]


# A command that scores like another may take that command's presets: `rank-study --config
# configs/search_fashion-mnist.json` scores subnets as the search does, and skips the searcher's own options.
READS_PRESETS_OF = {"rank-study": "search"}


def option_names(sub: argparse.ArgumentParser) -> dict:
    """Every flag name (without dashes) and every destination of a command -> destination."""
    names = {}
    for action in sub._actions:
        if action.dest in ("help", "config") or not action.option_strings:
            continue
        names[action.dest.replace("_", "-")] = action.dest
        names.update({o.lstrip("-"): action.dest for o in action.option_strings if o.startswith("--")})
    return names


def set_option_defaults(sub: argparse.ArgumentParser, preset: dict, source: str, command: str,
                        skippable: frozenset = frozenset()) -> None:
    """Option values (names as on the command line, without the dashes) become the command's defaults;
    an unknown name is an error naming ``source``, unless it is in ``skippable`` (said on stderr)."""
    names = option_names(sub)
    values, skipped = {}, []
    for key, value in preset.items():
        name = key.lstrip("-").replace("_", "-")
        if name in names:
            values[names[name]] = value
        elif name in skippable:
            skipped.append(name)
        else:
            raise OneShotError(f"{source}: unknown option {key!r} for `{command}`; valid: " + ", ".join(sorted(names)))
    if skipped:
        print(f"{source}: not options of `{command}`, skipped: {', '.join(skipped)}", file=sys.stderr)
    sub.set_defaults(**values)


def read_preset(path: str) -> dict:
    preset = read_json(path, "config", required=True)
    if not isinstance(preset, dict):
        raise OneShotError(f"config {path} must hold a JSON object of option values")
    return preset


def apply_presets(parser: argparse.ArgumentParser, argv: List[str]) -> None:
    """Defaults from files named on the command line, weakest first: the network flags of a search's
    ``best.json`` (``train --candidate-file``), then a ``--config`` preset; explicit flags beat both."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("command", nargs="?")
    pre.add_argument("--config")
    pre.add_argument("--candidate-file")
    known, _ = pre.parse_known_args(argv)
    if known.command == "train" and known.candidate_file:
        flags = read_json(known.candidate_file, "candidate file", required=False)
        if isinstance(flags, dict) and isinstance(flags.get("flags"), dict):
            set_option_defaults(subparser(parser, "train"), flags["flags"], known.candidate_file, "train")
    if known.config and known.command:
        sibling = READS_PRESETS_OF.get(known.command)
        skippable = frozenset(option_names(subparser(parser, sibling))) if sibling else frozenset()
        set_option_defaults(subparser(parser, known.command), read_preset(known.config), f"config {known.config}",
                            known.command, skippable)
