"""What the targeting report states: whom the next task of the same type should go to.

The report learns, from a randomised task experiment, which customers the task helps most,
checks on customers the model never saw whether that ranking beats random targeting, and
only then recommends an audience for the next task. Every number is computed here
(:class:`TargetingPage`); the notebook lays it out.

How the numbers are made:

* **Split.** Units (clusters, for store- or staff-randomised experiments) are split by a
  salted hash (:func:`~workbench.targeting.learners.holdout_mask`): ``holdout_share`` of them
  are held out. The uplift model (:func:`~workbench.targeting.learners.fit_uplift`,
  cross-fitted) learns on the rest, or on a salted-hash sample of at most ``max_train_units``
  customers of the rest (:func:`~workbench.targeting.learners.train_sample`; the page states
  the sample); every evaluated number comes from the held-out units, which no model saw, so
  their intervals hold: all of them, or a salted-hash sample of at most ``max_holdout_units``
  (the page states it). Only the units learned on and checked on get features and enter a
  statement, so the page's cost stays bounded as experiments grow; the one-hot levels of the
  channel and the store are those with at least 1% of these units.
* **Evaluation on the hold-out.** The Qini coefficient and uplift@k with bootstrap intervals
  (:func:`~workbench.targeting.evaluation.evaluate_uplift`, resampling clusters when the
  design is clustered); policy values of "treat the top k%", treat-all, treat-none and
  random targeting (:func:`~workbench.targeting.evaluation.policy_values`, IPW and doubly
  robust). The incremental outcome of a policy is its doubly-robust value minus treat-none's:
  the mean of ``pi_i (phi1_i - phi0_i)`` with ``phi`` the doubly-robust outcome terms, with an
  influence-function interval (cluster-robust when clustered).
* **Verdict.** An audience is recommended only when the Qini interval lies above zero, the
  learned top-k policy beats random targeting of the same share (its interval above zero) and
  the top-k customers gain on average. Otherwise there is nothing to target: the page says to
  treat everyone or no one according to the average effect over the whole experiment (doubly
  robust, every unit's outcome models out of fold; with a capped sample, over the sample and
  the hold-out).
* **Kept.** With ``with_model=False`` the statements (no model, no customer ids) are kept beside
  a current derived layer, so the report's other language reads them.
* **Audience.** The customers with an open contact at the report's date are scored with the
  mean of the fold models (:class:`~workbench.targeting.audience.TargetingModel`); the top
  ``top_share`` is the audience. Its expected incremental outcome is the hold-out estimate
  per treated top-k customer times the audience size (same interval, scaled).
* **Traits.** Mean predicted uplift by level of each trait over the experiment's units (the
  sample and the hold-out when capped; each unit scored by a model that never saw it); the
  traits with the widest spread between levels are turned into sentences.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..targeting.evaluation import dr_effects, mean_se, top_mask
from ._base import Stated, Verdict, effect_verdict

OUTCOMES = {"gmv": "cny_per_unit", "orders": "count_per_unit"}
TOTAL_UNITS = {"gmv": "cny", "orders": "count"}
OUTCOME_DEFINITIONS = {"gmv": "GMV (order amount net of refunds)", "orders": "orders"}
MIN_CLUSTERS_PER_ARM = 10      # below this a clustered experiment cannot teach whom to target (said on the page)
MIN_HOLDOUT_PER_ARM = 20       # units per arm in the hold-out (clusters for clustered designs)
MIN_LEVEL_UNITS = 30           # a trait level with fewer units is too noisy to describe
MIN_LEVEL_SHARE = 0.02
CURVE_POINTS = 200             # the Qini curve is thinned to this many points for the chart
#: Training units the uplift model learns on at most (a salted-hash sample of them beyond it): the tree fits' cost
#: grows with the units. On the 1M brand's EXP_CUST (247,859 training customers, GMV) the hold-out Qini was 0.024
#: (95% interval 0.000 to 0.048) learning on 50,000 and 0.035 (0.012 to 0.058) on all, at a fifth of the fit's CPU;
#: at 12,500 and 25,000 it was about 0 (BENCHMARKS.md, "Targeting report at 1M").
MAX_TRAIN_UNITS = 50_000
#: Hold-out units every number is checked on at most (a salted-hash sample of them beyond it): the hold-out's tree
#: predictions and bootstrap grow with its units. The 1M brand's hold-out (106,561 customers) is below it; a 20M
#: brand's (2.1 million) is checked on a sample of this size, whose intervals are narrower than the 1M brand's.
MAX_HOLDOUT_UNITS = 200_000


@dataclass(frozen=True)
class Driver:
    """One trait whose levels differ most in predicted uplift: the highest and the lowest level."""

    trait: str
    high_level: str
    high: float
    low_level: str
    low: float

    @property
    def spread(self) -> float:
        """Difference in mean predicted uplift between the highest and the lowest level."""
        return self.high - self.low


@dataclass(frozen=True)
class TargetingPage:
    """Everything the targeting report states for one experiment.

    ``status`` is ``target`` (an audience is recommended), ``nothing`` (nothing to target:
    treat everyone or no one by the average effect) or ``too_few`` (too few clusters or
    hold-out units to learn anything). Per-customer statements are in the outcome per
    customer over the experiment's window; totals are that times a number of customers.
    """

    experiment_id: str
    name: str
    unit: str
    outcome: str
    method: str
    top_share: float
    window_days: int
    status: str
    n_units: int
    n_clusters: int | None
    n_holdout: int
    as_of: pd.Timestamp
    average_effect: Stated | None = None        # whole experiment, per customer if everyone is treated
    average_verdict: Verdict | None = None
    holdout_all: Stated | None = None           # hold-out: incremental per customer of treating everyone
    top_effect: Stated | None = None            # hold-out: incremental per treated customer of the top k%
    policy_gain: Stated | None = None           # hold-out: incremental per customer of "treat the top k%"
    gain_vs_random: Stated | None = None        # hold-out: top k% minus random k%, per customer
    captured: Stated | None = None              # share of treat-all's gain the top k% bring (point value)
    qini: Stated | None = None
    uplift_at_k: Stated | None = None
    curve: pd.DataFrame | None = None           # n (share of units), qini (per unit), random
    policies: pd.DataFrame | None = None        # policy, estimator, share, value, ci_low, ci_high
    traits: pd.DataFrame | None = None          # trait, level, units, share, uplift
    drivers: tuple[Driver, ...] = ()
    n_open: Stated | None = None                # customers with an open contact at as_of
    audience: Stated | None = None              # recommended audience size
    audience_gain: Stated | None = None         # audience × top_effect
    treat_all_gain: Stated | None = None        # n_open × holdout_all
    by_store: pd.DataFrame | None = None        # store_name, customers, predicted_uplift
    by_guide: pd.DataFrame | None = None        # staff_name, store_name, customers, predicted_uplift
    model: Any = None                           # TargetingModel (None when too few to learn)
    n_train: int = 0                            # units the model learned on (a hash sample when capped)
    n_train_pool: int = 0                       # units outside the hold-out it could have learned on
    max_train_units: int | None = None
    holdout_share: float = 0.3
    n_folds: int = 5
    n_boot: int = 500
    n_checked: int = 0                          # hold-out units every number is checked on (a hash sample when capped)
    max_holdout_units: int | None = None

    @property
    def train_share(self) -> float:
        """Share of the units outside the hold-out that the model learned on (1 when not capped)."""
        return self.n_train / self.n_train_pool if self.n_train_pool else 0.0

    @property
    def sampled(self) -> bool:
        """Whether the model learned on a sample of the training units (the cap bound)."""
        return self.n_train < self.n_train_pool

    @property
    def checked_sampled(self) -> bool:
        """Whether the numbers are checked on a sample of the hold-out (its cap bound)."""
        return self.n_checked < self.n_holdout

    @property
    def recommends(self) -> bool:
        """Whether the page recommends an audience."""
        return self.status == "target"

    def per_customer(self, value: float) -> str:
        """A value in the page's per-customer unit (CNY per customer for GMV).

        >>> TargetingPage("E", "E", "customer", "gmv", "dr", 0.3, 14, "nothing", 10, None, 3,
        ...               pd.Timestamp("2026-01-01")).per_customer(12.345)
        '¥12.35'
        """
        from ._base import UNITS

        return UNITS[OUTCOMES[self.outcome]](value)


def _stated(terms: np.ndarray, clusters: Any, unit: str, definition: str, start: pd.Timestamp, end: pd.Timestamp,
            level: float = 0.95, scale: float = 1.0) -> Stated:
    m, se = mean_se(terms, clusters)
    z = float(sps.norm.ppf(0.5 + level / 2))
    return Stated(m * scale, unit, definition, start, end, ci_low=(m - z * se) * scale, ci_high=(m + z * se) * scale)


def _scaled(s: Stated, factor: float, unit: str, definition: str) -> Stated:
    return Stated(s.value * factor, unit, definition, s.start, s.end,
                  ci_low=None if s.ci_low is None else s.ci_low * factor,
                  ci_high=None if s.ci_high is None else s.ci_high * factor)


def _thin_curve(n: np.ndarray, value: np.ndarray, n_total: int) -> pd.DataFrame:
    """The Qini curve as shares of units and outcome per unit, thinned for a chart, with the random line."""
    keep = np.unique(np.linspace(0, len(n) - 1, min(len(n), CURVE_POINTS)).round().astype(int))
    share = n[keep] / n_total
    per_unit = value[keep] / n_total
    return pd.DataFrame({"share": share, "qini": per_unit, "random": share * value[-1] / n_total})


# ----------------------------------------------------------------------------- traits
# trait → (feature columns it needs). Levels are i18n keys tgt.lv_<trait>_<code>; channel levels are the
# catalogue's channel groups, store levels the store names, spend levels money ranges from the data.
TRAITS = {"last_purchase": ("has_bought", "recency_days"), "frequency": ("frequency_365d",),
          "spend": ("monetary_365d",), "tenure": ("tenure_days",), "touches": ("touches_28d",),
          "channel": ("channel_group",), "store": ("store_id",)}
_DAY_BINS = (30, 90, 180, 365)


def _cut(values: pd.Series, edges: tuple[float, ...], codes: tuple[str, ...]) -> pd.Series:
    """``codes[i]`` for values in ``[edges[i-1], edges[i])`` (the first code below ``edges[0]``)."""
    idx = np.searchsorted(np.asarray(edges, float), values.to_numpy(float), side="right")
    return pd.Series(np.asarray(codes, dtype=object)[idx], index=values.index)


def _round2(v: float) -> float:
    """Two significant figures (a readable money edge)."""
    if v <= 0:
        return 0.0
    digits = 1 - int(np.floor(np.log10(v)))
    return float(round(v, digits))


def trait_levels(frame: pd.DataFrame, trait: str) -> tuple[pd.Series, dict[str, tuple[str, dict[str, str]]]]:
    """Each unit's level code for ``trait`` and, per code, the catalogue key and arguments of its label.

    Examples
    --------
    >>> f = pd.DataFrame({"has_bought": [0, 1, 1], "recency_days": [40.0, 12.0, 400.0]})
    >>> codes, labels = trait_levels(f, "last_purchase")
    >>> codes.tolist(), labels["d30"][0]
    (['never', 'd30', 'd365plus'], 'tgt.lv_last_purchase_d30')
    """
    from ..plotting import format_cny

    def keyed(codes: pd.Series) -> tuple[pd.Series, dict[str, tuple[str, dict[str, str]]]]:
        return codes, {c: (f"tgt.lv_{trait}_{c}", {}) for c in codes.dropna().unique()}

    day_codes = ("d30", "d90", "d180", "d365", "d365plus")
    if trait == "last_purchase":
        bought = frame["has_bought"].astype(int) == 1
        return keyed(_cut(frame["recency_days"], _DAY_BINS, day_codes).where(bought, "never"))
    if trait == "tenure":
        return keyed(_cut(frame["tenure_days"], _DAY_BINS, day_codes))
    if trait == "frequency":
        return keyed(_cut(frame["frequency_365d"], (1, 2, 4), ("none", "one", "two_three", "four_plus")))
    if trait == "touches":
        return keyed(_cut(frame["touches_28d"], (1, 3, 6), ("none", "one_two", "three_five", "six_plus")))
    if trait == "spend":
        v = frame["monetary_365d"].astype(float)
        pos = v[v > 0]
        q1, q2 = (_round2(float(q)) for q in pos.quantile([1 / 3, 2 / 3])) if len(pos) else (0.0, 0.0)
        if not 0 < q1 < q2:
            codes = pd.Series(np.where(v > 0, "some", "none"), index=v.index, dtype=object)
            return codes, {"none": ("tgt.lv_spend_none", {}), "some": ("tgt.lv_spend_some", {})}
        codes = pd.Series(np.select([v <= 0, v <= q1, v <= q2], ["none", "low", "mid"], "high"), index=v.index,
                          dtype=object)
        labels = {"none": ("tgt.lv_spend_none", {}), "low": ("tgt.lv_spend_low", {"high": format_cny(q1)}),
                  "mid": ("tgt.lv_spend_mid", {"low": format_cny(q1), "high": format_cny(q2)}),
                  "high": ("tgt.lv_spend_high", {"low": format_cny(q2)})}
        return codes, labels
    if trait == "channel":
        codes = frame["channel_group"].astype(object).where(frame["channel_group"].notna(), "unknown")
        return codes, {c: ("channel", {"value": str(c)}) for c in codes.unique()}
    if trait == "store":
        codes = frame["store_id"].astype(object).where(frame["store_id"].notna(), "")
        return codes, {c: ("store", {"value": str(c)}) for c in codes.unique()}
    raise ValueError(f"unknown trait {trait!r}; one of {', '.join(TRAITS)}")


def level_text(key: str, args: dict[str, str], lang: str) -> str:
    """A level's label in ``lang``: a catalogue sentence, a channel group, or a store's name (as the page put it).

    >>> level_text("channel", {"value": "ads"}, "en"), level_text("store", {"value": "南京三店"}, "en")
    ('Ads', '南京三店')
    """
    from ..i18n import t
    from ._base import display_value

    if key == "channel":
        return display_value("channel_group", args["value"], lang)
    if key == "store":
        return args["value"] or t("tgt.lv_store_none", lang)
    return t(key, lang, **args)


def trait_table(frame: pd.DataFrame, uplift: np.ndarray) -> pd.DataFrame:
    """Mean predicted uplift by level of every trait the frame has: trait, level, key, args, units, share, uplift.

    Levels with fewer than :data:`MIN_LEVEL_UNITS` units or :data:`MIN_LEVEL_SHARE` of them are left out.
    """
    rows = []
    n = len(frame)
    for trait, cols in TRAITS.items():
        if any(c not in frame for c in cols):
            continue
        codes, labels = trait_levels(frame, trait)
        g = pd.DataFrame({"level": codes.to_numpy(), "u": uplift}).groupby("level", sort=False)["u"]
        stats = g.agg(["size", "mean"])
        for level, r in stats.iterrows():
            if r["size"] < max(MIN_LEVEL_UNITS, MIN_LEVEL_SHARE * n):
                continue
            key, args = labels[level]
            rows.append((trait, level, key, args, int(r["size"]), r["size"] / n, float(r["mean"])))
    return pd.DataFrame(rows, columns=["trait", "level", "key", "args", "units", "share", "uplift"])


def drivers(traits: pd.DataFrame, top: int = 3) -> tuple[Driver, ...]:
    """The ``top`` traits whose levels differ most in mean predicted uplift (at least two levels each).

    >>> t = pd.DataFrame({"trait": ["a", "a", "b", "b"], "level": ["x", "y", "u", "v"],
    ...                   "uplift": [1.0, 5.0, 2.0, 2.5]})
    >>> [(d.trait, d.high_level, d.spread) for d in drivers(t, 1)]
    [('a', 'y', 4.0)]
    """
    out = []
    for trait, g in traits.groupby("trait", sort=False):
        if len(g) < 2:
            continue
        hi, lo = g.loc[g["uplift"].idxmax()], g.loc[g["uplift"].idxmin()]
        out.append(Driver(str(trait), str(hi["level"]), float(hi["uplift"]), str(lo["level"]), float(lo["uplift"])))
    return tuple(sorted(out, key=lambda d: -d.spread)[:top])


# ----------------------------------------------------------------------------- the page
def _check(outcome: str, top_share: float, method: str, holdout_share: float, n_folds: int,
           max_train_units: int | None = None, max_holdout_units: int | None = None) -> None:
    from ..errors import ParameterError
    from ..targeting.learners import METHODS

    if outcome not in OUTCOMES:
        raise ParameterError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "dr" and int(n_folds) < 3:
        raise ParameterError("the DR-learner cross-fits its own pseudo-outcomes inside the training folds: "
                             f"n_folds must be at least 3 (got {n_folds})")
    for name, cap in (("max_train_units", max_train_units), ("max_holdout_units", max_holdout_units)):
        if cap is not None and int(cap) < 100:
            raise ParameterError(f"{name} must be at least 100 (or None: no cap), got {cap!r}")
    for name, v in (("top_share", top_share), ("holdout_share", holdout_share)):
        if not 0 < v < 1:
            raise ParameterError(f"{name} must lie strictly between 0 and 1, got {v!r}")


def _enough(t: np.ndarray, hold: np.ndarray, learn: np.ndarray, groups: pd.Series, clustered: bool) -> bool:
    """Enough clusters per arm to learn from (clustered designs) and enough hold-out units per arm to evaluate."""
    if clustered and min(groups[t == a].nunique() for a in (0, 1)) < MIN_CLUSTERS_PER_ARM:
        return False
    held = groups[hold] if clustered else pd.Series(np.flatnonzero(hold))
    th = t[hold]
    return min(int(held[th == a].nunique()) if clustered else int((th == a).sum()) for a in (0, 1)) \
        >= (2 if clustered else MIN_HOLDOUT_PER_ARM) and min(int((t[learn] == a).sum()) for a in (0, 1)) > 0


def default_experiment(wb: Any) -> str:
    """The latest customer-randomised experiment with two arms (a task test).

    What the report targets when no experiment is named; the global holdout (arms ``reached`` /
    ``holdout``) is not one.

    >>> import workbench
    >>> exps = pd.DataFrame({"experiment_id": ["H", "A", "B"], "unit": ["customer", "customer", "store"],
    ...                      "start_at": pd.to_datetime(["2025-01-01", "2025-03-01", "2025-04-01"])})
    >>> asg = pd.DataFrame({"experiment_id": ["H", "H", "A", "A", "B", "B"], "unit_id": ["1", "2", "1", "2", "S", "T"],
    ...                     "variant": ["reached", "holdout", "control", "treatment", "control", "treatment"]})
    >>> default_experiment(workbench.open({"experiments": exps, "assignments": asg}))
    'A'
    """
    from ..errors import DataContractError

    wb.require("experiments", "assignments")
    found = wb.query("""
        SELECT e.experiment_id FROM experiments e
        JOIN (SELECT experiment_id, COUNT(DISTINCT variant) AS arms,
                     MAX(CASE WHEN variant IN ('reached', 'holdout') THEN 1 ELSE 0 END) AS holdout_arms
              FROM assignments GROUP BY experiment_id) a ON a.experiment_id = e.experiment_id
        WHERE e.unit = 'customer' AND a.arms = 2 AND a.holdout_arms = 0
        ORDER BY e.start_at DESC, e.experiment_id LIMIT 1""")
    if found.empty:
        raise DataContractError("experiments", "experiment_id", "no customer-randomised experiment with two arms "
                                "to learn whom to target from")
    return str(found["experiment_id"].iloc[0])


def targeting_page(wb: Any, experiment_id: str | None = None, outcome: str = "gmv", top_share: float = 0.3,
                   method: str = "dr", window_days: int = 14, pre_days: int = 28, holdout_share: float = 0.3,
                   n_folds: int = 5, at: Any = None, n_boot: int = 500, level: float = 0.95, threads: int | None = 1,
                   estimator: Any = None, max_train_units: int | None = MAX_TRAIN_UNITS,
                   max_holdout_units: int | None = MAX_HOLDOUT_UNITS, with_model: bool = True) -> TargetingPage:
    """Everything the targeting report states for ``experiment_id`` (see the module docstring).

    Parameters
    ----------
    wb : Workbench
    experiment_id : str, optional
        A randomised task experiment (two arms: control and one treatment); default (None or
        empty) :func:`default_experiment`.
    outcome : {'gmv', 'orders'}
        The outcome over ``window_days`` from each unit's exposure.
    top_share : float, default 0.3
        The share of customers the next task would go to.
    method : {'dr', 't', 'x'}
        The meta-learner.
    holdout_share : float, default 0.3
        Units (clusters) held out from learning, on which every evaluated number is computed.
    n_folds : int, default 5
        Cross-fitting folds of the learner.
    at : date-like, optional
        The day the audience is for (customers with an open contact then); default the workbench's as-of.
    n_boot, level
        Bootstrap replicates and confidence level of the evaluation.
    threads : int or None, default 1
        OpenMP threads of the tree learners (None: the library's default). Many small fits gain
        little from threads and contend for cores on a shared machine.
    estimator : scikit-learn regressor, optional
        The outcome learner (default :func:`workbench.targeting.learners.default_regressor`).
    max_train_units : int or None, default :data:`MAX_TRAIN_UNITS`
        The model learns on at most this many of the units outside the hold-out, a salted-hash
        sample of customers (:func:`~workbench.targeting.learners.train_sample`; None: all).
        The units left out enter no statement; every evaluated number still comes from the
        whole hold-out.
    max_holdout_units : int or None, default :data:`MAX_HOLDOUT_UNITS`
        Every evaluated number is checked on at most this many of the held-out units, a salted-hash
        sample of customers (None: all); the page states the sample when it binds.
    with_model : bool, default True
        False: the page's statements without the fitted model (``model`` is None), kept beside
        a current derived layer (:func:`~workbench.engine.memo.memoised`, frames of the
        statements only, no customer ids), so the report's other language reads them instead of
        learning again. They are the same numbers either way; a custom ``estimator`` is never kept.
    """
    from .._as_of import require_as_of
    from ..engine.memo import memoised

    _check(outcome, top_share, method, holdout_share, n_folds, max_train_units, max_holdout_units)
    experiment_id = experiment_id or default_experiment(wb)
    when = require_as_of(wb, at, "at")
    args = dict(outcome=outcome, top_share=float(top_share), method=method, window_days=int(window_days),
                pre_days=int(pre_days), holdout_share=float(holdout_share), n_folds=int(n_folds), n_boot=int(n_boot),
                level=float(level), max_train_units=None if max_train_units is None else int(max_train_units),
                max_holdout_units=None if max_holdout_units is None else int(max_holdout_units))
    compute = lambda: _page(wb, experiment_id, when, threads=threads, estimator=estimator, **args)  # noqa: E731
    if with_model:
        return compute()
    if estimator is not None:   # an estimator cannot be part of a memo's key
        return page_from_frames(page_frames(compute()))
    done: dict[str, pd.DataFrame] = {}

    def frames() -> dict[str, pd.DataFrame]:
        if not done:   # one computation for every memo that is missing
            done.update(page_frames(compute()))
        return done

    params = (experiment_id, when, *args.values())
    return page_from_frames({name: memoised(wb, f"targeting.{name}", params, lambda name=name: frames()[name])
                             for name in MEMO_FRAMES})


def _page(wb: Any, experiment_id: str, when: pd.Timestamp, outcome: str, top_share: float, method: str,
          window_days: int, pre_days: int, holdout_share: float, n_folds: int, n_boot: int, level: float,
          threads: int | None, estimator: Any, max_train_units: int | None,
          max_holdout_units: int | None) -> TargetingPage:
    """The page computed (see :func:`targeting_page`)."""
    from ..errors import TooFewUnitsError
    from ..experiments.frame import experiment_info
    from ..targeting.audience import TargetingModel
    from ..targeting.frame import TARGETING_CATEGORICAL, TARGETING_NUMERIC, experiment_units, unit_features
    from ..targeting.learners import CHECK_SALT, fit_uplift, holdout_mask, thread_limit, train_sample

    info = experiment_info(wb, experiment_id)
    control = "control" if "control" in info.variants else sorted(info.variants)[0]   # as the experiment page
    units = experiment_units(wb, experiment_id, window_days, pre_days, control=control)
    clustered = info.unit != "customer"
    every = (units["cluster_id"] if clustered else units["unit_id"]).astype(str).reset_index(drop=True)
    ids = units["unit_id"].astype(str)
    hold = holdout_mask(every, holdout_share)
    learn = ~hold   # the units the model learns on: a hash sample of the customers outside the hold-out when capped
    learn[learn] = train_sample(ids[learn], max_train_units)
    check = hold.copy()   # the hold-out units every number is checked on: a hash sample of them when capped
    check[hold] = train_sample(ids[hold], max_holdout_units, salt=CHECK_SALT)
    base = dict(experiment_id=experiment_id, name=info.name or experiment_id, unit=info.unit, outcome=outcome,
                method=method, top_share=float(top_share), window_days=int(window_days), n_units=len(units),
                n_clusters=int(every.nunique()) if clustered else None, n_holdout=int(hold.sum()), as_of=when,
                holdout_share=float(holdout_share), n_folds=int(n_folds), n_boot=int(n_boot),
                n_train=int(learn.sum()), n_train_pool=int((~hold).sum()), max_train_units=max_train_units,
                n_checked=int(check.sum()), max_holdout_units=max_holdout_units)
    if not _enough(units["treated"].to_numpy(), check, learn, every, clustered):
        return TargetingPage(status="too_few", **base)
    # only the units learned on and checked on are used (features, statements): every unit when nothing is capped
    used = learn | check
    frame = unit_features(wb, units[used], info.start_at)
    groups = every[used].reset_index(drop=True)
    learn, hold = learn[used], check[used]
    x, lay = TargetingModel.layout(frame, TARGETING_NUMERIC, TARGETING_CATEGORICAL)
    xa = x.to_numpy(float)
    t, y, e = frame["treated"].to_numpy(int), frame[outcome].to_numpy(float), frame["propensity"].to_numpy(float)
    with thread_limit(threads):
        try:
            fit = fit_uplift(xa[learn], t[learn], y[learn], method, estimator, unit_ids=groups[learn].to_numpy(),
                             n_folds=n_folds, propensity=e[learn])
        except TooFewUnitsError:   # a fold without units, or without one arm
            return TargetingPage(status="too_few", **base)
        model = TargetingModel(fit, **lay, outcome=outcome, window_days=int(window_days))
        score_h = fit.predict(xa[hold])
        mu0_h, mu1_h = fit.predict_outcomes(xa[hold])
    start = info.start_at
    period = (start, start + pd.Timedelta(days=int(window_days)))
    clusters = groups.to_numpy() if clustered else None
    ev = _evaluate(page_base=base, score=score_h, t=t[hold], y=y[hold], mu=(mu0_h, mu1_h), e=e[hold],
                   clusters=None if clusters is None else clusters[hold], period=period, n_boot=n_boot, level=level)
    # the statements below are over the units used: the sample the model learned on and the hold-out (sample)
    mu0, mu1, uplift = np.empty(len(y)), np.empty(len(y)), np.empty(len(y))
    mu0[learn], mu1[learn], mu0[hold], mu1[hold] = fit.mu0, fit.mu1, mu0_h, mu1_h
    uplift[learn], uplift[hold] = fit.scores, score_h
    unit = OUTCOMES[outcome]
    where = "whole experiment" if used.all() else "the units the model learned on and the hold-out" + (
        " sample" if base["n_checked"] < base["n_holdout"] else "")
    average = _stated(dr_effects(t, y, mu0, mu1, e), clusters, unit,
                      f"average effect of the task on {OUTCOME_DEFINITIONS[outcome]} per customer over the window, "
                      f"{where} (doubly robust, outcome models out of fold)", *period, level=level)
    traits = _named_traits(wb, trait_table(frame, uplift))
    status = "target" if (ev["qini"].ci_low > 0 and ev["gain_vs_random"].ci_low > 0
                          and ev["top_effect"].value > 0) else "nothing"
    page = dict(base, status=status, average_effect=average,
                average_verdict=effect_verdict(average.ci_low, average.ci_high), traits=traits,
                drivers=drivers(traits), model=model, **ev)
    return TargetingPage(**page, **_audience(wb, model, when, top_share, ev, status, outcome, threads))


def _evaluate(page_base: dict, score: np.ndarray, t: np.ndarray, y: np.ndarray, mu: tuple[np.ndarray, np.ndarray],
              e: np.ndarray, clusters: np.ndarray | None, period: tuple[pd.Timestamp, pd.Timestamp], n_boot: int,
              level: float) -> dict[str, Any]:
    """The hold-out statements: Qini, uplift@k, policy values, incremental outcomes, the curve."""
    from ..targeting.evaluation import evaluate_uplift, policy_values, qini_curve

    k = page_base["top_share"]
    unit = OUTCOMES[page_base["outcome"]]
    what = OUTCOME_DEFINITIONS[page_base["outcome"]]
    ev = evaluate_uplift(score, t, y, ks=(k,), clusters=clusters, n_boot=n_boot, seed=0, level=level)
    pv = policy_values(score, t, y, mu[0], mu[1], propensity=e, shares=(k,), clusters=clusters, level=level)
    row = ev.table.set_index("statistic")
    q, uk = row.loc["qini_coefficient"], row.loc[f"uplift_at_{k:.0%}"]
    d = dr_effects(t, y, mu[0], mu[1], e)
    pi = top_mask(score, k)
    g = pv.gains.iloc[0]
    out = {
        "qini": Stated(float(q["estimate"]), "ratio", "Qini coefficient of the predicted uplift on the hold-out "
                       "(0 random, 1 perfect)", *period, ci_low=float(q["ci_low"]), ci_high=float(q["ci_high"])),
        "uplift_at_k": Stated(float(uk["estimate"]), unit, f"difference in mean {what} between treated and control "
                              f"customers among the top {k:.0%} by predicted uplift, hold-out", *period,
                              ci_low=float(uk["ci_low"]), ci_high=float(uk["ci_high"])),
        "holdout_all": _stated(d, clusters, unit, f"incremental {what} per customer if every customer gets the task "
                               "(doubly robust, hold-out)", *period, level=level),
        "top_effect": _stated(d[pi], None if clusters is None else clusters[pi], unit,
                              f"incremental {what} per treated customer among the top {k:.0%} by predicted uplift "
                              "(doubly robust, hold-out)", *period, level=level),
        "policy_gain": _stated(pi * d, clusters, unit, f"incremental {what} per customer of treating the top {k:.0%} "
                               "and no one else: the policy's value minus treat-none's (doubly robust, hold-out)",
                               *period, level=level),
        "gain_vs_random": Stated(float(g["gain"]), unit, f"value of treating the top {k:.0%} minus treating a "
                                 f"random {k:.0%}, per customer (doubly robust, hold-out)", *period,
                                 ci_low=float(g["ci_low"]), ci_high=float(g["ci_high"])),
        "policies": pv.table[["policy", "estimator", "share", "value", "ci_low", "ci_high"]].copy(),
    }
    if out["holdout_all"].value > 0:
        out["captured"] = Stated(k * out["top_effect"].value / out["holdout_all"].value, "share",
                                 f"share of the incremental {what} of treating everyone that treating the top "
                                 f"{k:.0%} brings (hold-out point estimates)", *period)
    c = qini_curve(score, t, y)
    out["curve"] = _thin_curve(c.n, c.value, len(score))
    return out


def _named_traits(wb: Any, traits: pd.DataFrame) -> pd.DataFrame:
    """Store levels carry the store's name (not its code) in their label arguments."""
    from .names import names_of

    out = traits.copy()
    stores = out["key"] == "store"
    if stores.any():
        ids = out.loc[stores, "args"].map(lambda a: a["value"] or None)
        names = names_of(wb, ids, "store_id", "")
        out.loc[stores, "args"] = names.map(lambda n: {"value": str(n)})
    return out


def _audience(wb: Any, model: Any, when: pd.Timestamp, top_share: float, ev: dict[str, Any], status: str,
              outcome: str, threads: int | None) -> dict[str, Any]:
    """Customers open at ``when``, and (when the page recommends one) the audience, its gain and its split."""
    from ..targeting.audience import audience_by, audience_rows, open_customers
    from ..targeting.learners import thread_limit

    if status == "target":   # every open customer scored, part by part past the engine's memory
        with thread_limit(threads):
            n_open, aud = audience_rows(wb, model, when, top_share)
    else:   # only their number is stated
        n_open = open_customers(wb, when)
    day = (when, when + pd.Timedelta(days=1))
    out: dict[str, Any] = {
        "n_open": Stated(n_open, "persons", "customers with an open WeCom contact at the report's date", *day),
        "treat_all_gain": _scaled(ev["holdout_all"], n_open, TOTAL_UNITS[outcome], "expected incremental outcome "
                                  "of giving the task to every customer open now: per-customer hold-out estimate "
                                  "times the customers open"),
    }
    if status != "target":
        return out
    out["audience"] = Stated(len(aud), "persons", f"the top {top_share:.0%} of customers open now by predicted "
                             "uplift", *day)
    out["audience_gain"] = _scaled(ev["top_effect"], len(aud), TOTAL_UNITS[outcome], "expected incremental outcome "
                                   "of the recommended audience: per treated top customer (hold-out) times its size")
    out["by_store"] = audience_by(wb, aud, "store_id")
    out["by_guide"] = audience_by(wb, aud, "staff_id")
    return out


# ----------------------------------------------------------------------------- kept beside the layer
#: The frames a page is kept as (:func:`page_frames`): its scalars (one row), its Stated values (one row each) and its
#: tables. The model is not kept; the verdict and the drivers follow from the kept numbers.
MEMO_FRAMES = ("page", "stated", "curve", "policies", "traits", "by_store", "by_guide")
_STATED = ("average_effect", "holdout_all", "top_effect", "policy_gain", "gain_vs_random", "captured", "qini",
           "uplift_at_k", "n_open", "audience", "audience_gain", "treat_all_gain")
_TABLES = ("curve", "policies", "traits", "by_store", "by_guide")
_FOLLOW = ("average_verdict", "drivers", "model")
_STATED_COLUMNS = ("name", "value", "unit", "definition", "start", "end", "ci_low", "ci_high", "has_ci")


def page_frames(page: TargetingPage) -> dict[str, pd.DataFrame]:
    """The page's statements as the frames of :data:`MEMO_FRAMES` (language-independent, no customer ids).

    A table the page has not (None) is an empty frame, and the ``page`` row lists the tables it has.
    """
    import dataclasses
    import json

    fields = {f.name: getattr(page, f.name) for f in dataclasses.fields(page)}
    scalars = {k: [v] for k, v in fields.items() if k not in (*_STATED, *_TABLES, *_FOLLOW)}
    scalars["tables"] = [",".join(k for k in _TABLES if fields[k] is not None)]
    stated = [(k, float(s.value), s.unit, s.definition, s.start, s.end, s.ci_low, s.ci_high, s.ci_low is not None)
              for k in _STATED if (s := fields[k]) is not None]
    out = {"page": pd.DataFrame(scalars), "stated": pd.DataFrame(stated, columns=list(_STATED_COLUMNS))}
    for k in _TABLES:
        table = pd.DataFrame() if fields[k] is None else fields[k].reset_index(drop=True)
        if k == "traits" and "args" in table:   # label arguments (dicts) as JSON text
            table = table.assign(args=[json.dumps(a, ensure_ascii=False, sort_keys=True) for a in table["args"]])
        out[k] = table
    return out


def _scalar(v: Any) -> Any:
    """A frame cell as a plain Python value (None for a missing one)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def page_from_frames(frames: dict[str, pd.DataFrame]) -> TargetingPage:
    """The page :func:`page_frames` keeps, without its model (``model`` is None)."""
    import json

    row = {k: _scalar(v) for k, v in frames["page"].iloc[0].items()}
    tables = {k: frames[k] for k in (row.pop("tables") or "").split(",") if k}
    if "traits" in tables:
        tables["traits"] = tables["traits"].assign(args=[json.loads(a) for a in tables["traits"]["args"]])
    stated = {}
    for r in frames["stated"].to_dict("records"):
        ci = bool(r["has_ci"])
        stated[r["name"]] = Stated(float(r["value"]), r["unit"], r["definition"], _scalar(r["start"]),
                                   _scalar(r["end"]), ci_low=float(r["ci_low"]) if ci else None,
                                   ci_high=float(r["ci_high"]) if ci else None)
    avg = stated.get("average_effect")
    return TargetingPage(**row, **stated, **tables, drivers=drivers(tables["traits"]) if "traits" in tables else (),
                         average_verdict=None if avg is None else effect_verdict(avg.ci_low, avg.ci_high))


def level_label(page: TargetingPage, trait: str, level: str, lang: str) -> str:
    """The label of one level of a trait of ``page`` in ``lang``."""
    row = page.traits[(page.traits["trait"] == trait) & (page.traits["level"] == level)].iloc[0]
    return level_text(row["key"], row["args"], lang)
