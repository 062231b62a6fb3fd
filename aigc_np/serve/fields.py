"""The fields a generate request may hold, each with its bounds, and the check of a request against them.

Every field a client sends is untrusted: it is checked for its type and
range before anything is allocated or computed, and a bad one is a
:class:`RequestError` that the server turns into HTTP 400 with a JSON body
naming the field, what is allowed and what was received::

    {"error": "n: expected an integer in 1..100, got 1000",
     "field": "n", "allowed": "an integer in 1..100", "received": 1000}

The bounds keep one request's work small (n images, n x steps U-Net calls,
length characters): a server shared by several people must not be tied up
by one request. ``describe()`` gives the same bounds to the page, which
builds its controls from them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

__all__ = ["RequestError", "Int", "Float", "Text", "Choice", "Points", "check_request", "shown"]


def shown(value, limit: int = 60):
    """``value`` as the error may repeat it: JSON scalars as they are, anything else (or long) as a short repr."""
    if isinstance(value, (bool, int, float)) or value is None:
        return value if not isinstance(value, int) or abs(value) < 10 ** 18 else f"{str(value)[:20]}..."
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


class RequestError(ValueError):
    """A request that cannot be served as it is: HTTP ``status`` with a JSON body naming ``field``."""

    def __init__(self, field: str | None, allowed: str, received=None, status: int = 400, message: str | None = None):
        self.field, self.allowed, self.received, self.status = field, allowed, shown(received), status
        text = message or f"expected {allowed}, got {json.dumps(self.received, ensure_ascii=False)}"
        super().__init__(f"{field}: {text}" if field else text)

    def body(self) -> dict:
        out = {"error": str(self)}
        if self.field:
            out.update(field=self.field, allowed=self.allowed, received=self.received)
        return out


@dataclass(frozen=True)
class Int:
    low: int
    high: int
    default: int | None
    nullable: bool = False     # null is allowed (e.g. a label: null cycles the digits)

    def allowed(self) -> str:
        return f"an integer in {self.low}..{self.high}" + (" or null" if self.nullable else "")

    def check(self, name: str, value):
        if value is None and self.nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise RequestError(name, self.allowed(), value)
        return value

    def describe(self) -> dict:
        return {"type": "int", "min": self.low, "max": self.high, "default": self.default, "nullable": self.nullable}


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    default: float

    def allowed(self) -> str:
        return f"a number in [{self.low:g}, {self.high:g}]"

    def check(self, name: str, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not self.low <= value <= self.high:
            raise RequestError(name, self.allowed(), value)
        return float(value)

    def describe(self) -> dict:
        return {"type": "float", "min": self.low, "max": self.high, "default": self.default}


@dataclass(frozen=True)
class Text:
    max_len: int
    default: str
    chars: str = ""            # the characters allowed (a text model's vocabulary); empty: any

    def allowed(self) -> str:
        where = " of the model's vocabulary" if self.chars else ""
        return f"a string of 1..{self.max_len} characters{where}"

    def check(self, name: str, value):
        if not isinstance(value, str) or not 1 <= len(value) <= self.max_len:
            raise RequestError(name, self.allowed(), value)
        unknown = sorted(set(value) - set(self.chars)) if self.chars else []
        if unknown:
            raise RequestError(name, self.allowed(), value, message=f"{len(unknown)} character(s) not in the "
                               f"model's vocabulary: {', '.join(map(repr, unknown[:10]))}")
        return value

    def describe(self) -> dict:
        return {"type": "text", "max_length": self.max_len, "default": self.default}


@dataclass(frozen=True)
class Choice:
    options: tuple
    default: str

    def allowed(self) -> str:
        return "one of " + ", ".join(map(repr, self.options))

    def check(self, name: str, value):
        if not isinstance(value, str) or value not in self.options:
            raise RequestError(name, self.allowed(), value)
        return value

    def describe(self) -> dict:
        return {"type": "choice", "options": list(self.options), "default": self.default}


@dataclass(frozen=True)
class Points:
    """A list of 2-D points [[u1, u2], ...] in a square [-bound, bound]^2."""
    max_points: int
    bound: float
    default: tuple = ((0.0, 0.0),)

    def allowed(self) -> str:
        return f"a list of 1..{self.max_points} points [u1, u2], each coordinate in [{-self.bound:g}, {self.bound:g}]"

    def check(self, name: str, value):
        ok = isinstance(value, list) and 1 <= len(value) <= self.max_points and all(
            isinstance(p, list) and len(p) == 2 and all(
                not isinstance(u, bool) and isinstance(u, (int, float)) and math.isfinite(u)
                and -self.bound <= u <= self.bound for u in p) for p in value)
        if not ok:
            raise RequestError(name, self.allowed(), value)
        return [[float(u) for u in p] for p in value]

    def describe(self) -> dict:
        return {"type": "points", "max_points": self.max_points, "bound": self.bound,
                "default": [list(p) for p in self.default]}


def check_request(body: dict, fields: dict, modes: dict) -> dict:
    """The request ``body`` (without "model") checked against ``fields`` {name: field}; every field it
    leaves out takes its default. ``modes`` maps each mode to the fields it reads (beyond "mode")."""
    mode = Choice(tuple(modes), next(iter(modes))).check("mode", body.get("mode", next(iter(modes))))
    for name in body:
        if name != "mode" and name not in fields:
            raise RequestError(name, "one of the fields " + ", ".join(["mode", *fields]), body[name],
                               message="not a field of this model (its fields: "
                                       + ", ".join(["mode", *fields]) + ")")
        if name != "mode" and name not in modes[mode]:
            readers = [m for m, names in modes.items() if name in names]
            raise RequestError(name, f"a field of mode {', '.join(map(repr, readers))}", body[name],
                               message=f"read only by mode {' or '.join(map(repr, readers))}, "
                                       f"not by mode {mode!r}")
    out = {"mode": mode}
    for name in modes[mode]:
        out[name] = fields[name].check(name, body[name]) if name in body else fields[name].default
    return out
