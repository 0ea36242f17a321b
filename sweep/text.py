"""How numbers read on the screen and in the report: one spelling of each.

Accuracies are fractions everywhere in the code and percent only here; a difference
of two accuracies is in percentage points, never "%"; a setting's value is short
(512, 0.3, 1e-04); a duration is a clock (1:02:03).
"""

from __future__ import annotations

import math
from typing import Any


def finite(v: Any) -> bool:
    """A real number that is neither NaN nor infinite (booleans are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, int | float) and not hasattr(v, "__float__"):
        return False
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def percent(v: Any, digits: int = 2) -> str:
    """A fraction in percent, 0.98765 -> 98.77%; a missing value is a dash."""
    return f"{float(v):.{digits}%}" if finite(v) else "–"


def points(difference: Any, spec: str = "+.2f") -> str:
    """A difference of two fractions in percentage points: 0.0123 -> +1.23 points."""
    return f"{float(difference) * 100:{spec}} points" if finite(difference) else "–"


def short(v: Any) -> str:
    """A setting's value in few characters: 512, 0.3, 1.0e-04, 0.00316."""
    if v is None:
        return "–"
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        if v == int(v) and abs(v) < 1e6:
            return str(int(v))
        if abs(v) < 1e-3 or abs(v) >= 1e5:
            return f"{v:.1e}"
        return f"{v:.3g}"
    return str(v)


def clock(seconds: float | None) -> str:
    """A duration as m:ss, or h:mm:ss from an hour; a dash when unknown."""
    if seconds is None or not finite(seconds):
        return "-"
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 epoch``, ``2 epochs``; ``many`` for nouns that do not just take an s."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"
