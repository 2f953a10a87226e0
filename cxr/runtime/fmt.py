"""One way to print numbers in tables, summaries and reports.

Three significant digits, fixed notation for ordinary magnitudes (``0.986``,
``12.3``, ``0.0421``), scientific only for very small or very large ones
(``2.98e-06``), never a ``-0.000``. A value with its confidence interval is
``0.986 [0.951, 0.998]``: estimate and bounds share one number of decimals,
chosen so that the largest of the three shows three significant digits.
Standard library only: the CLI's summaries import it without torch or pandas.
"""

from __future__ import annotations

import math
from typing import Any

SIG = 3
_FIXED_MIN = 1e-3  # below this (non-zero), scientific notation
_FIXED_MAX = 1e6  # at and above this, scientific notation


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _decimals(magnitude: float, sig: int) -> int:
    """Decimals that show ``sig`` significant digits of ``magnitude`` (> 0)."""
    return max(0, sig - 1 - math.floor(math.log10(magnitude)))


def _fixed(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if float(text) == 0.0:  # "-0.000" -> "0.000"
        text = text.lstrip("-")
    return text


def fmt_num(value: Any, sig: int = SIG) -> str:
    """A number with ``sig`` significant digits; integers as they are; others via ``str``."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not _is_number(value):
        try:  # numpy scalars
            value = value.item()
        except AttributeError:
            return str(value)
        if isinstance(value, bool) or not _is_number(value):
            return str(value)
    if isinstance(value, int):
        return str(value)
    x = float(value)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0.0:
        return "0"
    mag = abs(x)
    if mag < _FIXED_MIN or mag >= _FIXED_MAX:
        return f"{x:.{sig - 1}e}"
    return _fixed(x, _decimals(float(f"{mag:.{sig}g}"), sig))


def fmt_ci(value: Any, low: Any = None, high: Any = None, sig: int = SIG) -> str:
    """``value [low, high]`` with shared decimals; just the value when a bound is missing."""
    nums = [v for v in (value, low, high) if _is_number(v) and math.isfinite(float(v))]
    if low is None or high is None or len(nums) < 3:
        return fmt_num(value, sig)
    mag = max(abs(float(v)) for v in nums)
    if mag == 0.0 or mag < _FIXED_MIN or mag >= _FIXED_MAX:
        return f"{fmt_num(value, sig)} [{fmt_num(low, sig)}, {fmt_num(high, sig)}]"
    d = _decimals(float(f"{mag:.{sig}g}"), sig)
    return f"{_fixed(float(value), d)} [{_fixed(float(low), d)}, {_fixed(float(high), d)}]"


def fmt_pm(value: Any, spread: Any, sig: int = SIG) -> str:
    """``mean ± sd`` with shared decimals: ``0.0380 ± 0.0008`` (not ``0.0380 ± 7.59e-04``)."""
    if not (_is_number(value) and _is_number(spread)):
        return f"{fmt_num(value, sig)} ± {fmt_num(spread, sig)}"
    mag = max(abs(float(value)), abs(float(spread)))
    if mag == 0.0 or mag < _FIXED_MIN or mag >= _FIXED_MAX:
        return f"{fmt_num(value, sig)} ± {fmt_num(spread, sig)}"
    d = _decimals(float(f"{mag:.{sig}g}"), sig)
    return f"{_fixed(float(value), d)} ± {_fixed(float(spread), d)}"


def fmt_pct(value: Any, sig: int = SIG) -> str:
    """A share in [0, 1] as a percentage: ``0.0421`` -> ``4.21%``."""
    if not _is_number(value):
        return fmt_num(value, sig)
    return f"{fmt_num(100.0 * float(value), sig)}%"


def fmt_duration(seconds: float | None) -> str:
    """``75`` -> ``1m15s``; ``3725`` -> ``1h02m``; ``None`` -> ``?``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
