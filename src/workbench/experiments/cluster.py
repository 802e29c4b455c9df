"""Cluster-randomised experiments: tasks randomised by staff member or store.

When whole stores are assigned to a variant, customers of one store share the guide,
the location and the local promotion, so they are not independent: a per-customer test
pretends to have far more information than it does and over-rejects. The statistics here
are built from **per-cluster sums** (one ``GROUP BY variant, cluster``) and give

* the cluster-robust variance of the arm mean, i.e. the delta method on the ratio of
  cluster totals ``Σ_g s_g / Σ_g n_g``:
  ``Var(ȳ) = G/(G−1) · Σ_g (s_g − ȳ n_g)² / N²`` (the ``G/(G−1)`` factor makes it the
  sample-variance delta method; without it, it is the CR0 sandwich of an OLS on a
  treatment dummy with cluster-robust errors);
* the intraclass correlation by the ANOVA estimator, pooled within arms, and the design
  effect ``1 + (m̄ − 1)·ICC`` with ``m̄`` the mean cluster size;
* a t reference with ``G_c + G_t − 2`` degrees of freedom, since only the number of
  clusters, not of customers, drives the precision;
* for mean and proportion metrics built from per-cluster sums, the **CR2** (Bell–McCaffrey)
  variance with **Satterthwaite** degrees of freedom (Bell & McCaffrey 2002; Pustejovsky &
  Tipton 2018, R clubSandwich ``coef_test(vcov = "CR2", test = "Satterthwaite")``). With
  stores of very different sizes the ``G/(G−1)`` correction and ``G − 2`` degrees of freedom
  over-reject (5.7–6.1% at α = 0.05 on 60 stores); CR2 holds the nominal size (4.8%).

CR2 for a difference of two arm means (an OLS of ``y`` on a treatment dummy) has a closed
form. Within arm ``k`` (``N_k`` units) the hat matrix block of cluster ``g`` is
``H_gg = J / N_k``, so ``(I − H_gg)^{-1/2}`` scales the cluster's residual sum
``r_g = s_g − ȳ_k n_g`` by ``(1 − n_g/N_k)^{-1/2}``:

``V_k = Σ_g r_g² / (1 − n_g/N_k) / N_k²``.

The Satterthwaite degrees of freedom are ``ν = 2 E[V]² / Var[V]`` under a working model for
``Var(y)`` (Bell & McCaffrey; Pustejovsky & Tipton). With ``p_g`` the vector that maps ``y`` to
cluster ``g``'s contribution, ``ν = (Σ_g p_g'Φp_g)² / Σ_g Σ_h (p_g'Φp_h)²``. Here ``Φ`` is the
random-effects working model ``I + λ J_g`` (each cluster's block of ones), ``λ = ICC/(1 − ICC)``
with the ICC estimated from the data (Imbens & Kolesár 2016, "Robust standard errors in small
samples"); with an estimated ICC ≤ 0 it is ``Φ = I``, clubSandwich's default for an OLS fit.
Per arm (``N`` units, ``w_g² = 1 / (N² (1 − n_g/N))``, ``a_g = w_g n_g``, ``S₂ = Σ n_g²``) the
Gram matrix of the ``p_g`` is ``Q = Q₀ + λ Q₁`` with
``Q₀ = diag(w_g² n_g) − a a' / N`` and
``Q₁ = diag(w_g² n_g²) − (a b' + b a') / N + S₂ a a' / N²`` (``b_g = a_g n_g``), so
``ν = (tr Q_c + tr Q_t)² / (‖Q_c‖² + ‖Q_t‖²)`` needs only a few per-arm sums: the trace and the
Frobenius products ``‖Q₀‖²``, ``⟨Q₀, Q₁⟩``, ``‖Q₁‖²``. With equal cluster sizes and ``λ = 0``
the variance is the ``G/(G−1)`` one and ``ν = G_c + G_t − 2``; the random-effects working model
gives fewer degrees of freedom when a few large clusters carry most of the variance (A/A on
three demo-sized brands' 60 stores, GMV: 5.26% with ``Φ = I``, 4.81% with the estimated ICC,
5.71% with ``G/(G−1)`` and ``G − 2``).
Both need the per-cluster sizes, so they are computed when the statistic is built from
cluster sums and are not additive over strata (a sum of statistics drops them and falls
back to ``G/(G−1)``).

Both statistics are constant-size and additive (``+`` over strata), like the per-unit
ones.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataContractError
from .moments import TestResult, result_from_moments
from .stats import ArrayLike, RatioStatistic, SampleMeanStatistic, _add, _sample_variance, _scalar, check_arms


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _cluster_arrays(n_units: Any, *arrays: Any) -> list[np.ndarray]:
    out = [_arr(n_units)] + [_arr(a) for a in arrays]
    shape = out[0].shape
    for a in out[1:]:
        if a.shape != shape:
            raise DataContractError("cluster statistics", None,
                                    f"per-cluster arrays differ in shape: {shape} vs {a.shape}")
    if np.any(out[0] <= 0):
        raise DataContractError("cluster statistics", "n", "every cluster needs at least one unit",
                                n_bad=int(np.sum(out[0] <= 0)))
    return out


def _n_clusters(n: np.ndarray, axis: int) -> Any:
    """Number of clusters along ``axis``: an int, or an array over the other axes."""
    if n.ndim == 0:
        return 1
    shape = np.sum(n, axis=axis).shape
    return int(n.shape[axis]) if shape == () else np.full(shape, float(n.shape[axis]))


@dataclass(frozen=True)
class ClusteredStatistic:
    """Sums over the clusters of one arm, for a mean or proportion metric.

    Parameters
    ----------
    n_clusters : number of clusters ``G``
    n : number of units ``N = Σ n_g``
    sum, sum_squares : unit-level ``Σ y`` and ``Σ y²``
    cluster_sum_squares : ``Σ_g s_g²`` (``s_g`` the cluster's sum of ``y``)
    cluster_n_squares : ``Σ_g n_g²``
    cluster_sum_n_products : ``Σ_g s_g n_g``
    cluster_sum_squares_over_n : ``Σ_g s_g² / n_g`` (between-cluster sum of squares)
    cr2_meat : ``Σ_g r_g² / (1 − n_g/N)`` (NaN when unknown: then no CR2)
    cr2_tr1, cr2_f00, cr2_f01, cr2_f11 : per-arm sums of the Satterthwaite degrees of freedom
        (``tr Q₁``, ``‖Q₀‖²``, ``⟨Q₀, Q₁⟩``, ``‖Q₁‖²``; see the module docstring)

    Examples
    --------
    >>> s = ClusteredStatistic.from_values([1.0, 2.0, 3.0, 5.0, 6.0, 7.0], clusters=["a", "a", "a", "b", "b", "b"])
    >>> s.n_clusters, s.mean, s.mean_cluster_size
    (2, 4.0, 3.0)
    """

    n_clusters: ArrayLike
    n: ArrayLike
    sum: ArrayLike
    sum_squares: ArrayLike
    cluster_sum_squares: ArrayLike
    cluster_n_squares: ArrayLike
    cluster_sum_n_products: ArrayLike
    cluster_sum_squares_over_n: ArrayLike
    cr2_meat: ArrayLike = float("nan")
    cr2_tr1: ArrayLike = float("nan")
    cr2_f00: ArrayLike = float("nan")
    cr2_f01: ArrayLike = float("nan")
    cr2_f11: ArrayLike = float("nan")

    @classmethod
    def from_cluster_sums(cls, n_units: Any, sums: Any, sum_squares: Any, axis: int = -1) -> ClusteredStatistic:
        """Reduce per-cluster ``(n_g, s_g, q_g)`` (the rows of a ``GROUP BY cluster``).

        ``axis`` is the cluster axis; other axes (e.g. simulated experiments) are kept.
        """
        n, s, q = _cluster_arrays(n_units, sums, sum_squares)

        def tot(x: np.ndarray) -> Any:
            return _scalar(x.sum(axis=axis))

        cr2 = _cr2_terms(n, s, axis)
        return cls(n_clusters=_n_clusters(n, axis),
                   n=tot(n), sum=tot(s), sum_squares=tot(q), cluster_sum_squares=tot(s * s),
                   cluster_n_squares=tot(n * n), cluster_sum_n_products=tot(s * n),
                   cluster_sum_squares_over_n=tot(s * s / n), **cr2)

    @classmethod
    def from_values(cls, values: Any, clusters: Any) -> ClusteredStatistic:
        """Build from per-unit values and their cluster labels."""
        frame = pd.DataFrame({"y": np.asarray(values, dtype=float), "g": np.asarray(clusters)})
        g = frame.assign(y2=frame["y"] ** 2).groupby("g", sort=False)
        agg = g.agg(n=("y", "size"), s=("y", "sum"), q=("y2", "sum"))
        out = cls.from_cluster_sums(agg["n"].to_numpy(), agg["s"].to_numpy(), agg["q"].to_numpy())
        return cls(int(out.n_clusters), int(out.n), *(float(getattr(out, f)) for f in (
            "sum", "sum_squares", "cluster_sum_squares", "cluster_n_squares", "cluster_sum_n_products",
            "cluster_sum_squares_over_n", *_CR2_FIELDS)))

    @property
    def mean(self) -> ArrayLike:
        """Mean per unit."""
        return _scalar(_arr(self.sum) / _arr(self.n))

    @property
    def has_cr2(self) -> bool:
        """Whether the CR2 terms are known (built from per-cluster sums, not summed over strata)."""
        return all(bool(np.all(np.isfinite(_arr(getattr(self, f))))) for f in _CR2_FIELDS)

    def mean_variance_cr2(self) -> ArrayLike:
        """CR2 (Bell–McCaffrey) variance of the arm mean: ``Σ_g r_g² / (1 − n_g/N) / N²``."""
        return _scalar(_arr(self.cr2_meat) / _arr(self.n) ** 2)

    @property
    def mean_cluster_size(self) -> ArrayLike:
        """Units per cluster, on average."""
        return _scalar(_arr(self.n) / _arr(self.n_clusters))

    @property
    def unit_statistic(self) -> SampleMeanStatistic:
        """The same arm seen as independent units (the naive analysis)."""
        return SampleMeanStatistic(self.n, self.sum, self.sum_squares)

    @property
    def variance(self) -> ArrayLike:
        """Per-unit sample variance (ignores clustering)."""
        return _sample_variance(self.n, self.sum, self.sum_squares)

    @property
    def residual_cluster_sum_squares(self) -> ArrayLike:
        """``Σ_g (s_g − ȳ n_g)²``: the sandwich's meat for this arm."""
        y = _arr(self.mean)
        r = _arr(self.cluster_sum_squares) - 2 * y * _arr(self.cluster_sum_n_products) + y * y * _arr(
            self.cluster_n_squares)
        return _scalar(np.maximum(r, 0.0))

    def mean_variance_robust(self, small_sample: bool = True) -> ArrayLike:
        """Cluster-robust variance of the arm mean (CR0 when ``small_sample`` is false)."""
        g = _arr(self.n_clusters)
        factor = g / (g - 1) if small_sample else 1.0
        return _scalar(_arr(self.residual_cluster_sum_squares) / _arr(self.n) ** 2 * factor)

    @property
    def mean_variance(self) -> ArrayLike:
        """Variance of the mean, cluster-robust with the small-sample correction."""
        return self.mean_variance_robust(True)

    def as_ratio_statistic(self) -> RatioStatistic:
        """Cluster totals as a ratio metric over clusters; same mean, same variance."""
        return RatioStatistic(self.n_clusters, self.sum, self.cluster_sum_squares, self.n, self.cluster_n_squares,
                              self.cluster_sum_n_products)

    def __add__(self, other: ClusteredStatistic) -> ClusteredStatistic:
        out = _add(self, other)
        if out is NotImplemented:
            return out
        # The CR2 terms depend on each cluster's share of its arm: a sum over strata cannot keep them.
        return replace(out, **{f: float("nan") for f in _CR2_FIELDS})


_CR2_FIELDS = ("cr2_meat", "cr2_tr1", "cr2_f00", "cr2_f01", "cr2_f11")


def _cr2_terms(n: np.ndarray, s: np.ndarray, axis: int) -> dict[str, Any]:
    """CR2 meat and Satterthwaite sums of one arm.

    CR2 meat ``Σ_g r_g²/(1 − n_g/N)`` and the per-arm sums of the Satterthwaite degrees of
    freedom (module docstring), from per-cluster sizes ``n`` and sums ``s`` along ``axis``.
    """
    if n.ndim == 0:
        return {f: float("nan") for f in _CR2_FIELDS}

    def tot(x: np.ndarray) -> np.ndarray:
        return x.sum(axis=axis)

    big_n = n.sum(axis=axis, keepdims=True)
    y_bar = s.sum(axis=axis, keepdims=True) / big_n
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = 1.0 - n / big_n          # 0 for a single cluster: CR2 is undefined there
        meat = tot((s - y_bar * n) ** 2 / keep)
        w2 = 1.0 / (big_n ** 2 * keep)
        d0, d1 = w2 * n, w2 * n * n     # diagonals of Q₀ and Q₁
        a = np.sqrt(w2) * n
        b = a * n
        nn = big_n.squeeze(axis=axis)
        s2 = tot(n * n)
        aa, ab, bb = tot(a * a), tot(a * b), tot(b * b)
        tr1 = tot(d1) - 2.0 * ab / nn + s2 * aa / nn ** 2
        f00 = tot(d0 * d0) - 2.0 * tot(d0 * a * a) / nn + aa ** 2 / nn ** 2
        f01 = (tot(d0 * d1) - 2.0 * tot(d0 * a * b) / nn + s2 * tot(d0 * a * a) / nn ** 2
               - tot(d1 * a * a) / nn + 2.0 * aa * ab / nn ** 2 - s2 * aa ** 2 / nn ** 3)
        f11 = (tot(d1 * d1) + (2.0 * aa * bb + 2.0 * ab ** 2) / nn ** 2 + s2 ** 2 * aa ** 2 / nn ** 4
               - 4.0 * tot(d1 * a * b) / nn + 2.0 * s2 * tot(d1 * a * a) / nn ** 2 - 4.0 * s2 * aa * ab / nn ** 3)
    return {"cr2_meat": _scalar(meat), "cr2_tr1": _scalar(tr1), "cr2_f00": _scalar(f00), "cr2_f01": _scalar(f01),
            "cr2_f11": _scalar(f11)}


def cr2_satterthwaite_dof(control: ClusteredStatistic, treatment: ClusteredStatistic,
                          icc: ArrayLike = 0.0) -> ArrayLike:
    """Satterthwaite degrees of freedom of the CR2 test.

    Satterthwaite degrees of freedom of the CR2 test of ``mean_t − mean_c`` under the working
    model ``I + λ J_g`` with ``λ = ICC/(1 − ICC)`` (``icc`` clipped at 0; 0 gives ``Φ = I``).

    Examples
    --------
    >>> c = ClusteredStatistic.from_cluster_sums([5, 5, 5], [1.0, 2.0, 4.0], [1.0, 2.0, 4.0])
    >>> t = ClusteredStatistic.from_cluster_sums([5, 5, 5], [2.0, 3.0, 2.0], [2.0, 3.0, 2.0])
    >>> round(float(cr2_satterthwaite_dof(c, t)), 9)   # equal sizes: G_c + G_t − 2
    4.0
    """
    rho = np.clip(_arr(icc), 0.0, 1.0 - 1e-12)
    lam = rho / (1.0 - rho)
    trace = 1.0 / _arr(control.n) + 1.0 / _arr(treatment.n) + lam * (_arr(control.cr2_tr1) + _arr(treatment.cr2_tr1))
    frob = sum(_arr(a.cr2_f00) + 2.0 * lam * _arr(a.cr2_f01) + lam * lam * _arr(a.cr2_f11)
               for a in (control, treatment))
    return _scalar(trace ** 2 / frob)


@dataclass(frozen=True)
class ClusteredRatioStatistic:
    """Sums over the clusters of one arm for a ratio metric ``Σm / Σd``.

    The cluster-level delta method: the same formula as :class:`RatioStatistic` with
    clusters as the independent units (``m_g``, ``d_g`` the cluster totals).
    """

    n_clusters: ArrayLike
    n: ArrayLike
    m_sum: ArrayLike
    m_cluster_sum_squares: ArrayLike
    d_sum: ArrayLike
    d_cluster_sum_squares: ArrayLike
    m_d_cluster_sum_of_products: ArrayLike

    @classmethod
    def from_cluster_sums(cls, n_units: Any, m_sums: Any, d_sums: Any, axis: int = -1) -> ClusteredRatioStatistic:
        """Build from per-cluster unit counts and numerator / denominator sums."""
        n, m, d = _cluster_arrays(n_units, m_sums, d_sums)

        def tot(x: np.ndarray) -> Any:
            return _scalar(x.sum(axis=axis))

        return cls(_n_clusters(n, axis), tot(n), tot(m), tot(m * m), tot(d), tot(d * d), tot(m * d))

    @classmethod
    def from_values(cls, numerator: Any, denominator: Any, clusters: Any) -> ClusteredRatioStatistic:
        """Build from per-unit numerator, denominator and cluster label."""
        frame = pd.DataFrame({"m": np.asarray(numerator, dtype=float), "d": np.asarray(denominator, dtype=float),
                              "g": np.asarray(clusters)})
        agg = frame.groupby("g", sort=False).agg(n=("m", "size"), m=("m", "sum"), d=("d", "sum"))
        out = cls.from_cluster_sums(agg["n"].to_numpy(), agg["m"].to_numpy(), agg["d"].to_numpy())
        return cls(int(out.n_clusters), int(out.n), *(float(getattr(out, f)) for f in (
            "m_sum", "m_cluster_sum_squares", "d_sum", "d_cluster_sum_squares", "m_d_cluster_sum_of_products")))

    def as_ratio_statistic(self) -> RatioStatistic:
        """Cluster totals as a ratio metric over clusters; same mean, same variance."""
        return RatioStatistic(self.n_clusters, self.m_sum, self.m_cluster_sum_squares, self.d_sum,
                              self.d_cluster_sum_squares, self.m_d_cluster_sum_of_products)

    @property
    def mean(self) -> ArrayLike:
        """Ratio of the numerator and denominator totals."""
        return self.as_ratio_statistic().mean

    @property
    def mean_cluster_size(self) -> ArrayLike:
        """Units per cluster, on average."""
        return _scalar(_arr(self.n) / _arr(self.n_clusters))

    def mean_variance_robust(self, small_sample: bool = True) -> ArrayLike:
        """Cluster-robust variance of the mean, with or without the ``G / (G - 1)`` small-sample factor."""
        g = _arr(self.n_clusters)
        v = _arr(self.as_ratio_statistic().mean_variance)
        return _scalar(v if small_sample else v * (g - 1) / g)

    @property
    def mean_variance(self) -> ArrayLike:
        """Variance of the mean, cluster-robust with the small-sample correction."""
        return self.mean_variance_robust(True)

    def __add__(self, other: ClusteredRatioStatistic) -> ClusteredRatioStatistic:
        return _add(self, other)


def icc_anova(*arms: ClusteredStatistic) -> ArrayLike:
    """Intraclass correlation, one-way ANOVA estimator pooled within arms.

    ``ICC = (MSB − MSW) / (MSB + (n₀ − 1) MSW)`` with between- and within-cluster mean
    squares computed around each arm's own mean (so a treatment effect does not inflate
    it) and ``n₀ = Σ_k (N_k − Σ_g n_g² / N_k) / (G − K)`` the ANOVA average cluster size.
    Can be slightly negative by sampling error when the true ICC is 0.

    Examples
    --------
    >>> a = ClusteredStatistic.from_values([1.0, 1.2, 3.0, 3.2], clusters=[1, 1, 2, 2])
    >>> round(icc_anova(a), 3)
    0.99
    """
    k = len(arms)
    ssb = sum(_arr(a.cluster_sum_squares_over_n) - _arr(a.sum) ** 2 / _arr(a.n) for a in arms)
    ssw = sum(_arr(a.sum_squares) - _arr(a.cluster_sum_squares_over_n) for a in arms)
    g = sum(_arr(a.n_clusters) for a in arms)
    n = sum(_arr(a.n) for a in arms)
    n0 = sum(_arr(a.n) - _arr(a.cluster_n_squares) / _arr(a.n) for a in arms) / (g - k)
    with np.errstate(divide="ignore", invalid="ignore"):
        msb = ssb / (g - k)
        msw = ssw / (n - g)
        icc = (msb - msw) / (msb + (n0 - 1) * msw)
    return _scalar(icc)


def design_effect(icc: ArrayLike, mean_cluster_size: ArrayLike) -> ArrayLike:
    """Kish design effect ``1 + (m̄ − 1)·ICC``: variance inflation from clustering.

    Examples
    --------
    >>> design_effect(0.05, 101)
    6.0
    """
    return _scalar(1.0 + (_arr(mean_cluster_size) - 1.0) * _arr(icc))


@dataclass(frozen=True)
class ClusterTestResult(TestResult):
    """:class:`TestResult` plus the clustering diagnostics."""

    icc: ArrayLike = float("nan")
    design_effect: ArrayLike = float("nan")
    n_clusters_control: ArrayLike = float("nan")
    n_clusters_treatment: ArrayLike = float("nan")


def cluster_test(control: ClusteredStatistic | ClusteredRatioStatistic,
                 treatment: ClusteredStatistic | ClusteredRatioStatistic, alpha: float = 0.05,
                 small_sample: bool = True) -> ClusterTestResult:
    """Difference of arm means (or ratios) with cluster-robust variances.

    With ``small_sample`` (default), mean and proportion metrics built from per-cluster
    sums use the CR2 variance with Satterthwaite degrees of freedom under the random-effects
    working model with the estimated ICC (method ``cluster_cr2``); otherwise (ratio metrics,
    statistics summed over strata) each arm's
    variance carries ``G/(G−1)`` and the reference is a t with ``G_c + G_t − 2`` degrees of
    freedom. Without ``small_sample``: the CR0 sandwich and a normal reference. ICC and
    design effect are reported for mean and proportion metrics (NaN for ratio metrics).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> store = np.repeat(np.arange(20), 50)
    >>> y = rng.normal(size=20)[store] * 0.3 + rng.normal(size=1000)
    >>> c = ClusteredStatistic.from_values(y[store < 10], store[store < 10])
    >>> t = ClusteredStatistic.from_values(y[store >= 10], store[store >= 10])
    >>> r = cluster_test(c, t)
    >>> round(float(r.dof), 6), r.method, bool(r.design_effect > 1)
    (18.0, 'cluster_cr2', True)
    """
    check_arms(control, treatment)
    g_c, g_t = _arr(control.n_clusters), _arr(treatment.n_clusters)
    cr2 = (small_sample and isinstance(control, ClusteredStatistic) and isinstance(treatment, ClusteredStatistic)
           and control.has_cr2 and treatment.has_cr2)
    if cr2:
        v_c, v_t = control.mean_variance_cr2(), treatment.mean_variance_cr2()
        dof = cr2_satterthwaite_dof(control, treatment, np.nan_to_num(_arr(icc_anova(control, treatment)), nan=0.0))
        method = "cluster_cr2"
    else:
        v_c = control.mean_variance_robust(small_sample)
        v_t = treatment.mean_variance_robust(small_sample)
        dof = g_c + g_t - 2 if small_sample else np.inf
        method = "cluster_robust" if isinstance(control, ClusteredStatistic) else "cluster_delta_ratio"
    base = result_from_moments(control.mean, v_c, treatment.mean, v_t, dof, alpha, method)
    if isinstance(control, ClusteredStatistic):
        icc = icc_anova(control, treatment)
        m_bar = (_arr(control.n) + _arr(treatment.n)) / (g_c + g_t)
        deff = design_effect(icc, m_bar)
    else:
        icc = deff = float("nan")
    fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
    return ClusterTestResult(**fields, icc=icc, design_effect=deff, n_clusters_control=_scalar(g_c),
                             n_clusters_treatment=_scalar(g_t))
