"""Attribution and the private-domain value model.

* :mod:`~workbench.attribution.buckets` — every order in one value bucket (direct /
  indirect / not attributed), Belle's 7-day rule, holdout incrementality;
* :mod:`~workbench.attribution.channels` — channel-code ROI;
* :mod:`~workbench.attribution.journeys` — journeys built in the engine;
* multi-touch attribution on journeys or path strings: :func:`heuristic_attribution`,
  :func:`markov_attribution` (exact removal effects), :func:`shapley_attribution` (exact).
"""
from .heuristics import heuristic_attribution
from .markov import markov_attribution
from .paths import PathData, parse_paths, paths_from_journeys
from .shapley import shapley_attribution

__all__ = ["heuristic_attribution", "markov_attribution", "shapley_attribution", "parse_paths", "paths_from_journeys",
           "PathData"]
