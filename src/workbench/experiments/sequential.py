"""Always-valid inference for experiments that are looked at every day.

A fixed-horizon p-value checked daily and acted on at the first ``p < 0.05`` has a
false-positive rate far above 5%. The asymptotic confidence sequences of Waudby-Smith
et al. (2021, "Time-uniform central limit theory and asymptotic confidence sequences"),
built on the normal-mixture boundary of Howard et al. (2021, "Time-uniform,
nonparametric, nonasymptotic confidence sequences"), are valid at every look
simultaneously. With ``t`` the number of independent units so far (units, or clusters in
a cluster design) and ``se`` the usual standard error of the effect,

``effect ± se · c_t``,  ``c_t = sqrt( 2 (tρ² + 1) / (tρ²) · log( sqrt(tρ² + 1) / α ) )``.

The tuning parameter ``ρ`` sets where the sequence is tightest; :func:`rho_for_planned_n`
picks it for a planned sample size ``t*``:
``ρ² = (−2 log α + log(1 − 2 log α)) / t*``. The matching always-valid p-value (the
smallest α whose sequence excludes 0) is the mixture SPRT's
``p_t = min(1, sqrt(tρ² + 1) · exp(−z² tρ² / (2 (tρ² + 1))))`` with ``z = effect / se``;
over time one reports its running minimum and the running intersection of the intervals.

The guarantee is for units that keep entering the experiment (each look covers the
units so far) with a **fixed** outcome per unit. It is asymptotic: it needs a few hundred
units before the first look.

It does not hold for the usual daily report of one experiment whose units were all exposed
at the start: day ``d`` measures the *same* units over a window ``[t0, t0 + d)`` that grows,
so each day estimates a different quantity (the effect on the first ``d`` days' outcome),
and a running intersection of the sequences is not a confidence set for any of them (on the
demo's EXP_CUST it stayed at −0.30…1.76 while the day-14 estimate was 1.99 and the true lift
2.94). :func:`window_band` is the band for that design: one interval per planned look, each
at level ``α / K`` (Bonferroni over the ``K`` looks), so that with probability at least
``1 − α`` every day's interval covers that day's effect, whenever one looks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataContractError, ParameterError
from .method import two_sample_test
from .moments import TestResult, _check_alpha
from .stats import ArrayLike, ProportionStatistic, SampleMeanStatistic, _scalar


def rho_for_planned_n(planned_n: ArrayLike, alpha: float = 0.05) -> ArrayLike:
    """Mixture tuning ``ρ`` that makes the sequence tightest at ``planned_n`` units.

    Examples
    --------
    >>> round(rho_for_planned_n(10_000), 5)
    0.02817
    """
    _check_alpha(alpha)
    planned = np.asarray(planned_n, dtype=float)
    if np.any(planned <= 0):
        raise ParameterError(f"planned_n must be positive, got {planned_n!r}")
    a = -2.0 * np.log(alpha)
    return _scalar(np.sqrt((a + np.log(a + 1.0)) / planned))


def cs_multiplier(t: ArrayLike, alpha: float, rho: ArrayLike) -> ArrayLike:
    """``c_t``: the sequence's half-width in standard errors at ``t`` units.

    Examples
    --------
    >>> round(cs_multiplier(10_000, 0.05, rho_for_planned_n(10_000)), 3)   # vs 1.96 fixed-horizon
    3.035
    """
    v = np.asarray(t, dtype=float) * np.asarray(rho, dtype=float) ** 2
    return _scalar(np.sqrt(2.0 * (v + 1.0) / v * np.log(np.sqrt(v + 1.0) / alpha)))


def always_valid_p(z: ArrayLike, t: ArrayLike, rho: ArrayLike) -> ArrayLike:
    """Mixture-SPRT p-value of a z statistic after ``t`` units (one look)."""
    v = np.asarray(t, dtype=float) * np.asarray(rho, dtype=float) ** 2
    z = np.asarray(z, dtype=float)
    with np.errstate(over="ignore"):
        p = np.sqrt(v + 1.0) * np.exp(-z * z * v / (2.0 * (v + 1.0)))
    return _scalar(np.minimum(1.0, p))


@dataclass(frozen=True)
class SequentialResult:
    """One look at an experiment: the fixed-horizon result and its always-valid version."""

    fixed: TestResult
    t: ArrayLike
    rho: ArrayLike
    alpha: float
    effect: ArrayLike
    cs_low: ArrayLike
    cs_high: ArrayLike
    rel_cs_low: ArrayLike
    rel_cs_high: ArrayLike
    always_valid_p: ArrayLike


def _independent_units(stat: Any) -> ArrayLike:
    # In a cluster design the independent units are the clusters.
    return getattr(stat, "n_clusters", stat.n)


def sequential_test(control: Any, treatment: Any, alpha: float = 0.05, planned_n: ArrayLike | None = None,
                    rho: ArrayLike | None = None) -> SequentialResult:
    """Always-valid interval and p-value for one look (any statistic type).

    ``planned_n`` is the planned number of independent units (both arms; clusters in a
    cluster design); by default the current number, which makes this look the tightest.

    Examples
    --------
    >>> c, t = SampleMeanStatistic(5000, 5000.0, 30000.0), SampleMeanStatistic(5000, 5800.0, 31000.0)
    >>> r = sequential_test(c, t, planned_n=10_000)
    >>> round(r.effect, 2), bool(r.cs_low > 0), bool(r.always_valid_p < 0.05)
    (0.16, True, True)
    """
    fixed = two_sample_test(control, treatment, alpha)
    t = np.asarray(_independent_units(control), dtype=float) + np.asarray(_independent_units(treatment), dtype=float)
    if rho is None:
        rho = rho_for_planned_n(t if planned_n is None else planned_n, alpha)
    c = np.asarray(cs_multiplier(t, alpha, rho))
    se, rel_se = np.asarray(fixed.se), np.asarray(fixed.rel_se)
    eff, rel = np.asarray(fixed.effect), np.asarray(fixed.rel_effect)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = eff / se
    return SequentialResult(fixed=fixed, t=_scalar(t), rho=rho, alpha=float(alpha), effect=fixed.effect,
                            cs_low=_scalar(eff - c * se), cs_high=_scalar(eff + c * se),
                            rel_cs_low=_scalar(rel - c * rel_se), rel_cs_high=_scalar(rel + c * rel_se),
                            always_valid_p=always_valid_p(z, t, rho))


def sequential_frame(daily: pd.DataFrame, control: str, alpha: float = 0.05, planned_n: float | None = None,
                     proportion: bool = False, variant_col: str = "variant", day_col: str = "day",
                     frame_name: str = "daily") -> pd.DataFrame:
    """Cumulative always-valid results from cumulative daily sufficient statistics.

    Parameters
    ----------
    daily : DataFrame
        One row per day and variant with **cumulative** ``n``, ``sum``, ``sum_squares``
        up to that day (``experiment_daily`` output; for proportions ``sum`` suffices).
    control : str
        Control variant; every other variant is compared with it.
    planned_n : float, optional
        Planned total number of units (both arms). Default: the last day's total, which
        is legitimate only when the horizon was fixed in advance.
    proportion : bool
        Treat the metric as 0/1 (binomial variance).

    Only for units that keep entering, each with a fixed outcome (see the module docstring);
    for the same units over a growing window use :func:`window_band`.

    Returns
    -------
    DataFrame
        ``variant``, ``day``, ``n``, ``control_n``, ``effect``, ``cs_low``, ``cs_high``
        (running intersection of the sequences), ``always_valid_p`` (running minimum),
        ``p_value`` (the naive fixed-horizon p of that day, for comparison).

    Examples
    --------
    >>> daily = pd.DataFrame({"day": [1, 1, 2, 2], "variant": ["c", "t"] * 2, "n": [500, 500, 1000, 1000],
    ...                       "sum": [500.0, 560.0, 1000.0, 1130.0], "sum_squares": [1500.0, 1600.0, 3000.0, 3200.0]})
    >>> sequential_frame(daily, "c")[["day", "effect"]].round(3).to_dict("list")
    {'day': [1, 2], 'effect': [0.12, 0.13]}
    """
    days, variants, stat = _daily_statistics(daily, control, proportion, variant_col, day_col, frame_name)
    out = []
    for variant in [v for v in variants if v != control]:
        c, t = stat(control), stat(variant)
        total = np.asarray(c.n) + np.asarray(t.n)
        planned = float(total[-1]) if planned_n is None else float(planned_n)
        res = sequential_test(c, t, alpha, planned_n=planned)
        out.append(pd.DataFrame({
            "variant": variant, "day": days, "n": np.asarray(t.n), "control_n": np.asarray(c.n),
            "effect": np.asarray(res.effect), "cs_low": np.maximum.accumulate(np.nan_to_num(res.cs_low, nan=-np.inf)),
            "cs_high": np.minimum.accumulate(np.nan_to_num(res.cs_high, nan=np.inf)),
            "always_valid_p": np.minimum.accumulate(np.nan_to_num(res.always_valid_p, nan=1.0)),
            "p_value": np.asarray(res.fixed.p_value)}))
    return pd.concat(out, ignore_index=True)


def _daily_statistics(daily: pd.DataFrame, control: str, proportion: bool, variant_col: str, day_col: str,
                      frame_name: str) -> tuple[np.ndarray, list[Any], Any]:
    """Days, variants (as in the frame) and a function giving a variant's cumulative statistic per day."""
    needed = [day_col, variant_col, "n", "sum"] + ([] if proportion else ["sum_squares"])
    missing = [c for c in needed if c not in daily.columns]
    if missing:
        raise DataContractError(frame_name, missing[0], f"missing column(s) {missing}")
    variants = list(pd.unique(daily[variant_col]))
    if control not in variants:
        raise ParameterError(f"unknown control variant {control!r}; variants: {variants}")
    dup = daily.duplicated([day_col, variant_col], keep=False)
    if dup.any():
        raise DataContractError(frame_name, day_col, "more than one row per day and variant",
                                rows=daily.loc[dup].head(5), n_bad=int(dup.sum()))
    wide = daily.pivot(index=day_col, columns=variant_col).sort_index()

    def stat(v: str) -> Any:
        n = wide[("n", v)].to_numpy(dtype=float)
        s = wide[("sum", v)].to_numpy(dtype=float)
        if np.isnan(n).any():
            raise DataContractError(frame_name, "n", f"variant {v!r} is missing on some days")
        if proportion:
            return ProportionStatistic(n, s)
        return SampleMeanStatistic(n, s, wide[("sum_squares", v)].to_numpy(dtype=float))

    return wide.index.to_numpy(), variants, stat


def window_band(daily: pd.DataFrame, control: str, alpha: float = 0.05, looks: int | None = None,
                proportion: bool = False, variant_col: str = "variant", day_col: str = "day",
                frame_name: str = "daily") -> pd.DataFrame:
    """Simultaneous daily band for the same units over a growing outcome window.

    Day ``d`` estimates the effect on the outcome of the first ``d`` days after exposure, a
    different quantity each day. Each day's interval is the fixed-horizon interval at level
    ``α / K`` (``K`` planned looks, default the number of days): by Bonferroni, with
    probability at least ``1 − α`` all ``K`` intervals cover their day's effect together, so
    looking every day and acting on the first interval that excludes zero keeps the
    false-positive rate at or below ``α``. The intervals are *not* intersected (each belongs to
    its own day); the last day's interval contains the last day's estimate.

    Parameters
    ----------
    daily : DataFrame
        Cumulative ``n``, ``sum``, ``sum_squares`` per ``day`` and variant
        (:func:`~workbench.experiments.frame.experiment_daily`).
    looks : int, optional
        Planned number of looks ``K`` (fixed before the start); default the days in ``daily``.

    Returns
    -------
    DataFrame
        ``variant``, ``day``, ``n``, ``control_n``, ``effect``, ``band_low``, ``band_high``
        (the day's interval at level ``α/K``), ``p_value`` (that day's fixed-horizon p, for
        comparison), ``p_simultaneous`` (running minimum of ``min(1, K·p)``: the p-value of
        "no effect on any day's window" after looking up to that day) and ``looks``.

    Examples
    --------
    >>> daily = pd.DataFrame({"day": [1, 1, 2, 2], "variant": ["c", "t"] * 2, "n": [500, 500, 500, 500],
    ...                       "sum": [500.0, 560.0, 1000.0, 1130.0], "sum_squares": [1500.0, 1600.0, 3000.0, 3400.0]})
    >>> band = window_band(daily, "c")
    >>> band[["day", "effect"]].round(3).to_dict("list")
    {'day': [1, 2], 'effect': [0.12, 0.26]}
    >>> bool((band["band_low"] <= band["effect"]).all() and (band["effect"] <= band["band_high"]).all())
    True
    """
    _check_alpha(alpha)
    days, variants, stat = _daily_statistics(daily, control, proportion, variant_col, day_col, frame_name)
    k = len(days) if looks is None else int(looks)
    if k < len(days):
        raise ParameterError(f"looks must be at least the number of days shown ({len(days)}), got {looks!r}")
    out = []
    c = stat(control)
    for variant in [v for v in variants if v != control]:
        t = stat(variant)
        band = two_sample_test(c, t, alpha / k)
        fixed_p = np.asarray(two_sample_test(c, t, alpha).p_value, dtype=float)
        out.append(pd.DataFrame({
            "variant": variant, "day": days, "n": np.asarray(t.n), "control_n": np.asarray(c.n),
            "effect": np.asarray(band.effect), "band_low": np.asarray(band.ci_low),
            "band_high": np.asarray(band.ci_high), "p_value": fixed_p,
            "p_simultaneous": np.minimum.accumulate(np.minimum(1.0, np.nan_to_num(fixed_p, nan=1.0) * k)),
            "looks": k}))
    return pd.concat(out, ignore_index=True)
