"""Cross-fitted meta-learners of conditional treatment effects (T-, X- and DR-learner).

Each learner turns outcome regressions (any scikit-learn regressor) into a per-unit score
``tau(x)``: the expected effect of treatment for a unit with features ``x``. Scores are
*cross-fitted*: units are split into folds by a salted hash of their id (reproducible, and
the same unit always lands in the same fold), and a unit's score comes from models trained
only on the other folds. Evaluating those scores on the same randomised experiment
(:mod:`workbench.targeting.evaluation`) is then an honest held-out evaluation.

* **T-learner** — one outcome model per arm, ``tau = mu1(x) - mu0(x)``.
* **X-learner** (Künzel et al. 2019) — imputed effects ``y - mu0(x)`` on treated and
  ``mu1(x) - y`` on control units, regressed on ``x`` per arm, combined with the propensity:
  ``tau = e * tau0(x) + (1 - e) * tau1(x)``.
* **DR-learner** (Kennedy 2023) — the doubly-robust pseudo-outcome
  ``mu1 - mu0 + T (y - mu1) / e - (1 - T) (y - mu0) / (1 - e)`` regressed on ``x``. Its
  nuisance models are themselves cross-fitted *inside* the training folds, so no model
  behind a unit's score has seen that unit, not even through a pseudo-outcome.

For cluster-randomised experiments pass the cluster id as ``unit_ids``: every unit of a
cluster then shares a fold (cross-fitting at the unit of randomisation).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError, TooFewUnitsError

METHODS = ("t", "x", "dr")
DEFAULT_SALT = "workbench-uplift"
#: Salt of the hold-out sample every number is checked on (:func:`train_sample` with it; another sample than the
#: training one's salt draws).
CHECK_SALT = DEFAULT_SALT + "-check"


def default_regressor() -> Any:
    """Gradient-boosted trees with fixed settings (deterministic: no early stopping, fixed seed)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.05, max_leaf_nodes=15,
                                         min_samples_leaf=100, early_stopping=False, random_state=0)


def thread_limit(threads: int | None) -> Any:
    """A context that limits the BLAS and OpenMP thread pools to ``threads`` (None: no limit).

    threadpoolctl reaches only the libraries loaded when the context is entered, and the tree
    learners' OpenMP runtime loads with scikit-learn's ensemble module: imported first here, or
    a process's first fits run on every core, where OpenMP's waiting threads make each small fit
    10–20 times slower on a loaded machine (1.46 s against 0.12 s for one default fit on 1,000 rows).

    Examples
    --------
    >>> with thread_limit(1):
    ...     pass
    """
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime the limit must reach)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(threads)


def fold_ids(unit_ids: Any, n_folds: int = 5, salt: str = DEFAULT_SALT) -> np.ndarray:
    """Fold of every unit: a salted hash of its id modulo ``n_folds``.

    Reproducible across runs and machines, independent of row order, and a unit (or a
    cluster, when cluster ids are passed) always gets the same fold for the same salt.

    Examples
    --------
    >>> f = fold_ids(["a", "b", "c", "a"], n_folds=3)
    >>> bool(f[0] == f[3]), bool(((f >= 0) & (f < 3)).all())
    (True, True)
    """
    if int(n_folds) < 2:
        raise ParameterError(f"n_folds must be at least 2 (got {n_folds})")
    key = hashlib.blake2b(salt.encode(), digest_size=8).hexdigest()   # pandas wants a 16-character key
    ids = pd.Series(np.asarray(unit_ids)).astype(str).to_numpy(object)
    return (pd.util.hash_array(ids, hash_key=key) % np.uint64(n_folds)).astype(np.int64)


def holdout_mask(unit_ids: Any, share: float = 0.3, salt: str = DEFAULT_SALT + "-holdout") -> np.ndarray:
    """True for the units held out from training (about ``share`` of them), by a salted hash of the id.

    Fit on ``~mask``, score the held-out units with :meth:`UpliftFit.predict` and evaluate
    there: no model behind those scores saw any evaluated unit, so the evaluation's
    confidence intervals hold. Pass cluster ids for cluster-randomised experiments.

    Examples
    --------
    >>> m = holdout_mask(np.arange(10_000), share=0.3)
    >>> round(float(m.mean()), 2)
    0.3
    """
    if not 0 < share < 1:
        raise ParameterError(f"share must lie strictly between 0 and 1 (got {share})")
    return fold_ids(unit_ids, 10_000, salt) < int(round(share * 10_000))


def train_sample(unit_ids: Any, max_units: int | None, salt: str = DEFAULT_SALT + "-train") -> np.ndarray:
    """True for the units a model learns on: all of them, or the ``max_units`` with the smallest salted hash.

    A learning curve flattens long before a large experiment's units run out, while the cost of
    the tree fits grows with them; a cap keeps the fit's cost fixed. The sample is a salted hash
    of the id (the same units for the same ids and salt, whatever the row order), so it is a
    random sample independent of treatment and outcome; pass customer ids (not cluster ids) to
    keep every cluster of a clustered design. Evaluation stays on the hold-out
    (:func:`holdout_mask`), which the sample never touches.

    Examples
    --------
    >>> m = train_sample(np.arange(10_000), 2_500)
    >>> int(m.sum()), bool((m == train_sample(np.arange(10_000)[::-1], 2_500)[::-1]).all())
    (2500, True)
    >>> bool(train_sample(["a", "b"], None).all())
    True
    """
    ids = pd.Series(np.asarray(unit_ids)).astype(str).to_numpy(object)
    keep = np.ones(len(ids), dtype=bool)
    if max_units is None or len(ids) <= int(max_units):
        return keep
    if int(max_units) < 1:
        raise ParameterError(f"max_units must be at least 1 (got {max_units})")
    key = hashlib.blake2b(salt.encode(), digest_size=8).hexdigest()
    h = pd.util.hash_array(ids, hash_key=key)
    order = np.lexsort((ids, h))             # ties of the 64-bit hash broken by id: independent of row order
    keep[:] = False
    keep[order[:int(max_units)]] = True
    return keep


@dataclass(frozen=True)
class FoldModel:
    """The fitted models of one fold; :meth:`cate` scores new rows."""

    method: str
    models: tuple[Any, ...]
    share: float   # treated share in the fold's training units (the X-learner's weight)

    def cate(self, x: np.ndarray) -> np.ndarray:
        """Conditional treatment effect of rows ``x`` (column-major rows predict fastest: :func:`columns`)."""
        if self.method == "t":
            return self.models[1].predict(x) - self.models[0].predict(x)
        if self.method == "x":
            return self.share * self.models[2].predict(x) + (1 - self.share) * self.models[3].predict(x)
        return self.models[2].predict(x)


@dataclass(frozen=True)
class UpliftFit:
    """Cross-fitted conditional treatment effects of a randomised experiment.

    Attributes
    ----------
    method : str
        ``t``, ``x`` or ``dr``.
    scores : ndarray
        Each unit's effect, from the models of its fold (trained on the other folds only).
    folds : ndarray
        Each unit's fold.
    train_index : tuple of ndarray
        Per fold, the rows whose data trained any of that fold's models.
    models : tuple of FoldModel
        Per fold, the fitted models.
    mu0, mu1 : ndarray
        Cross-fitted outcome predictions under control and treatment (for doubly-robust
        policy evaluation).
    propensity : ndarray
        Each unit's probability of treatment (the design's, not estimated).
    """

    method: str
    scores: np.ndarray
    folds: np.ndarray
    train_index: tuple[np.ndarray, ...]
    models: tuple[FoldModel, ...]
    mu0: np.ndarray
    mu1: np.ndarray
    propensity: np.ndarray

    def predict(self, x: Any, chunk_size: int = 1_000_000) -> np.ndarray:
        """Score new units: the mean of the fold models' effects, ``chunk_size`` rows at a time."""
        return score_chunks(self, _chunks(x, chunk_size))

    def predict_outcomes(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Expected outcome of new units under control and under treatment (mean of the fold models)."""
        xa = columns(x)
        mu0 = np.mean([m.models[0].predict(xa) for m in self.models], axis=0)
        mu1 = np.mean([m.models[1].predict(xa) for m in self.models], axis=0)
        return mu0, mu1


def columns(x: Any) -> np.ndarray:
    """``x`` as a column-major float array: what tree ensembles predict from fastest, with the same values.

    Each tree reads a few features of every row; with the rows' features stored column by column
    those few columns stay in cache, while row-major rows bring every row's whole feature vector
    through memory once per tree: three times the CPU of a default ensemble's prediction on
    106,000 rows of 62 features (1.29 s against 0.43 s). The predictions are the same numbers.

    >>> columns([[1, 2], [3, 4]]).flags.f_contiguous
    True
    """
    return np.asfortranarray(np.asarray(x, dtype=float))


def _chunks(x: Any, size: int) -> Iterable[np.ndarray]:
    n = len(x)
    for start in range(0, n, int(size)):
        part = x.iloc[start:start + size] if isinstance(x, pd.DataFrame) else x[start:start + size]
        yield np.asarray(part, dtype=float)


def score_chunks(fit: UpliftFit, chunks: Iterable[Any]) -> np.ndarray:
    """Score units arriving in chunks (e.g. read from the engine); memory stays that of one chunk.

    Returns float32 scores (ample precision for ranking, half the memory at ten million rows).
    """
    out = []
    for chunk in chunks:
        x = columns(chunk)
        acc = np.zeros(len(x))
        for model in fit.models:
            acc += model.cate(x)
        out.append((acc / len(fit.models)).astype(np.float32))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _check(x: np.ndarray, treatment: np.ndarray, y: np.ndarray) -> None:
    n = len(x)
    if len(treatment) != n or len(y) != n:
        raise ParameterError(f"features, treatment and outcome differ in length ({n}, {len(treatment)}, {len(y)})")
    if not np.isin(treatment, (0, 1)).all():
        raise ParameterError("treatment must be 0/1 (or boolean); map the variants first")
    if not np.isfinite(y).all():
        bad = np.flatnonzero(~np.isfinite(y))[:5].tolist()
        raise ParameterError(f"outcome has missing or infinite values (first rows {bad})")


def _propensity(treatment: np.ndarray, propensity: Any) -> np.ndarray:
    if propensity is None:
        e = np.full(len(treatment), treatment.mean())
    else:
        e = np.broadcast_to(np.asarray(propensity, dtype=float), treatment.shape).copy()
    if not ((e > 0) & (e < 1)).all():
        raise ParameterError("propensity must lie strictly between 0 and 1 (both arms need units)")
    return e


def _fit(estimator: Any, x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.base import clone

    if len(y) == 0:
        raise TooFewUnitsError("a training fold has no units in one arm; use fewer folds or more units")
    return clone(estimator).fit(x, y)


def _arm_models(estimator: Any, x: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    return _fit(estimator, x[t == 0], y[t == 0]), _fit(estimator, x[t == 1], y[t == 1])


def _pseudo_outcomes(estimator: Any, x: np.ndarray, t: np.ndarray, y: np.ndarray, e: np.ndarray,
                     folds: np.ndarray, outer: int, pair_models: dict[frozenset, tuple[Any, Any]]) -> np.ndarray:
    """Doubly-robust pseudo-outcomes of training units, nuisance cross-fitted over their own folds.

    The training units of outer fold ``outer`` without inner fold ``j`` are the units outside
    folds ``outer`` and ``j`` — the same rows, in the same order, as those of outer fold ``j``
    without inner fold ``outer`` — so the nuisance models of a pair of folds are fitted once and
    kept in ``pair_models`` (the same models, not new draws: 35 fits instead of 55 for 5 folds).
    """
    mu0, mu1 = np.zeros(len(y)), np.zeros(len(y))
    for j in np.unique(folds):
        inner = folds != j
        pair = frozenset((int(outer), int(j)))
        if pair not in pair_models:
            pair_models[pair] = _arm_models(estimator, x[inner], t[inner], y[inner])
        m0, m1 = pair_models[pair]
        rows = columns(x[~inner])
        mu0[~inner], mu1[~inner] = m0.predict(rows), m1.predict(rows)
    return mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)


def _fold_model(method: str, estimator: Any, x: np.ndarray, t: np.ndarray, y: np.ndarray, e: np.ndarray,
                folds: np.ndarray, outer: int = 0,
                pair_models: dict[frozenset, tuple[Any, Any]] | None = None) -> tuple[FoldModel, Any, Any]:
    m0, m1 = _arm_models(estimator, x, t, y)
    share = float(e.mean())
    if method == "t":
        return FoldModel("t", (m0, m1), share), m0, m1
    if method == "x":
        d1 = y[t == 1] - m0.predict(columns(x[t == 1]))      # m0 never saw treated units
        d0 = m1.predict(columns(x[t == 0])) - y[t == 0]
        tau1, tau0 = _fit(estimator, x[t == 1], d1), _fit(estimator, x[t == 0], d0)
        return FoldModel("x", (m0, m1, tau0, tau1), share), m0, m1
    phi = _pseudo_outcomes(estimator, x, t, y, e, folds, outer, {} if pair_models is None else pair_models)
    return FoldModel("dr", (m0, m1, _fit(estimator, x, phi)), share), m0, m1


def fit_uplift(x: Any, treatment: Any, y: Any, method: str = "dr", estimator: Any = None,
               unit_ids: Any = None, n_folds: int = 5, salt: str = DEFAULT_SALT,
               propensity: Any = None) -> UpliftFit:
    """Cross-fitted conditional treatment effects of a randomised experiment.

    Parameters
    ----------
    x : array-like or DataFrame
        Numeric features, one row per unit (see :func:`workbench.targeting.features.feature_matrix`).
    treatment : array-like
        1 for treated units, 0 for control.
    y : array-like
        Outcome per unit (binary or continuous).
    method : {'dr', 't', 'x'}
        The meta-learner.
    estimator : scikit-learn regressor, optional
        Cloned for every model; default :func:`default_regressor`.
    unit_ids : array-like, optional
        Ids hashed into folds; pass the cluster id for cluster-randomised experiments.
        Default: the row position.
    n_folds : int, default 5
    salt : str
        Salt of the fold hash (another salt gives another split).
    propensity : float or array-like, optional
        Probability of treatment by design; default the treated share.

    Returns
    -------
    UpliftFit

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 1)); t = rng.integers(0, 2, 2000)
    >>> y = x[:, 0] + t * (1 + x[:, 0]) + rng.normal(size=2000)
    >>> fit = fit_uplift(x, t, y, method="t", estimator=LinearRegression())
    >>> round(float(np.corrcoef(fit.scores, 1 + x[:, 0])[0, 1]), 2)
    1.0
    """
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    xa = np.asarray(x, dtype=float)
    t = np.asarray(treatment).astype(int)
    ya = np.asarray(y, dtype=float)
    _check(xa, t, ya)
    e = _propensity(t, propensity)
    estimator = default_regressor() if estimator is None else estimator
    folds = fold_ids(np.arange(len(t)) if unit_ids is None else unit_ids, n_folds, salt)
    scores, mu0, mu1 = np.zeros(len(t)), np.zeros(len(t)), np.zeros(len(t))
    models, train = [], []
    pair_models: dict[frozenset, tuple[Any, Any]] = {}  # DR nuisance models of each pair of folds, fitted once
    for k in range(int(n_folds)):
        held = folds == k
        if not held.any():
            raise TooFewUnitsError(f"fold {k} of {n_folds} is empty ({len(t)} units); use fewer folds")
        tr = np.flatnonzero(~held)
        model, m0, m1 = _fold_model(method, estimator, xa[tr], t[tr], ya[tr], e[tr], folds[tr], k, pair_models)
        rows = columns(xa[held])
        scores[held] = model.cate(rows)
        mu0[held], mu1[held] = m0.predict(rows), m1.predict(rows)
        models.append(model)
        train.append(tr)
    return UpliftFit(method, scores, folds, tuple(train), tuple(models), mu0, mu1, e)
