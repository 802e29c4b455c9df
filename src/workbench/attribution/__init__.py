"""Attribution and the private-domain value model.

* :mod:`~workbench.attribution.buckets` — every order in one value bucket (direct /
  indirect / not attributed), Belle's 7-day rule, holdout incrementality;
* :mod:`~workbench.attribution.channels` — channel-code ROI;
* :mod:`~workbench.attribution.journeys` — journeys built in the engine;
* multi-touch attribution on path strings or journey frames:
  :func:`heuristic_attribution` (first, last, linear, time decay, position based),
  :func:`markov_attribution` (exact removal effects, orders 1–3; :func:`markov_model` adds the
  chain's conversion probability and size as a typed :class:`MarkovAttribution`) and
  :func:`shapley_attribution` (exact over all coalitions, optionally ordered);
  :func:`parse_paths`, :func:`parse_journeys` and :func:`paths_from_journeys` read the inputs.
"""
from .heuristics import heuristic_attribution
from .markov import MarkovAttribution, markov_attribution, markov_model
from .paths import PathData, parse_journeys, parse_paths, paths_from_journeys
from .shapley import shapley_attribution

__all__ = [
    "heuristic_attribution",
    "markov_attribution",
    "markov_model",
    "MarkovAttribution",
    "shapley_attribution",
    "parse_paths",
    "parse_journeys",
    "paths_from_journeys",
    "PathData",
]
