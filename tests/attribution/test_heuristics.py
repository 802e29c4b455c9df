"""Rule-based attribution: ChannelAttribution's heuristic_models outputs, hand cases, totals."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import ParameterError
from workbench.attribution import heuristic_attribution, parse_journeys

# ChannelAttribution 2.2.5 (PyPI), heuristic_models(Data, "path", "total_conversions",
# var_value="total_conversion_value") on channel_paths.csv, rounded to 6 decimals; produced in a
# throw-away venv by benchmarks/reference/make_channelattribution_reference.py.
CA_FIRST = {"eta": 3164.0, "iota": 4606.0, "alpha": 6308.0, "beta": 2831.0, "theta": 1606.0, "lambda": 902.0,
            "kappa": 74.0, "zeta": 27.0, "epsilon": 99.0, "gamma": 165.0, "delta": 1.0, "mi": 2.0}
CA_LAST = {"eta": 4167.0, "iota": 3355.0, "alpha": 8447.0, "beta": 989.0, "theta": 653.0, "lambda": 1207.0,
           "kappa": 230.0, "zeta": 107.0, "epsilon": 531.0, "gamma": 92.0, "delta": 5.0, "mi": 2.0}
CA_LINEAR = {"eta": 3539.951157, "iota": 3857.096221, "alpha": 7574.718594, "beta": 2083.500145,
             "theta": 1022.801394, "lambda": 1035.257572, "kappa": 137.964078, "zeta": 136.55154,
             "epsilon": 272.170438, "gamma": 121.041639, "delta": 1.725, "mi": 2.222222}
CA_FIRST_VALUE = {"eta": 11909.476213, "iota": 19597.261277, "alpha": 19121.272356, "beta": 12235.591744,
                  "theta": 6652.349347, "lambda": 3735.602165, "kappa": 305.74325, "zeta": 103.004,
                  "epsilon": 412.301243, "gamma": 718.977992, "delta": 6.119, "mi": 5.273}
CA_LAST_VALUE = {"eta": 16754.2038, "iota": 13487.974271, "alpha": 28414.214274, "beta": 3850.020987,
                 "theta": 2799.091988, "lambda": 5249.949985, "kappa": 1069.38425, "zeta": 453.26075,
                 "epsilon": 2202.612289, "gamma": 506.013992, "delta": 10.972, "mi": 5.273}
CA_LINEAR_VALUE = {"eta": 13783.497051, "iota": 15988.988995, "alpha": 24524.709569, "beta": 8954.266717,
                   "theta": 4295.743619, "lambda": 4430.316169, "kappa": 599.747786, "zeta": 539.528763,
                   "epsilon": 1106.270065, "gamma": 569.417358, "delta": 4.40405, "mi": 6.081444}

METHODS = ("first", "last", "linear", "time_decay", "position_based")


@pytest.fixture(scope="module")
def channel_paths(shared_datasets):
    return pd.read_csv(shared_datasets / "channel_paths.csv", sep=";")


class TestChannelAttributionReference:
    @pytest.mark.parametrize("method, conversions, value", [
        ("first", CA_FIRST, CA_FIRST_VALUE), ("last", CA_LAST, CA_LAST_VALUE),
        ("linear", CA_LINEAR, CA_LINEAR_VALUE)])
    def test_matches_heuristic_models(self, channel_paths, method, conversions, value):
        h = heuristic_attribution(channel_paths, value_col="total_conversion_value", null_col="total_null",
                                  methods=(method,)).set_index("channel")
        assert set(h.index) == set(conversions)
        for ch in conversions:  # the reference is rounded to 6 decimals
            assert h.loc[ch, method] == pytest.approx(conversions[ch], abs=1e-6), ch
            assert h.loc[ch, f"{method}_value"] == pytest.approx(value[ch], abs=1e-6), ch

    def test_every_rule_distributes_the_totals(self, channel_paths):
        h = heuristic_attribution(channel_paths, value_col="total_conversion_value", half_life=3)
        for method in METHODS:
            assert h[method].sum() == pytest.approx(19_785, rel=1e-12)
            assert h[f"{method}_value"].sum() == pytest.approx(channel_paths["total_conversion_value"].sum(),
                                                                rel=1e-12)
            assert (h[method] >= 0).all()


class TestRulesByHand:
    def test_linear_counts_repeats_each_time(self):
        p = pd.DataFrame({"path": ["a > b > a", "b"], "total_conversions": [3, 1], "v": [30.0, 5.0]})
        h = heuristic_attribution(p, value_col="v", methods=("first", "last", "linear")).set_index("channel")
        assert h["linear"].to_dict() == pytest.approx({"a": 2.0, "b": 2.0})
        assert h["linear_value"].to_dict() == pytest.approx({"a": 20.0, "b": 15.0})
        assert h["first"].to_dict() == {"a": 3.0, "b": 1.0} and h["last"].to_dict() == {"a": 3.0, "b": 1.0}

    def test_position_based(self):
        p = pd.DataFrame({"path": ["a > b > c > d", "e > f", "g", "h > i > j"], "total_conversions": [10, 10, 10, 5]})
        h = heuristic_attribution(p, methods=("position_based",)).set_index("channel")["position_based"]
        assert h.to_dict() == pytest.approx({"a": 4.0, "b": 1.0, "c": 1.0, "d": 4.0,  # 40 / 10 / 10 / 40
                                             "e": 5.0, "f": 5.0,  # no middle: 40 : 40 of the whole
                                             "g": 10.0,
                                             "h": 2.0, "i": 1.0, "j": 2.0})

    def test_position_based_custom_weights(self):
        p = pd.DataFrame({"path": ["a > b > c", "d > e"], "total_conversions": [10, 8]})
        h = heuristic_attribution(p, methods=("position_based",), position_weights=(0.3, 0.1, 0.6))
        assert h.set_index("channel")["position_based"].to_dict() == pytest.approx(
            {"a": 3.0, "b": 1.0, "c": 6.0, "d": 8 * 0.3 / 0.9, "e": 8 * 0.6 / 0.9})

    def test_time_decay_in_steps(self):
        p = pd.DataFrame({"path": ["a > b > c > d"], "total_conversions": [15]})
        one = heuristic_attribution(p, methods=("time_decay",), half_life=1).set_index("channel")["time_decay"]
        assert one.tolist() == pytest.approx([1.0, 2.0, 4.0, 8.0])  # 15 · (1/8, 1/4, 1/2, 1) / (15/8)
        default = heuristic_attribution(p, methods=("time_decay",))["time_decay"].to_numpy()
        w = 2.0 ** (-np.array([3, 2, 1, 0]) / 2)  # default half-life: 2 steps
        assert default == pytest.approx(15 * w / w.sum())

    def test_time_decay_with_touch_times(self):
        j = pd.DataFrame({"journey_id": [1, 1, 1, 2], "channel": ["chat", "moments", "task_push", "chat"],
                          "touch_time": pd.to_datetime(["2025-01-01", "2025-01-08", "2025-01-15", "2025-01-03"]),
                          "converted": [1, 1, 1, 0], "value": [70.0, 70.0, 70.0, 0.0]})
        h = heuristic_attribution(j, value_col="value", methods=("time_decay", "linear")).set_index("channel")
        w = np.array([0.25, 0.5, 1.0])  # 14, 7 and 0 days before the last touch, half-life 7 days
        assert h["time_decay"].tolist() == pytest.approx((w / w.sum()).tolist())
        assert h["time_decay_value"].tolist() == pytest.approx((70 * w / w.sum()).tolist())
        assert h["linear"].tolist() == pytest.approx([1 / 3] * 3)
        halved = heuristic_attribution(parse_journeys(j), methods=("time_decay",), half_life=14)
        w14 = np.array([0.5, 0.5**0.5, 1.0])
        assert halved["time_decay"].tolist() == pytest.approx((w14 / w14.sum()).tolist())

    def test_nulls_do_not_change_credits(self):
        p = pd.DataFrame({"path": ["a > b", "b", "c"], "total_conversions": [2, 1, 0], "total_null": [5, 0, 9]})
        with_nulls = heuristic_attribution(p, null_col="total_null")
        without = heuristic_attribution(p)
        pd.testing.assert_frame_equal(with_nulls, without)
        assert with_nulls.set_index("channel").loc["c"].eq(0).all()


class TestArguments:
    @pytest.mark.parametrize("kwargs, match", [
        ({"methods": ("first", "u_shaped")}, "unknown method"),
        ({"methods": "first"}, "sequence"),
        ({"half_life": 0}, "half_life"),
        ({"half_life": float("nan")}, "half_life"),
        ({"position_weights": (0.5, 0.5, 0.5)}, "position_weights"),
        ({"position_weights": (0.0, 1.0, 0.0)}, "position_weights"),
        ({"position_weights": (0.5, 0.5)}, "position_weights"),
    ])
    def test_bad_arguments(self, kwargs, match):
        p = pd.DataFrame({"path": ["a"], "total_conversions": [1]})
        with pytest.raises(ParameterError, match=match):
            heuristic_attribution(p, **kwargs)
