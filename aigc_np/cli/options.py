"""Every command-line option, once, with the commands that have it and the kinds that read it.

An :class:`Option` is one flag: its argparse arguments, the commands it
belongs to (train, sample, evaluate), the kinds that read it (None: every
kind), and for ``train`` the setting it sets (a config or training setting
of the kind, checked by the kind's schema). Each family module
(``cli.image``, ``cli.diffusion``, ``cli.text``) registers the flags it
reads; the parser is built from all of them, and a flag given for a kind
that does not read it is a usage error that names both.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..kinds import KINDS

__all__ = ["Option", "kinds_of", "given", "unread"]


@dataclass(frozen=True)
class Option:
    flag: str                        # "--label"
    commands: tuple                  # ("sample", "evaluate")
    help: str
    kinds: tuple | None = None       # the kinds that read it; None: every kind
    setting: str | None = None       # train: the config or training setting it sets
    argparse: dict = field(default_factory=dict)   # type=, metavar=, choices=, action= ...

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def reads(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


def kinds_of(family: str, *extra) -> tuple:
    """The names of a family's kinds (plus ``extra`` names), in table order."""
    return tuple(name for name, k in KINDS.items() if k.family.name == family) + extra


def given(args, options) -> list:
    """The options of ``args``'s command that the user gave (a value other than None or False)."""
    return [o for o in options if args.command in o.commands and getattr(args, o.dest, None) not in (None, False)]


def unread(args, options, kind: str) -> str | None:
    """A usage message for the first given option that ``kind`` does not read, or None."""
    for o in given(args, options):
        if not o.reads(kind):
            readers = ", ".join(o.kinds)
            return f"{o.flag}: a {kind} model does not read this option (it is read by {readers})"
    return None
