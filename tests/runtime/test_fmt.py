"""One number format: 3 significant digits, CIs in brackets, no -0.000."""

from __future__ import annotations

import numpy as np

from cxr.runtime.fmt import fmt_ci, fmt_duration, fmt_num, fmt_pct, fmt_pm


def test_fmt_num() -> None:
    assert fmt_num(0.986425) == "0.986"
    assert fmt_num(0.904) == "0.904"
    assert fmt_num(0.9921) == "0.992"
    assert fmt_num(12.345) == "12.3"
    assert fmt_num(1234.5) == "1234"  # integers digits are never dropped
    assert fmt_num(0.0421) == "0.0421"
    assert fmt_num(2.98e-06) == "2.98e-06"
    assert fmt_num(-0.0) == "0"
    assert fmt_num(0.9996) == "1.00"
    assert fmt_num(7) == "7" and fmt_num(True) == "True" and fmt_num(None) == "–"
    assert fmt_num(np.float32(0.5)) == "0.500" and fmt_num(np.int64(3)) == "3"
    assert fmt_num(float("nan")) == "nan" and fmt_num("resnet18") == "resnet18"


def test_fmt_ci_shares_decimals_and_has_no_negative_zero() -> None:
    assert fmt_ci(0.986425, 0.95, 0.998) == "0.986 [0.950, 0.998]"
    assert fmt_ci(-0.00003, -0.0761, 0.0758) == "0.0000 [-0.0761, 0.0758]"
    assert fmt_ci(-0.0003, -0.0761, 0.0758) == "-0.0003 [-0.0761, 0.0758]"
    assert fmt_ci(0.9, None, None) == "0.900"
    assert "-0.000" not in fmt_ci(-1e-9, -0.05, 0.05)


def test_fmt_pct_and_duration() -> None:
    assert fmt_pct(0.0421) == "4.21%"
    assert [fmt_duration(s) for s in (5, 75, 3725, None)] == ["5s", "1m15s", "1h02m", "?"]


def test_fmt_pm_shares_decimals() -> None:
    assert fmt_pm(0.0380, 7.59e-04) == "0.0380 ± 0.0008"
    assert fmt_pm(-1.16e-04, 4.62e-04) == "-1.16e-04 ± 4.62e-04"
