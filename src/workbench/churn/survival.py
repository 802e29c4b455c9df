"""Survival analysis of contact spells, thin over lifelines.

Kaplan-Meier curves and tables (median lifetime, survival at 7/30/90/180 days, with CIs),
multivariate log-rank tests (and Fleming–Harrington, Gehan and Tarone–Ware weighted ones,
computed here on collapsed rows), Cox proportional hazards (optionally stratified) with a
hazard-ratio table and the proportional-hazards check, and a Weibull AFT model for extrapolated lifetimes. lifelines
does the statistics; this module prepares the rows:

* categorical covariates are one-hot encoded against a reference level;
* when every covariate is categorical, Cox is fitted on rows *collapsed* to unique
  (covariates, duration, event) patterns with frequency weights — the same partial
  likelihood, so the same coefficients, from far fewer rows;
* recurrent spells of one customer are analysed with a cluster-robust (sandwich) variance;
* :func:`landmark` keeps spells still open at the landmark and restarts their clock there,
  so covariates measured in the first days (early interaction) carry no immortal-time bias.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._rows import collapse_rows
from ..errors import DataContractError, ParameterError
from .cox import CollapsedCoxFitter

AT_DAYS = (7, 30, 90, 180)


def _check(spells: pd.DataFrame, cols: Sequence[str | None], nonnegative: Sequence[str | None] = (),
           name: str = "spells") -> None:
    """Check the columns a survival fit reads.

    Every named column exists (``None`` entries are options not given); durations and
    weights in ``nonnegative`` have no negative value. Covariates may be negative.
    """
    cols = [c for c in (*cols, *nonnegative) if c]
    missing = [c for c in cols if c not in spells.columns]
    if missing:
        raise DataContractError(name, missing[0], f"required column is missing (found: {list(spells.columns)})")
    for c in filter(None, nonnegative):
        bad = spells[c] < 0 if pd.api.types.is_numeric_dtype(spells[c]) else None
        if bad is not None and bad.any():
            raise DataContractError(name, c, "negative values (durations and weights cannot be negative)",
                                    spells[bad].head(), int(bad.sum()))


def _groups(spells: pd.DataFrame, group_col: str | None):
    if group_col is None:
        yield "all", spells
    else:
        yield from spells.groupby(group_col, observed=True, sort=True)


def kaplan_meier_table(spells: pd.DataFrame, group_col: str | None = None, duration_col: str = "duration_days",
                       event_col: str = "churned", entry_col: str | None = None, weights_col: str | None = None,
                       at: Sequence[float] = AT_DAYS, alpha: float = 0.05) -> pd.DataFrame:
    """Per group: spells, events, median lifetime with CI, survival at ``at`` days with CIs."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    _check(spells, [event_col, group_col], nonnegative=[duration_col, entry_col, weights_col])
    rows = []
    for key, g in _groups(spells, group_col):
        kmf = KaplanMeierFitter(alpha=alpha).fit(
            g[duration_col], g[event_col], entry=g[entry_col] if entry_col else None,
            weights=g[weights_col] if weights_col else None)
        ci = median_survival_times(kmf.confidence_interval_)
        row = {"group": key, "spells": float(g[weights_col].sum()) if weights_col else len(g),
               "events": float((g[event_col] * (g[weights_col] if weights_col else 1)).sum()),
               "median_days": float(kmf.median_survival_time_),
               "median_low": float(ci.iloc[0, 0]), "median_high": float(ci.iloc[0, 1])}
        sf = kmf.survival_function_at_times(list(at))
        ci = kmf.confidence_interval_survival_function_
        lo, hi = ci.iloc[:, 0], ci.iloc[:, 1]
        for t, s in zip(at, sf, strict=False):
            idx = kmf.timeline[kmf.timeline <= t]
            pos = len(idx) - 1
            row[f"s{int(t)}"] = float(s)
            row[f"s{int(t)}_low"] = float(lo.iloc[pos]) if pos >= 0 else 1.0
            row[f"s{int(t)}_high"] = float(hi.iloc[pos]) if pos >= 0 else 1.0
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.rename(columns={"group": group_col}) if group_col else out.drop(columns="group")


def kaplan_meier_curves(spells: pd.DataFrame, group_col: str | None = None, duration_col: str = "duration_days",
                        event_col: str = "churned", entry_col: str | None = None, max_days: float | None = None,
                        alpha: float = 0.05, weights_col: str | None = None) -> pd.DataFrame:
    """Tidy Kaplan-Meier curves for plotting: group, day, survival, ci_low, ci_high.

    ``weights_col``: frequency weights, for rows collapsed in the engine
    (:func:`~workbench.churn.spells.spell_counts`); the curves equal those of the replicated rows.
    """
    from lifelines import KaplanMeierFitter

    _check(spells, [event_col, group_col], nonnegative=[duration_col, entry_col, weights_col])
    frames = []
    for key, g in _groups(spells, group_col):
        kmf = KaplanMeierFitter(alpha=alpha).fit(g[duration_col], g[event_col],
                                                  entry=g[entry_col] if entry_col else None,
                                                  weights=g[weights_col] if weights_col else None)
        ci = kmf.confidence_interval_survival_function_
        f = pd.DataFrame({"group": key, "day": kmf.timeline, "survival": kmf.survival_function_.iloc[:, 0].to_numpy(),
                          "ci_low": ci.iloc[:, 0].to_numpy(), "ci_high": ci.iloc[:, 1].to_numpy()})
        frames.append(f[f["day"] <= max_days] if max_days else f)
    return pd.concat(frames, ignore_index=True)


def plot_survival_curves(curves: pd.DataFrame, ax: Any = None, title: str | None = None, xlabel: str = "days",
                         ylabel: str = "share still connected") -> Any:
    """Step plot of :func:`kaplan_meier_curves` with confidence bands."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots()[1]
    for key, g in curves.groupby("group", sort=False):
        line, = ax.step(g["day"], g["survival"], where="post", label=str(key))
        ax.fill_between(g["day"], g["ci_low"], g["ci_high"], step="post", alpha=0.15, color=line.get_color())
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def logrank_table(spells: pd.DataFrame, group_col: str, duration_col: str = "duration_days",
                  event_col: str = "churned", weights_col: str | None = None, weighting: str = "logrank",
                  p: float = 0.0, q: float = 0.0) -> pd.DataFrame:
    """Multivariate log-rank test across the groups of ``group_col`` (rows weighted by ``weights_col``).

    ``weighting`` other than ``"logrank"`` runs the weighted test of
    :func:`weighted_logrank_test` (``"fleming-harrington"`` with ``p``, ``q``; ``"wilcoxon"``;
    ``"tarone-ware"``); the table then also names the weighting.
    """
    _check(spells, [event_col, group_col], nonnegative=[duration_col, weights_col])
    if weighting != "logrank":
        res = weighted_logrank_test(spells[duration_col], spells[group_col], spells[event_col],
                                    spells[weights_col] if weights_col else None, weighting, p, q)
        return pd.DataFrame({"test_statistic": [res.statistic], "degrees_of_freedom": [res.degrees_of_freedom],
                             "p_value": [res.p_value], "groups": [len(res.groups)], "weighting": [res.weighting]})
    from lifelines.statistics import multivariate_logrank_test

    res = multivariate_logrank_test(spells[duration_col], spells[group_col], spells[event_col],
                                    weights=spells[weights_col] if weights_col else None)
    return pd.DataFrame({"test_statistic": [float(res.test_statistic)], "degrees_of_freedom": [res.degrees_of_freedom],
                         "p_value": [float(res.p_value)], "groups": [spells[group_col].nunique()]})


@dataclass(frozen=True)
class WeightedLogrank:
    """A weighted log-rank test across k groups (chi-square on k − 1 degrees of freedom).

    ``observed`` and ``expected`` are the groups' weighted event counts Σ w(t)·d and
    Σ w(t)·E[d] (equal to the plain counts under the log-rank weight 1).
    """

    statistic: float
    degrees_of_freedom: int
    p_value: float
    weighting: str
    groups: tuple
    observed: tuple
    expected: tuple


_WEIGHTINGS = ("logrank", "fleming-harrington", "wilcoxon", "tarone-ware")


def weighted_logrank_test(durations: Any, groups: Any, events: Any, weights: Any = None,
                          weighting: str = "fleming-harrington", p: float = 0.0, q: float = 0.0) -> WeightedLogrank:
    """Weighted log-rank test of equal survival across groups, on (collapsed) rows with frequency weights.

    At each distinct event time the groups' events are compared with those expected from
    their numbers at risk, weighted by w(t): Fleming–Harrington G(p, q) w = S(t−)^p·(1 − S(t−))^q
    with S the pooled Kaplan–Meier curve (``p`` > 0 stresses early differences, ``q`` > 0
    late ones; G(0, 0) is the log-rank test, G(1, 0) R's ``survdiff(rho = 1)``, the
    Peto–Peto–Prentice form); Gehan–Breslow ``"wilcoxon"`` w = n(t); ``"tarone-ware"``
    w = √n(t). The variance is the hypergeometric one of the replicated rows, so a row of
    weight w counts as w spells exactly.

    Parameters
    ----------
    durations, groups, events : array-like
        Time, group label and event indicator of each row.
    weights : array-like, optional
        Non-negative frequency weights (spells per row).
    weighting : {"fleming-harrington", "logrank", "wilcoxon", "tarone-ware"}
    p, q : float
        Fleming–Harrington exponents (non-negative).

    Returns
    -------
    WeightedLogrank

    Examples
    --------
    >>> res = weighted_logrank_test([1, 2, 3, 4, 5, 6], ["a", "b", "a", "b", "a", "b"], [1, 1, 1, 1, 0, 1], p=1)
    >>> res.degrees_of_freedom, round(res.statistic, 4)
    (1, 0.1905)
    """
    if weighting not in _WEIGHTINGS:
        raise ParameterError(f"weighting must be one of {_WEIGHTINGS}, got {weighting!r}")
    if not (p >= 0 and q >= 0):
        raise ParameterError(f"Fleming–Harrington exponents must be non-negative, got p={p!r}, q={q!r}")
    t = np.asarray(durations, float)
    e = np.asarray(events, float) > 0
    w = np.ones(len(t)) if weights is None else np.asarray(weights, float)
    frame = pd.DataFrame({"duration": t, "weight": w})
    _check(frame, [], nonnegative=["duration", "weight"], name="spells")
    codes, labels = pd.factorize(pd.Index(groups), sort=True)
    if (codes < 0).any():
        raise DataContractError("spells", "group", "missing group labels", frame[codes < 0].head(),
                                int((codes < 0).sum()))
    k = len(labels)
    if k < 2:
        raise ParameterError("a log-rank test needs at least two groups")
    times, slot = np.unique(t, return_inverse=True)
    m = len(times)
    leaving = np.bincount(slot * k + codes, w, m * k).reshape(m, k)
    died = np.bincount(slot * k + codes, w * e, m * k).reshape(m, k)
    at_risk = np.cumsum(leaving[::-1], axis=0)[::-1]  # rows with time >= t
    d, n = died.sum(1), at_risk.sum(1)
    ev = d > 0
    died, at_risk, d, n = died[ev], at_risk[ev], d[ev], n[ev]
    s_left = np.r_[1.0, np.cumprod(1.0 - d / n)[:-1]]  # pooled Kaplan–Meier just before each time
    wt = {"logrank": np.ones_like(n), "fleming-harrington": s_left ** p * (1.0 - s_left) ** q,
          "wilcoxon": n, "tarone-ware": np.sqrt(n)}[weighting]
    share = at_risk / n[:, None]
    expected = share * d[:, None]
    z = wt @ (died - expected)
    c = np.where(n > 1, wt**2 * d * (n - d) / np.maximum(n - 1, 1e-300), 0.0)
    cov = np.diag(c @ share) - (share * c[:, None]).T @ share
    zr, vr = z[:-1], cov[:-1, :-1]  # one group is redundant (the deviations sum to zero)
    stat = float(zr @ np.linalg.lstsq(vr, zr, rcond=None)[0]) if np.any(vr) else 0.0
    from scipy import stats

    name = f"fleming-harrington({p:g}, {q:g})" if weighting == "fleming-harrington" else weighting
    return WeightedLogrank(stat, k - 1, float(stats.chi2.sf(stat, k - 1)), name, tuple(labels),
                           tuple(float(v) for v in wt @ died), tuple(float(v) for v in wt @ expected))


def landmark(spells: pd.DataFrame, landmark_days: float = 14.0, duration_col: str = "duration_days",
             entry_col: str | None = None) -> pd.DataFrame:
    """Spells still open at ``landmark_days``, with time measured from the landmark."""
    _check(spells, [], nonnegative=[duration_col])
    out = spells[spells[duration_col] > landmark_days].copy()
    out[duration_col] = out[duration_col] - landmark_days
    if entry_col and entry_col in out:
        out[entry_col] = (out[entry_col] - landmark_days).clip(lower=0)
    return out


def design_matrix(spells: pd.DataFrame, categorical: Sequence[str] = (), numeric: Sequence[str] = (),
                  reference: dict[str, Any] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """One-hot encode ``categorical`` against a reference level (the most frequent, or given)."""
    reference = dict(reference or {})
    cols, parts = [], []
    for c in categorical:
        values = spells[c].astype(object).where(spells[c].notna(), "missing")
        ref = reference.get(c, values.value_counts().index[0])
        for level in category_levels(values, ref):
            name = f"{c}={level}"
            parts.append(pd.Series((values == level).astype(float).to_numpy(), name=name, index=spells.index))
            cols.append(name)
    for c in numeric:
        parts.append(spells[c].astype(float).rename(c))
        cols.append(c)
    return (pd.concat(parts, axis=1) if parts else pd.DataFrame(index=spells.index)), cols


def category_levels(values: pd.Series, reference: Any) -> list[Any]:
    """The non-reference levels of a categorical column in design order (missing is ``"missing"``)."""
    values = values.astype(object).where(values.notna(), "missing")
    return sorted(set(values) - {reference}, key=str)


def _most_frequent(values: pd.Series, weights: pd.Series | None = None) -> Any:
    """The most frequent level (missing values count as the level "missing"), rows weighted."""
    levels = values.astype(object).where(values.notna(), "missing")
    if weights is None:
        return levels.value_counts().index[0]
    return pd.Series(weights.to_numpy(float)).groupby(levels.to_numpy()).sum().idxmax()


def collapse_spells(frame: pd.DataFrame, columns: Sequence[str], duration_col: str = "duration_days",
                    event_col: str = "churned") -> pd.DataFrame:
    """Unique (columns, duration, event) rows with a ``weight`` column (frequency weights).

    Missing values form a level of their own: no spell is dropped.
    """
    return collapse_rows(frame, list(columns) + [duration_col, event_col])


# Newton–Raphson settings for lifelines' CoxPHFitter: converged to the last digits R reports.
LIFELINES_FIT_OPTIONS = {"precision": 1e-12, "r_precision": 1e-14, "max_steps": 1000}


class SpellCoxFitter:
    """Cox proportional hazards on spells; hazard ratios with CIs and the proportional-hazards check.

    The constructor stores the configuration; :meth:`fit` returns the fitter with its fitted
    attributes (ending in ``_``). Collapsed fits use the exact Efron fitter
    :class:`~workbench.churn.cox.CollapsedCoxFitter`, the others lifelines' ``CoxPHFitter``.

    Parameters
    ----------
    categorical, numeric : column names
        Categorical columns are one-hot encoded against ``reference`` (default: the most
        frequent level). Binary 0/1 columns may go in either list.
    collapse : "auto", True or False
        Fit on unique (covariates, duration, event) rows with frequency weights, by the exact
        Efron fitter: the same coefficients as on the raw rows. ``"auto"`` collapses unless
        there is a cluster column, entry times or a penalizer (lifelines fits those). Numeric
        covariates collapse too when they repeat (counts such as ``early_chats``).
    cluster_col : str, optional
        Recurrent spells of one customer: cluster-robust (sandwich) standard errors.
    duration_resolution : float, optional
        Round durations up to a multiple of this (``1.0``: whole days, the grain operations
        act on). :func:`contact_spells` measures durations to the second, so nearly every
        spell is unique; on a daily grain millions of spells collapse to a few thousand
        rows. Ties then follow Efron's method, exactly as on the raw rounded rows.
    weights_col : str, optional
        Whole-number frequency weights: each row stands for that many spells (the rows of
        :func:`~workbench.churn.spells.spell_counts`, collapsed in the engine). The fit is
        the one on the replicated rows: collapsed fits weight the exact Efron likelihood;
        uncollapsed fits (``collapse=False``, entry times, clusters, a penalizer) replicate
        the rows before lifelines (whose own weights are case weights with a different tie
        handling), so memory grows with the number of spells represented.
    strata : column names, optional
        Stratify by these columns (e.g. ``["store_id"]``): each stratum has its own baseline
        hazard, the coefficients are shared (R's ``strata()``, lifelines' ``strata=``). Works
        collapsed and with ``weights_col``; a missing value is the stratum ``"missing"``.
        Stratified fits have one baseline column per stratum, so the at-risk scoring (which
        reads one baseline) takes unstratified fits only.

    Attributes
    ----------
    model_ : CollapsedCoxFitter or lifelines.CoxPHFitter
        The fitted model (``params_``, ``baseline_cumulative_hazard_``, ``predict_partial_hazard``).
    hazard_ratios_ : DataFrame
        ``covariate``, ``coef``, ``se``, ``hr``, ``hr_low``, ``hr_high``, ``p``.
    ph_test_ : DataFrame or None
        The proportional-hazards check (``None`` without ``check_ph``).
    n_spells_, n_rows_fitted_ : int
        Spells represented, and rows the likelihood was evaluated on.
    collapsed_ : bool
        Whether the fit ran on collapsed rows.
    covariates_ : list of str
        Design columns (``f"{column}={level}"`` for categorical levels).
    reference_ : dict
        Reference level of each categorical covariate.
    strata_ : list of str
        The stratification columns (empty: one baseline).
    levels_ : dict
        Per categorical covariate, its non-reference levels.

    The earlier result's names (``model``, ``hazard_ratios``, ``ph_test``, ``n_spells``,
    ``n_rows_fitted``, ``collapsed``, ``covariates``, ``levels``) read the fitted attributes.
    """

    def __init__(self, categorical: Sequence[str] = (), numeric: Sequence[str] = (),
                 duration_col: str = "duration_days", event_col: str = "churned", collapse: str | bool = "auto",
                 cluster_col: str | None = None, entry_col: str | None = None,
                 reference: dict[str, Any] | None = None, check_ph: bool = True, penalizer: float = 0.0,
                 duration_resolution: float | None = None, weights_col: str | None = None,
                 strata: Sequence[str] = ()) -> None:
        self.categorical = list(categorical)
        self.numeric = list(numeric)
        self.duration_col = duration_col
        self.event_col = event_col
        self.collapse = collapse
        self.cluster_col = cluster_col
        self.entry_col = entry_col
        self.reference = reference
        self.check_ph = check_ph
        self.penalizer = penalizer
        self.duration_resolution = duration_resolution
        self.weights_col = weights_col
        self.strata = [strata] if isinstance(strata, str) else list(strata)

    def fit(self, spells: pd.DataFrame) -> SpellCoxFitter:
        """Fit on ``spells`` (one row per spell, or weighted rows); returns ``self``."""
        (categorical, numeric, duration_col, event_col, collapse, cluster_col, entry_col, reference, check_ph,
         penalizer, duration_resolution, weights_col) = (
            self.categorical, self.numeric, self.duration_col, self.event_col, self.collapse, self.cluster_col,
            self.entry_col, self.reference, self.check_ph, self.penalizer, self.duration_resolution, self.weights_col)
        from lifelines import CoxPHFitter

        strata = self.strata
        _check(spells, [event_col, *categorical, *numeric, cluster_col, *strata],
               nonnegative=[duration_col, entry_col, weights_col])
        if both := sorted(set(strata) & {*categorical, *numeric}):
            raise ParameterError(f"a stratification column cannot also be a covariate: {both}")
        if duration_resolution is not None:
            if not duration_resolution > 0:
                raise ParameterError(f"duration_resolution must be positive, got {duration_resolution!r}")
            spells = spells.copy(deep=False)
            steps = np.ceil(spells[duration_col].to_numpy(float) / duration_resolution)
            spells[duration_col] = steps * duration_resolution
        n_spells = int(spells[weights_col].sum()) if weights_col else len(spells)
        if n_spells == 0 or spells[event_col].sum() == 0:
            raise ParameterError("Cox needs spells with at least one event")
        do_collapse = collapse is True or (collapse == "auto" and not cluster_col and not entry_col and not penalizer)
        if do_collapse and (entry_col or cluster_col or penalizer):
            raise ParameterError("collapsed fits take no entry times, clusters or penalizer: use collapse=False")
        # collapse the raw columns first (one pass over integer codes), then work on the unique rows only
        keys = list(dict.fromkeys([*categorical, *numeric, *strata, duration_col, event_col]))
        weights = spells[weights_col].to_numpy() if weights_col else None
        grouped = collapse_rows(spells, keys, weights) if do_collapse else None
        counted = spells if grouped is None else grouped
        counts = None if grouped is None else grouped["weight"]
        if grouped is None and weights_col:
            counts = spells[weights_col]
        refs = {c: (reference or {})[c] if c in (reference or {}) else _most_frequent(counted[c], counts)
                for c in categorical}

        def with_outcome(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
            X, cols = design_matrix(frame, categorical, numeric, refs)
            out = X.assign(**{duration_col: frame[duration_col].to_numpy(),
                              event_col: frame[event_col].astype(int).to_numpy()})
            return out, cols

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lifelines' notes on convergence are reflected in the result
            if grouped is not None:
                fit_data, cols = with_outcome(grouped)
                fit_data["weight"] = grouped["weight"].to_numpy()
                cph = CollapsedCoxFitter().fit(fit_data[cols], fit_data[duration_col], fit_data[event_col],
                                               weights=fit_data["weight"],
                                               strata=_stratum_labels(grouped, strata) if strata else None)
                data = None
            else:
                if weights_col:  # the fit on the replicated rows (lifelines' weights are case weights)
                    spells = spells.loc[spells.index.repeat(spells[weights_col].to_numpy().astype(np.int64))]
                    spells = spells.reset_index(drop=True).assign(**{weights_col: 1})
                data, cols = with_outcome(spells)
                if entry_col:
                    data[entry_col] = spells[entry_col].to_numpy()
                if cluster_col:
                    data[cluster_col] = spells[cluster_col].to_numpy()
                for c in strata:
                    data[c] = _stratum_levels(spells[c]).to_numpy()
                if weights_col:
                    data[weights_col] = spells[weights_col].to_numpy()
                fit_data = data
                cph = CoxPHFitter(penalizer=penalizer)
                # lifelines' default precision (1e-7 on the step) stops early on penalised and
                # late-entry fits; run Newton–Raphson to convergence instead
                cph.fit(fit_data, duration_col, event_col, cluster_col=cluster_col, entry_col=entry_col,
                        robust=bool(cluster_col), weights_col=weights_col, fit_options=LIFELINES_FIT_OPTIONS,
                        strata=strata or None)
        s = cph.summary
        hr = pd.DataFrame({"covariate": s.index, "coef": s["coef"].to_numpy(), "se": s["se(coef)"].to_numpy(),
                           "hr": s["exp(coef)"].to_numpy(), "hr_low": s["exp(coef) lower 95%"].to_numpy(),
                           "hr_high": s["exp(coef) upper 95%"].to_numpy(), "p": s["p"].to_numpy()})
        ph = None
        if check_ph:
            try:
                from lifelines.statistics import proportional_hazard_test

                from ._schoenfeld import with_linear_residuals

                # the check needs lifelines' residuals: refit on (at most) 20,000 raw spells
                if weights_col:  # weighted rows: draw spells, i.e. rows in proportion to their weight
                    rows = spells.sample(min(n_spells, 20_000), replace=True, weights=spells[weights_col],
                                         random_state=0)
                else:
                    rows = spells.sample(min(len(spells), 20_000), random_state=0)
                sample = with_outcome(rows)[0]
                for c in strata:
                    sample[c] = _stratum_levels(rows[c]).to_numpy()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    check_model = with_linear_residuals(CoxPHFitter().fit(sample, duration_col, event_col,
                                                                          strata=strata or None))
                    res = proportional_hazard_test(check_model, sample, time_transform="rank")
                ph = res.summary.reset_index().rename(columns={"index": "covariate"})
                ph = ph[["covariate", "test_statistic", "p"]]
            except Exception as err:  # the check is informative; a failure is reported, not hidden
                ph = pd.DataFrame({"covariate": ["(check failed)"], "test_statistic": [np.nan], "p": [np.nan],
                                   "note": [str(err)[:200]]})
        self.model_, self.hazard_ratios_, self.ph_test_ = cph, hr, ph
        self.n_spells_, self.n_rows_fitted_, self.collapsed_ = n_spells, len(fit_data), do_collapse
        self.covariates_, self.reference_, self.strata_ = cols, refs, list(strata)
        self.levels_ = {c: category_levels(counted[c], refs[c]) for c in categorical}
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """The hazard-ratio table (``hazard_ratios_``)."""
        return self.hazard_ratios_

    # the names of the earlier result object, read by pages, notebooks and the SQL builders
    model = property(lambda self: self.model_, doc="``model_``.")
    hazard_ratios = property(lambda self: self.hazard_ratios_, doc="``hazard_ratios_``.")
    ph_test = property(lambda self: self.ph_test_, doc="``ph_test_``.")
    n_spells = property(lambda self: self.n_spells_, doc="``n_spells_``.")
    n_rows_fitted = property(lambda self: self.n_rows_fitted_, doc="``n_rows_fitted_``.")
    collapsed = property(lambda self: self.collapsed_, doc="``collapsed_``.")
    covariates = property(lambda self: self.covariates_, doc="``covariates_``.")
    levels = property(lambda self: self.levels_, doc="``levels_``.")

    def __repr__(self) -> str:
        if hasattr(self, "model_"):
            return f"<SpellCoxFitter: {self.n_spells_:,} spells, {len(self.covariates_)} covariates>"
        return "<SpellCoxFitter: not fitted>"


def _stratum_levels(values: pd.Series) -> pd.Series:
    """A stratification column with missing values as the level ``"missing"`` (no spell dropped)."""
    return values.astype(object).where(values.notna(), "missing")


def _stratum_labels(frame: pd.DataFrame, strata: Sequence[str]) -> pd.Index:
    """One label per row: the value of a single stratification column, else the tuple of values."""
    levels = pd.DataFrame({c: _stratum_levels(frame[c]) for c in strata})
    if len(strata) == 1:
        return pd.Index(levels[strata[0]])
    return pd.MultiIndex.from_frame(levels).to_flat_index()


#: the earlier name of a fitted :class:`SpellCoxFitter` (type hints in pages and the risk pipeline)
CoxResult = SpellCoxFitter


def fit_cox(spells: pd.DataFrame, categorical: Sequence[str] = (), numeric: Sequence[str] = (),
            duration_col: str = "duration_days", event_col: str = "churned", collapse: str | bool = "auto",
            cluster_col: str | None = None, entry_col: str | None = None, reference: dict[str, Any] | None = None,
            check_ph: bool = True, penalizer: float = 0.0, duration_resolution: float | None = None,
            weights_col: str | None = None, strata: Sequence[str] = ()) -> SpellCoxFitter:
    """Cox proportional hazards on spells: ``SpellCoxFitter(...).fit(spells)`` (parameters there).

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"duration_days": [3, 3, 9, 9], "churned": [1, 1, 1, 0],
    ...                      "channel": ["a", "b", "a", "b"], "weight": [30, 20, 10, 15]})
    >>> res = fit_cox(rows, categorical=["channel"], weights_col="weight", check_ph=False)
    >>> res.n_spells_
    75
    """
    return SpellCoxFitter(categorical, numeric, duration_col, event_col, collapse, cluster_col, entry_col, reference,
                          check_ph, penalizer, duration_resolution, weights_col, strata).fit(spells)


def hazard_ratio_forest(table: pd.DataFrame, ax: Any = None, title: str | None = None,
                        xlabel: str = "hazard ratio (log scale)") -> Any:
    """Forest plot of a hazard-ratio table: HR with 95% CI on a log axis, 1 marked."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 0.5 + 0.45 * len(table)))[1]
    y = np.arange(len(table))[::-1]
    ax.errorbar(table["hr"], y, xerr=[table["hr"] - table["hr_low"], table["hr_high"] - table["hr"]], fmt="o",
                capsize=3)
    ax.axvline(1.0, color="#8C8C8C", lw=1)
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels(table["covariate"])
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return ax


class SpellWeibullAFTFitter:
    """Weibull accelerated-failure-time model (lifelines) on spells, for extrapolated lifetimes.

    The constructor stores the configuration (as :class:`SpellCoxFitter`); :meth:`fit`
    returns the fitter. Fitted attributes: ``model_`` (lifelines' ``WeibullAFTFitter``),
    ``params_`` and ``standard_errors_`` (indexed by (``lambda_`` or ``rho_``, covariate), as in
    lifelines) and ``design_columns_`` (the covariate columns its predictions take).
    """

    def __init__(self, categorical: Sequence[str] = (), numeric: Sequence[str] = (),
                 duration_col: str = "duration_days", event_col: str = "churned",
                 reference: dict[str, Any] | None = None) -> None:
        self.categorical = list(categorical)
        self.numeric = list(numeric)
        self.duration_col = duration_col
        self.event_col = event_col
        self.reference = reference

    def fit(self, spells: pd.DataFrame) -> SpellWeibullAFTFitter:
        """Fit on ``spells``; durations below 0.001 days are raised to it (Weibull needs positive times)."""
        from lifelines import WeibullAFTFitter

        X, cols = design_matrix(spells, self.categorical, self.numeric, self.reference)
        data = X.assign(**{self.duration_col: np.maximum(spells[self.duration_col].to_numpy(), 1e-3),
                           self.event_col: spells[self.event_col].astype(int).to_numpy()})
        model = WeibullAFTFitter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data, self.duration_col, self.event_col)
        self.model_, self.design_columns_ = model, cols
        self.params_, self.standard_errors_ = model.params_, model.standard_errors_
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """Lifelines' coefficient table."""
        return self.model_.summary

    def predict_survival_function(self, covariates: pd.DataFrame, times: Any = None) -> pd.DataFrame:
        """S(t | x) at ``times`` for each row of ``covariates`` (``design_columns_``), one column per row."""
        return self.model_.predict_survival_function(covariates, times=times)


def fit_weibull_aft(spells: pd.DataFrame, categorical: Sequence[str] = (), numeric: Sequence[str] = (),
                    duration_col: str = "duration_days", event_col: str = "churned",
                    reference: dict[str, Any] | None = None) -> SpellWeibullAFTFitter:
    """Weibull AFT on spells: ``SpellWeibullAFTFitter(...).fit(spells)``."""
    return SpellWeibullAFTFitter(categorical, numeric, duration_col, event_col, reference).fit(spells)


def expected_lifetime(model: Any, covariates: pd.DataFrame, horizon_days: float = 3650.0,
                      steps: int = 400) -> np.ndarray:
    """Restricted mean lifetime up to ``horizon_days`` (the area under the survival curve)."""
    times = np.linspace(0, horizon_days, steps + 1)
    sf = model.predict_survival_function(covariates, times=times).to_numpy()
    return np.trapezoid(sf, times, axis=0) if hasattr(np, "trapezoid") else np.trapz(sf, times, axis=0)
