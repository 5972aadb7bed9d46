"""One declaration per option: its name, default, type, allowed values and help sit on the field of the config
dataclass that holds it; the command-line parsers are generated from those fields (:func:`add_options`) and
the configs are built back from the parsed arguments (:func:`from_args`). Adding an option is one field.

Plain Python (no argparse at import, no MXNet), so even ``space.py`` declares its network flags here.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Tuple

OPTION = "option"


def option(default: Any = dataclasses.MISSING, help: str = "", *, choices: Optional[Iterable] = None,
           flags: Tuple[str, ...] = (), metavar: Optional[str] = None, group: Optional[str] = None,
           type: Optional[Callable] = None, factory: Optional[Callable] = None, show_default: bool = True):
    """A dataclass field that is also a command-line option ``--field-name`` (plus any extra ``flags``).

    ``type`` is needed only where the default does not tell it (``None`` defaults); booleans become
    ``store_true`` switches. ``group`` names the help section the option is listed under."""
    meta = {OPTION: {"help": help, "choices": tuple(choices) if choices is not None else None,
                     "flags": tuple(flags), "metavar": metavar, "group": group, "type": type,
                     "show_default": show_default}}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def declared(cls) -> Iterator[Tuple[dataclasses.Field, dict]]:
    """The fields of ``cls`` that are options, in declaration order (base classes first)."""
    for f in dataclasses.fields(cls):
        if OPTION in f.metadata:
            yield f, f.metadata[OPTION]


def names(cls) -> Tuple[str, ...]:
    return tuple(f.name for f, _ in declared(cls))


def default_of(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None if f.default is dataclasses.MISSING else f.default


def defaults(cls) -> dict:
    """Every field of ``cls`` that has a default, at it: what a config saved before a field was added means by
    leaving it out (an added option defaults to the behaviour before it)."""
    return {f.name: default_of(f) for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def text_bool(text: str) -> bool:
    """A boolean written as a word (the original's --shuffle-train False): true/false, yes/no, 1/0."""
    value = str(text).strip().lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise ValueError(f"{text!r} is not True or False")


text_bool.__name__ = "True|False"  # argparse names the type in its error message


def spelling(cls, name: str) -> str:
    """How the option of field ``name`` is shown and named in messages: its first flag (an original spelling
    declared in ``flags`` comes first)."""
    meta = next(meta for f, meta in declared(cls) if f.name == name)
    return meta["flags"][0] if meta["flags"] else flag(name)


def add_options(parser, cls, *, unset: Iterable[str] = (), skip: Iterable[str] = (),
                only: Optional[Iterable[str]] = None, group: Optional[str] = None,
                defaults: Optional[Dict[str, Any]] = None) -> None:
    """Add the options of ``cls`` to an argparse ``parser``.

    ``unset``: options whose parser default is ``None`` because the command resolves them later from
    another source (a zoo model, a supernet's saved config); their help still shows the usual default.
    ``defaults``: command-specific defaults (e.g. ``--save-dir``) that win over the field's."""
    import argparse  # here, not at import: see the module's docstring
    unset, skip = set(unset), set(skip)
    only = set(only) if only is not None else None
    defaults = defaults or {}
    for f, meta in declared(cls):
        if f.name in skip or (only is not None and f.name not in only):
            continue
        target = section(parser, group or meta["group"] or "options")
        default = defaults.get(f.name, default_of(f))
        kwargs: Dict[str, Any] = {"dest": f.name, "help": _help(meta, default)}
        if meta["type"] is bool or (meta["type"] is None and isinstance(default, bool)):
            # --no-NAME too, so that a preset's true (e.g. "fair-blocks" in configs/) can be turned off; an
            # option already named no-... keeps its one spelling rather than gain --no-no-...
            kwargs["action"] = "store_true" if f.name.startswith("no_") else argparse.BooleanOptionalAction
        else:
            kwargs["type"] = meta["type"] or type(default)
            if meta["choices"] is not None:
                kwargs["choices"] = meta["choices"]
            if meta["metavar"]:
                kwargs["metavar"] = meta["metavar"]
        kwargs["default"] = None if f.name in unset else default
        target.add_argument(*meta["flags"], flag(f.name), **kwargs)


def section(parser, title: str):
    """The parser's help section ``title`` (created on first use), shared by generated and hand-written options."""
    sections = parser.__dict__.setdefault("_option_sections", {})
    if title not in sections:
        sections[title] = parser.add_argument_group(title)
    return sections[title]


def _help(meta: dict, default: Any) -> str:
    text = meta["help"]
    if meta["show_default"] and default is not None and default is not False and default != "" \
            and "default" not in text:
        text = f"{text} (default {default})" if text else f"default {default}"
    return text.replace("%", "%%")


def from_args(cls, args, **given):
    """An instance of ``cls`` from parsed arguments: every option that was given (not ``None``), the fields'
    defaults for the rest, ``given`` for the fields that are not options or are resolved elsewhere."""
    values = {name: getattr(args, name) for name in names(cls)
              if name not in given and getattr(args, name, None) is not None}
    return cls(**values, **given)


def config_values(obj, cls=None) -> dict:
    """The option values of ``obj`` keyed as configs/*.json and --print-config spell them: the option's first long
    flag without the dashes (the original's spelling where one is declared, e.g. flop-max)."""
    cls = cls or type(obj)
    out = {}
    for f, meta in declared(cls):
        long = [x for x in meta["flags"] if x.startswith("--")]
        out[(long[0] if long else flag(f.name)).lstrip("-")] = getattr(obj, f.name)
    return out


def values(obj, cls=None) -> dict:
    """The option values of a config object (of ``cls``'s options, default: its own class's)."""
    return {name: getattr(obj, name) for name in names(cls or type(obj))}
