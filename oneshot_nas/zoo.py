"""Published architectures by name, with the network flags each implies (facts section 2)."""
from __future__ import annotations

import dataclasses
from typing import Dict

from .errors import OneShotError
from .space import Candidate


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    name: str
    candidate: Candidate
    use_se: bool
    last_conv_after_pooling: bool
    channels_layout: str
    published: str  # FLOPs / params / top-1 / top-5 as published on ImageNet

    def space_flags(self) -> dict:
        return {"use_se": self.use_se, "last_conv_after_pooling": self.last_conv_after_pooling,
                "channels_layout": self.channels_layout}


ONESHOT = Candidate.parse("00311100202110202132-65352634257546744543")

ZOO: Dict[str, ZooEntry] = {e.name: e for e in (
    ZooEntry("OneShot", ONESHOT, False, False, "OneShot", "328M / 3.4M / 74.02 / 91.60"),
    ZooEntry("OneShot+", ONESHOT, True, True, "OneShot", "297M / 3.7M / 75.24 / 92.58"),
    ZooEntry("OneShot-S+", Candidate.parse("00010010320122120020-87685734242345663346"), True, True, "OneShot",
             "291M / 3.5M / 75.75 / 92.77"),
    ZooEntry("SPOS-block-only", Candidate.parse("21012020202300003233-44444444444444444444"), False, False,
             "OneShot", "323M / 3.5M / 74.4 / -"),
)}


def get(name: str) -> ZooEntry:
    if name not in ZOO:
        raise OneShotError(f"unknown model {name!r}; published architectures are: {', '.join(ZOO)}")
    return ZOO[name]
