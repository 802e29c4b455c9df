"""Sufficient statistics of one experiment arm (gbstats style).

Every test in :mod:`workbench.experiments` works from a handful of sums per variant, so a
ten-million-unit experiment costs one ``GROUP BY variant`` in the engine and a few
microseconds here. The statistics are frozen dataclasses:

* :class:`SampleMeanStatistic` ``(n, sum, sum_squares)`` for means;
* :class:`ProportionStatistic` ``(n, sum)`` for 0/1 metrics (``sum_squares == sum``);
* :class:`RatioStatistic` for ratio metrics (numerator and denominator per unit,
  e.g. GMV / orders = average order value), analysed with the delta method;
* :class:`RegressionAdjustedStatistic` for CUPED (post-period metric and a pre-period
  covariate).

Cluster-randomised designs (by staff or store) use the per-cluster statistics in
:mod:`workbench.experiments.cluster`.

``a + b`` adds the sums, e.g. over strata or days. Fields may also be numpy arrays of
equal shape: every property is elementwise, which vectorises simulations and many
experiments at once.

Conventions: ``variance`` is the per-unit variance (sample variance, ``n - 1`` in the
denominator; for ratios the delta-method per-unit variance), ``mean_variance`` the
variance of the estimated mean, ``variance / n``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..errors import DataContractError, ParameterError

ArrayLike = Any  # float or numpy array, elementwise


def _values(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise DataContractError(name, None, f"expected a one-dimensional array of values, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise DataContractError(name, None, "values must be finite (NaN or infinite values found)",
                                n_bad=int(bad.sum()))
    return arr


def _add(a: Any, b: Any) -> Any:
    """Field-wise sum of two statistics of the same class."""
    if type(a) is not type(b):
        return NotImplemented
    return type(a)(**{f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(a)})


def _sample_variance(n: ArrayLike, total: ArrayLike, squares: ArrayLike) -> ArrayLike:
    """Unbiased variance from sums; 0 where a single unit makes it undefined."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (np.asarray(squares, dtype=float) - np.asarray(total, dtype=float) ** 2 / n) / (n - 1)
    # Sums of squares computed in floating point can leave -1e-16 where the truth is 0.
    return _scalar(np.where(n > 1, np.maximum(v, 0.0), 0.0))


# (sum, sum of squares, count) field triples: Σx² ≥ (Σx)² / n for any real values (Cauchy–Schwarz).
_SQUARE_FIELDS = (("sum", "sum_squares", "n"), ("m_sum", "m_sum_squares", "n"), ("d_sum", "d_sum_squares", "n"),
                  ("post_sum", "post_sum_squares", "n"), ("pre_sum", "pre_sum_squares", "n"),
                  ("sum", "cluster_sum_squares", "n_clusters"), ("m_sum", "m_cluster_sum_squares", "n_clusters"),
                  ("d_sum", "d_cluster_sum_squares", "n_clusters"))

# Relative slack for floating-point round-off in sums of squares computed elsewhere (SQL engines).
SQUARES_RTOL = 1e-9


def impossible_sums_of_squares(stat: Any) -> list[str]:
    """The sum-of-squares fields of ``stat`` smaller than ``sum² / n`` (beyond round-off).

    No real values have ``Σx² < (Σx)² / n``; such statistics come from a broken export, and
    clamping the negative variance to 0 would report a confident result. A relative slack of
    ``SQUARES_RTOL × sum² / n`` absorbs floating-point round-off. Elementwise fields are
    flagged when any element is impossible.

    Examples
    --------
    >>> impossible_sums_of_squares(SampleMeanStatistic(10, 100.0, 50.0))
    ['sum_squares']
    >>> impossible_sums_of_squares(SampleMeanStatistic(10, 100.0, 1000.0))
    []
    """
    names = {f.name for f in fields(stat)}
    bad = []
    for total, squares, count in _SQUARE_FIELDS:
        if not {total, squares, count} <= names:
            continue
        n = np.asarray(getattr(stat, count), dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            floor = np.where(n > 0, np.asarray(getattr(stat, total), dtype=float) ** 2 / n, 0.0)
        if np.any(np.asarray(getattr(stat, squares), dtype=float) < floor * (1.0 - SQUARES_RTOL)):
            bad.append(squares)
    return bad


def check_arms(control: Any, treatment: Any) -> None:
    """Raise :class:`ParameterError` when either arm's sums of squares are impossible."""
    for arm, stat in (("control", control), ("treatment", treatment)):
        bad = impossible_sums_of_squares(stat)
        if bad:
            raise ParameterError(f"{arm} arm: {', '.join(bad)} is smaller than sum² / n, which no real values "
                                 "give (a negative variance); check how the statistics were computed")


def _sample_covariance(n: ArrayLike, sum_a: ArrayLike, sum_b: ArrayLike, products: ArrayLike) -> ArrayLike:
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (np.asarray(products, dtype=float) - np.asarray(sum_a, dtype=float) * np.asarray(sum_b, dtype=float) / n) \
            / (n - 1)
    return _scalar(np.where(n > 1, c, 0.0))


def _scalar(x: Any) -> Any:
    """Return a Python float for 0-d results so scalar use stays scalar."""
    arr = np.asarray(x)
    return float(arr) if arr.ndim == 0 else arr


@dataclass(frozen=True)
class SampleMeanStatistic:
    """Count, sum and sum of squares of a per-unit metric in one arm.

    Examples
    --------
    >>> s = SampleMeanStatistic.from_values([1.0, 2.0, 3.0, 6.0])
    >>> s.mean, s.variance
    (3.0, 4.666666666666667)
    >>> (s + s).n
    8
    """

    n: ArrayLike
    sum: ArrayLike
    sum_squares: ArrayLike

    @classmethod
    def from_values(cls, values: Any) -> SampleMeanStatistic:
        """Reduce per-unit values to ``(n, sum, sum_squares)``."""
        x = _values(values, "values")
        return cls(int(x.size), float(x.sum()), float(np.dot(x, x)))

    @property
    def mean(self) -> ArrayLike:
        """Sample mean."""
        return _scalar(np.asarray(self.sum, dtype=float) / np.asarray(self.n, dtype=float))

    @property
    def variance(self) -> ArrayLike:
        """Sample variance (``n - 1`` denominator)."""
        return _sample_variance(self.n, self.sum, self.sum_squares)

    @property
    def mean_variance(self) -> ArrayLike:
        """Variance of the mean."""
        return _scalar(np.asarray(self.variance) / np.asarray(self.n, dtype=float))

    @property
    def std(self) -> ArrayLike:
        """Sample standard deviation."""
        return _scalar(np.sqrt(self.variance))

    def __add__(self, other: SampleMeanStatistic) -> SampleMeanStatistic:
        return _add(self, other)


@dataclass(frozen=True)
class ProportionStatistic:
    """Number of units and number of successes of a 0/1 metric in one arm.

    ``variance`` is ``p (1 - p)`` (the binomial variance, as in the classic two-proportion
    z-test), not the ``n - 1`` sample variance.

    Examples
    --------
    >>> p = ProportionStatistic.from_values([0, 1, 1, 0, 0])
    >>> p.mean, round(p.variance, 4)
    (0.4, 0.24)
    """

    n: ArrayLike
    sum: ArrayLike

    @classmethod
    def from_values(cls, values: Any) -> ProportionStatistic:
        """Build from 0/1 values (anything else is a :class:`DataContractError`)."""
        x = _values(values, "values")
        bad = (x != 0) & (x != 1)
        if bad.any():
            raise DataContractError("values", None, "a proportion metric must be 0/1", n_bad=int(bad.sum()))
        return cls(int(x.size), float(x.sum()))

    @property
    def sum_squares(self) -> ArrayLike:
        """Sum of squares, equal to the sum for 0/1 values."""
        return self.sum

    @property
    def mean(self) -> ArrayLike:
        """Share of ones."""
        return _scalar(np.asarray(self.sum, dtype=float) / np.asarray(self.n, dtype=float))

    @property
    def variance(self) -> ArrayLike:
        """Bernoulli variance ``p (1 - p)``."""
        p = np.asarray(self.mean)
        return _scalar(p * (1.0 - p))

    @property
    def mean_variance(self) -> ArrayLike:
        """Variance of the share."""
        return _scalar(np.asarray(self.variance) / np.asarray(self.n, dtype=float))

    def __add__(self, other: ProportionStatistic) -> ProportionStatistic:
        return _add(self, other)


@dataclass(frozen=True)
class RatioStatistic:
    """Sums of a numerator ``m`` and a denominator ``d`` per unit (ratio metric ``Σm / Σd``).

    The estimate is a ratio of means; its variance follows from the delta method,
    ``Var(m̄/d̄) ≈ (σ²_m/d̄² − 2 m̄ σ_md/d̄³ + m̄² σ²_d/d̄⁴) / n``.

    Examples
    --------
    >>> r = RatioStatistic.from_values([100.0, 50.0, 0.0], [2, 1, 0])   # GMV and orders per customer
    >>> r.mean    # average order value
    50.0
    """

    n: ArrayLike
    m_sum: ArrayLike
    m_sum_squares: ArrayLike
    d_sum: ArrayLike
    d_sum_squares: ArrayLike
    m_d_sum_of_products: ArrayLike

    @classmethod
    def from_values(cls, numerator: Any, denominator: Any) -> RatioStatistic:
        """Build from per-unit numerator and denominator values of equal length."""
        m = _values(numerator, "numerator")
        d = _values(denominator, "denominator")
        if m.size != d.size:
            raise DataContractError("values", None, f"numerator ({m.size}) and denominator ({d.size}) lengths differ")
        return cls(int(m.size), float(m.sum()), float(np.dot(m, m)), float(d.sum()), float(np.dot(d, d)),
                   float(np.dot(m, d)))

    @property
    def numerator(self) -> SampleMeanStatistic:
        """The numerator as a sample-mean statistic."""
        return SampleMeanStatistic(self.n, self.m_sum, self.m_sum_squares)

    @property
    def denominator(self) -> SampleMeanStatistic:
        """The denominator as a sample-mean statistic."""
        return SampleMeanStatistic(self.n, self.d_sum, self.d_sum_squares)

    @property
    def covariance(self) -> ArrayLike:
        """Sample covariance of numerator and denominator."""
        return _sample_covariance(self.n, self.m_sum, self.d_sum, self.m_d_sum_of_products)

    @property
    def mean(self) -> ArrayLike:
        """Ratio of the numerator and denominator sums."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return _scalar(np.asarray(self.m_sum, dtype=float) / np.asarray(self.d_sum, dtype=float))

    @property
    def variance(self) -> ArrayLike:
        """Per-unit delta-method variance (``n`` times the variance of the ratio)."""
        m_bar = np.asarray(self.numerator.mean)
        d_bar = np.asarray(self.denominator.mean)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = (np.asarray(self.numerator.variance) / d_bar ** 2
                 - 2.0 * m_bar * np.asarray(self.covariance) / d_bar ** 3
                 + m_bar ** 2 * np.asarray(self.denominator.variance) / d_bar ** 4)
        return _scalar(np.maximum(v, 0.0))

    @property
    def mean_variance(self) -> ArrayLike:
        """Variance of the ratio (delta method), per-unit variance over ``n``."""
        return _scalar(np.asarray(self.variance) / np.asarray(self.n, dtype=float))

    def __add__(self, other: RatioStatistic) -> RatioStatistic:
        return _add(self, other)


@dataclass(frozen=True)
class RegressionAdjustedStatistic:
    """Sums of a post-period metric ``y`` and its pre-period covariate ``x`` (CUPED).

    The adjusted estimate of a difference is ``(ȳ_t − ȳ_c) − θ (x̄_t − x̄_c)`` with
    ``θ = Cov(y, x) / Var(x)`` pooled across the arms compared (see :func:`pooled_theta`);
    each arm's adjusted mean has variance ``(σ²_y + θ² σ²_x − 2 θ σ_xy) / n``.

    Examples
    --------
    >>> s = RegressionAdjustedStatistic.from_values(post=[3.0, 5.0, 4.0], pre=[1.0, 3.0, 2.0])
    >>> s.mean, s.covariance
    (4.0, 1.0)
    """

    n: ArrayLike
    post_sum: ArrayLike
    post_sum_squares: ArrayLike
    pre_sum: ArrayLike
    pre_sum_squares: ArrayLike
    post_pre_sum_of_products: ArrayLike

    @classmethod
    def from_values(cls, post: Any, pre: Any) -> RegressionAdjustedStatistic:
        """Build from per-unit post-period and pre-period values of equal length."""
        y = _values(post, "post")
        x = _values(pre, "pre")
        if y.size != x.size:
            raise DataContractError("values", None, f"post ({y.size}) and pre ({x.size}) lengths differ")
        return cls(int(y.size), float(y.sum()), float(np.dot(y, y)), float(x.sum()), float(np.dot(x, x)),
                   float(np.dot(y, x)))

    @property
    def post(self) -> SampleMeanStatistic:
        """The post-period metric as a sample-mean statistic."""
        return SampleMeanStatistic(self.n, self.post_sum, self.post_sum_squares)

    @property
    def pre(self) -> SampleMeanStatistic:
        """The pre-period covariate as a sample-mean statistic."""
        return SampleMeanStatistic(self.n, self.pre_sum, self.pre_sum_squares)

    @property
    def mean(self) -> ArrayLike:
        """Unadjusted post-period mean (what the arm actually did)."""
        return self.post.mean

    @property
    def variance(self) -> ArrayLike:
        """Unadjusted per-unit variance of the post-period metric."""
        return self.post.variance

    @property
    def covariance(self) -> ArrayLike:
        """Sample covariance of post and pre values."""
        return _sample_covariance(self.n, self.post_sum, self.pre_sum, self.post_pre_sum_of_products)

    def adjusted_variance(self, theta: ArrayLike) -> ArrayLike:
        """Per-unit variance of ``y − θ x``."""
        t = np.asarray(theta, dtype=float)
        v = (np.asarray(self.post.variance) + t ** 2 * np.asarray(self.pre.variance)
             - 2.0 * t * np.asarray(self.covariance))
        return _scalar(np.maximum(v, 0.0))

    def adjusted_mean(self, theta: ArrayLike, pre_mean: ArrayLike) -> ArrayLike:
        """``ȳ − θ (x̄ − pre_mean)``: the post mean moved to a common pre-period mean."""
        return _scalar(np.asarray(self.post.mean) - np.asarray(theta) * (np.asarray(self.pre.mean)
                                                                        - np.asarray(pre_mean)))

    def __add__(self, other: RegressionAdjustedStatistic) -> RegressionAdjustedStatistic:
        return _add(self, other)


def pooled_theta(*stats: RegressionAdjustedStatistic) -> ArrayLike:
    """CUPED coefficient ``Cov(y, x) / Var(x)`` on the arms' combined sums.

    Pooling across arms (rather than one θ per arm) keeps the adjustment identical for
    control and treatment, so it removes pre-period imbalance without absorbing any of the
    treatment effect (gbstats does the same). Returns 0 where the covariate is constant.
    """
    total = stats[0]
    for s in stats[1:]:
        total = total + s
    var_x = np.asarray(total.pre.variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(var_x > 0, np.asarray(total.covariance) / var_x, 0.0)
    return _scalar(theta)


Statistic = SampleMeanStatistic | ProportionStatistic | RatioStatistic | RegressionAdjustedStatistic
