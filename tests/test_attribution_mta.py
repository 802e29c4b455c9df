"""Multi-touch attribution: the toy oracle, ChannelAttribution's outputs, Shapley axioms."""
from __future__ import annotations

import itertools
from math import factorial

import numpy as np
import pandas as pd
import pytest

from workbench import DataContractError, ParameterError
from workbench.attribution import (heuristic_attribution, markov_attribution, parse_paths, paths_from_journeys,
                                   shapley_attribution)

# ChannelAttribution 2.2.5 on channel_paths.csv (benchmarks/reference/make_channelattribution_reference.py)
CA_FIRST = {"eta": 3164.0, "iota": 4606.0, "alpha": 6308.0, "beta": 2831.0, "theta": 1606.0, "lambda": 902.0,
            "kappa": 74.0, "zeta": 27.0, "epsilon": 99.0, "gamma": 165.0, "delta": 1.0, "mi": 2.0}
CA_LAST = {"eta": 4167.0, "iota": 3355.0, "alpha": 8447.0, "beta": 989.0, "theta": 653.0, "lambda": 1207.0,
           "kappa": 230.0, "zeta": 107.0, "epsilon": 531.0, "gamma": 92.0, "delta": 5.0, "mi": 2.0}
CA_LINEAR = {"eta": 3539.951157, "iota": 3857.096221, "alpha": 7574.718594, "beta": 2083.500145,
             "theta": 1022.801394, "lambda": 1035.257572, "kappa": 137.964078, "zeta": 136.55154,
             "epsilon": 272.170438, "gamma": 121.041639, "delta": 1.725, "mi": 2.222222}
# its markov_model(order=1) is a simulation (seed 0); ours is exact
CA_MARKOV = {"eta": 3345.782636, "iota": 3794.607135, "alpha": 5357.33244, "beta": 2550.139204, "theta": 1974.8278,
             "lambda": 1305.671272, "kappa": 310.096927, "zeta": 346.818932, "epsilon": 624.274077,
             "gamma": 163.208909, "delta": 8.160445, "mi": 4.080223}

TOY = pd.DataFrame({"path": ["c1 > c2 > c3", "c1", "c2 > c3"], "total_conversions": [1, 0, 0], "total_null": [0, 1, 1]})


@pytest.fixture(scope="module")
def channel_paths(shared_datasets):
    d = pd.read_csv(shared_datasets / "channel_paths.csv", sep=";")
    assert len(d) == 10_000 and d["total_conversions"].sum() == 19_785
    return d


class TestMarkov:
    def test_toy_oracle(self):
        m = markov_attribution(TOY, null_col="total_null").set_index("channel")
        np.testing.assert_allclose(m["removal_effect"], [0.5, 1.0, 1.0], atol=1e-12)
        np.testing.assert_allclose(m["total_conversions"], [0.2, 0.4, 0.4], atol=1e-12)
        assert m.attrs["conversion_probability"] == pytest.approx(1 / 3, abs=1e-12)

    def test_channel_paths_exact_and_close_to_simulation(self, channel_paths):
        m = markov_attribution(channel_paths, value_col="total_conversion_value", null_col="total_null")
        again = markov_attribution(channel_paths, value_col="total_conversion_value", null_col="total_null")
        pd.testing.assert_frame_equal(m, again)  # deterministic
        assert m["total_conversions"].sum() == pytest.approx(19_785, abs=1e-6)
        assert m["total_conversion_value"].sum() == pytest.approx(channel_paths["total_conversion_value"].sum())
        credits = m.set_index("channel")["total_conversions"]
        for ch, ref in CA_MARKOV.items():
            if ref > 1000:
                assert abs(credits[ch] / ref - 1) < 0.03, (ch, credits[ch], ref)

    @pytest.mark.parametrize("order", [2, 3])
    def test_higher_orders_sum(self, channel_paths, order):
        m = markov_attribution(channel_paths, null_col="total_null", order=order)
        assert m["total_conversions"].sum() == pytest.approx(19_785, abs=1e-6)
        assert m.attrs["n_states"] > 12

    def test_collapse_repeats(self):
        p = pd.DataFrame({"path": ["a > a > b", "b"], "total_conversions": [1, 0], "total_null": [0, 1]})
        collapsed = markov_attribution(p, null_col="total_null", return_transition_matrix=True)
        raw = markov_attribution(p, null_col="total_null", collapse_repeats=False, return_transition_matrix=True)
        assert collapsed.attrs["transition_matrix"].loc["a", "a"] == 0
        assert raw.attrs["transition_matrix"].loc["a", "a"] == pytest.approx(0.5)
        assert collapsed["total_conversions"].sum() == raw["total_conversions"].sum() == 1

    def test_no_conversions(self):
        with pytest.raises(ParameterError, match="no conversions"):
            markov_attribution(TOY.assign(total_conversions=0), null_col="total_null")


class TestHeuristics:
    def test_match_channelattribution(self, channel_paths):
        h = heuristic_attribution(channel_paths, null_col="total_null").set_index("channel")
        for method, ref in (("first", CA_FIRST), ("last", CA_LAST), ("linear", CA_LINEAR)):
            for ch, value in ref.items():
                assert h.loc[ch, method] == pytest.approx(value, abs=1e-5), (method, ch)

    def test_all_methods_sum_to_totals(self, channel_paths):
        h = heuristic_attribution(channel_paths, value_col="total_conversion_value", half_life=2)
        for method in ("first", "last", "linear", "time_decay", "position_based"):
            assert h[method].sum() == pytest.approx(19_785)
            assert h[f"{method}_value"].sum() == pytest.approx(channel_paths["total_conversion_value"].sum())

    def test_position_based_and_time_decay_by_hand(self):
        p = pd.DataFrame({"path": ["a > b > c > d"], "total_conversions": [10]})
        h = heuristic_attribution(p, methods=("position_based", "time_decay"), half_life=1).set_index("channel")
        assert h["position_based"].tolist() == pytest.approx([4.0, 1.0, 1.0, 4.0])
        w = np.array([1 / 8, 1 / 4, 1 / 2, 1.0])
        assert h["time_decay"].tolist() == pytest.approx((10 * w / w.sum()).tolist())

    def test_bad_input(self):
        with pytest.raises(DataContractError, match="total_conversions"):
            heuristic_attribution(pd.DataFrame({"path": ["a"]}))
        with pytest.raises(DataContractError, match="non-negative"):
            heuristic_attribution(pd.DataFrame({"path": ["a"], "total_conversions": [-1]}))
        with pytest.raises(ParameterError, match="position_weights"):
            heuristic_attribution(TOY, methods=("position_based",), position_weights=(0.5, 0.5, 0.5))


def brute_force_shapley(paths: pd.DataFrame) -> dict[str, float]:
    sets = [(frozenset(s.strip() for s in p.split(">")), c) for p, c in zip(paths["path"], paths["total_conversions"])]
    players = sorted(set().union(*[s for s, _ in sets]))
    v = lambda S: sum(c for s, c in sets if s <= S)  # noqa: E731
    n = len(players)
    phi = {p: 0.0 for p in players}
    for order in itertools.permutations(players):
        S = frozenset()
        for p in order:
            phi[p] += (v(S | {p}) - v(S)) / factorial(n)
            S = S | {p}
    return phi


class TestShapley:
    def test_three_channels_by_hand(self):
        p = pd.DataFrame({"path": ["a", "b", "a > b", "a > b > c"], "total_conversions": [2, 1, 3, 6]})
        s = shapley_attribution(p).set_index("channel")["total_conversions"]
        # v(a)=2, v(b)=1, v(ab)=6, v(abc)=12, others add nothing without c's journeys
        assert s.to_dict() == pytest.approx({"a": 2 + 1.5 + 2, "b": 1 + 1.5 + 2, "c": 2.0})

    def test_agrees_with_permutations(self):
        rng = np.random.default_rng(0)
        ch = list("abcdef")
        paths = [" > ".join(rng.choice(ch, rng.integers(1, 5))) for _ in range(40)]
        p = pd.DataFrame({"path": paths, "total_conversions": rng.integers(0, 5, 40)})
        ours = shapley_attribution(p).set_index("channel")["total_conversions"].to_dict()
        assert ours == pytest.approx(brute_force_shapley(p))

    def test_efficiency_and_symmetry(self, channel_paths):
        s = shapley_attribution(channel_paths, value_col="total_conversion_value", null_col="total_null")
        assert s["total_conversions"].sum() == pytest.approx(19_785)
        sym = pd.DataFrame({"path": ["x > y", "y > x", "x", "y"], "total_conversions": [3, 3, 1, 1]})
        r = shapley_attribution(sym).set_index("channel")["total_conversions"]
        assert r["x"] == pytest.approx(r["y"])

    def test_too_many_channels(self):
        p = pd.DataFrame({"path": [" > ".join(f"c{i}" for i in range(6))], "total_conversions": [1]})
        with pytest.raises(ParameterError, match="coalitions"):
            shapley_attribution(p, max_channels=5)


class TestPaths:
    def test_parse_normalises_and_aggregates(self):
        d = parse_paths(pd.DataFrame({"path": ["a>b", "a > b", " c "], "total_conversions": [1, 2, 3]}))
        assert d.channels == ("a", "b", "c") and d.n_paths == 2 and d.conversions.tolist() == [3.0, 3.0]

    def test_from_journeys(self):
        j = pd.DataFrame({"journey_id": ["o1", "o1", "n1"], "channel": ["chat", "task_push", "chat"],
                          "touch_time": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-01"]),
                          "converted": [1, 1, 0], "value": [50.0, 50.0, 0.0]})
        p = paths_from_journeys(j).set_index("path")
        assert p.loc["chat > task_push", "total_conversions"] == 1 and p.loc["chat", "total_null"] == 1
        assert p.loc["chat > task_push", "total_conversion_value"] == 50.0
