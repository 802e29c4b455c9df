"""Exact Markov removal-effect attribution: hand-solved chains, ChannelAttribution, a Monte-Carlo check."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import ParameterError
from workbench.attribution import markov_attribution, parse_paths
from workbench.attribution.markov import markov_model

TOY = pd.DataFrame({"path": ["c1 > c2 > c3", "c1", "c2 > c3"], "total_conversions": [1, 0, 0],
                    "total_null": [0, 1, 1]})

# ChannelAttribution 2.2.5 (PyPI), markov_model(Data, "path", "total_conversions",
# var_value="total_conversion_value", var_null="total_null", order=1, out_more=True, seed=0) on
# channel_paths.csv with its default simulation settings (nsim_start=1e5, conv_par=0.05), rounded to
# 6 decimals; produced in a throw-away venv by benchmarks/reference/make_channelattribution_reference.py.
CA_CONVERSIONS = {"eta": 3345.782636, "iota": 3794.607135, "alpha": 5357.33244, "beta": 2550.139204,
                  "theta": 1974.8278, "lambda": 1305.671272, "kappa": 310.096927, "zeta": 346.818932,
                  "epsilon": 624.274077, "gamma": 163.208909, "delta": 8.160445, "mi": 4.080223}
# the same model with nsim_start=1e6, conv_par=0.01 (ten times the simulations): less simulation error
CA_LONG_CONVERSIONS = {"eta": 3326.044251, "iota": 3885.000323, "alpha": 5342.46124, "beta": 2499.965116,
                       "theta": 1972.53553, "lambda": 1291.73385, "kappa": 282.460271, "zeta": 384.2823,
                       "epsilon": 627.121447, "gamma": 166.579134, "delta": 5.538437, "mi": 1.278101}
CA_LONG_VALUE = {"eta": 12760.906657, "iota": 15025.12637, "alpha": 18810.7406, "beta": 9524.84763,
                 "theta": 7488.96949, "lambda": 5250.671537, "kappa": 1188.500101, "zeta": 1495.532181,
                 "epsilon": 2476.702512, "gamma": 761.388204, "delta": 15.305407, "mi": 4.280899}

# this implementation's exact answer (order 1, repeats collapsed, nulls used), pinned against regressions
EXACT_CONVERSIONS = {"alpha": 5344.947682, "beta": 2527.352167, "delta": 4.613618311, "epsilon": 599.5706505,
                     "eta": 3340.847402, "gamma": 171.1454427, "iota": 3884.614702, "kappa": 274.363256,
                     "lambda": 1282.847223, "mi": 1.722424556, "theta": 1971.91288, "zeta": 381.0625528}
EXACT_REMOVAL_EFFECTS = {"alpha": 0.5583994895, "beta": 0.2640385357, "delta": 0.000481995758,
                         "epsilon": 0.06263858228, "eta": 0.3490263319, "gamma": 0.01787997442,
                         "iota": 0.4058350045, "kappa": 0.02866338666, "lambda": 0.1340221228,
                         "mi": 0.0001799458199, "theta": 0.2060104628, "zeta": 0.03981051782}


@pytest.fixture(scope="module")
def channel_paths(shared_datasets):
    d = pd.read_csv(shared_datasets / "channel_paths.csv", sep=";")
    assert len(d) == 10_000 and d["total_conversions"].sum() == 19_785
    return d


@pytest.fixture(scope="module")
def exact(channel_paths):
    return markov_attribution(channel_paths, value_col="total_conversion_value", null_col="total_null")


class TestHandSolvedChains:
    def test_toy_oracle(self):
        # (start)→c1 2/3, →c2 1/3; c1→c2 1/2, →null 1/2; c2→c3 1; c3→conv 1/2, →null 1/2.
        # P(conv) = (2/3·1/2 + 1/3)·1/2 = 1/3; without c1: 1/3·1/2 = 1/6 (effect 1/2); without c2 or c3: 0.
        m = markov_attribution(TOY, null_col="total_null").set_index("channel")
        np.testing.assert_allclose(m["removal_effect"], [0.5, 1.0, 1.0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(m["total_conversions"], [0.2, 0.4, 0.4], rtol=0, atol=1e-12)
        np.testing.assert_allclose(m["share"], [0.2, 0.4, 0.4], rtol=0, atol=1e-12)
        model = markov_model(TOY, null_col="total_null")
        pd.testing.assert_frame_equal(model.table, markov_attribution(TOY, null_col="total_null"))
        assert model.conversion_probability == pytest.approx(1 / 3, abs=1e-12)
        assert model.n_states == 3 and model.order == 1 and model.value_per_journey is None
        assert not model.table.attrs

    def test_toy_transition_matrix(self):
        _, tm = markov_attribution(TOY, null_col="total_null", return_transition_matrix=True)
        got = {(f, t): p for f, t, p in zip(tm["state_from"], tm["state_to"], tm["probability"])}
        assert got == pytest.approx({("(start)", "c1"): 2 / 3, ("(start)", "c2"): 1 / 3, ("c1", "c2"): 0.5,
                                     ("c1", "(null)"): 0.5, ("c2", "c3"): 1.0, ("c3", "(conversion)"): 0.5,
                                     ("c3", "(null)"): 0.5})
        assert tm.groupby("state_from")["probability"].sum().to_numpy() == pytest.approx(1.0)
        assert tm["transitions"].tolist() == [2.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0]

    def test_without_nulls_every_journey_converts(self):
        # P(conv) = 1; without a only (start)→b (1/4) converts: effect 3/4; without b nothing: effect 1
        p = pd.DataFrame({"path": ["a > b", "b"], "total_conversions": [3, 1]})
        m = markov_attribution(p).set_index("channel")
        assert m["removal_effect"].tolist() == pytest.approx([0.75, 1.0], abs=1e-12)
        assert m["total_conversions"].tolist() == pytest.approx([4 * 0.75 / 1.75, 4 / 1.75], abs=1e-12)
        assert markov_model(p).conversion_probability == pytest.approx(1.0, abs=1e-12)

    def test_value_uses_the_value_weighted_chain(self):
        # (start)→a 1/2 (worth 10), →b 1/2 (worth 30): expected value 20; without a 15, without b 5
        p = pd.DataFrame({"path": ["a", "b"], "total_conversions": [1, 1], "v": [10.0, 30.0]})
        m = markov_attribution(p, value_col="v").set_index("channel")
        assert m["removal_effect"].tolist() == pytest.approx([0.5, 0.5], abs=1e-12)
        assert m["total_conversions"].tolist() == pytest.approx([1.0, 1.0], abs=1e-12)
        assert m["removal_effect_value"].tolist() == pytest.approx([0.25, 0.75], abs=1e-12)
        assert m["total_conversion_value"].tolist() == pytest.approx([10.0, 30.0], abs=1e-12)
        assert markov_model(p, value_col="v").value_per_journey == pytest.approx(20.0)

    def test_journey_frame_input(self):
        j = pd.DataFrame({"journey_id": [1, 1, 1, 2, 3, 3], "channel": ["c1", "c2", "c3", "c1", "c2", "c3"],
                          "touch_time": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-01",
                                                        "2025-01-02", "2025-01-03"]),
                          "converted": [1, 1, 1, 0, 0, 0]})
        m = markov_attribution(j)
        assert m["total_conversions"].tolist() == pytest.approx([0.2, 0.4, 0.4], abs=1e-12)


class TestCollapseRepeats:
    def test_first_order_self_loops_do_not_change_credits(self):
        # a self-loop only delays a journey, so absorption (and every removal effect) is unchanged
        p = pd.DataFrame({"path": ["a > a > b", "b"], "total_conversions": [1, 0], "total_null": [0, 1]})
        collapsed, tm_c = markov_attribution(p, null_col="total_null", return_transition_matrix=True)
        raw, tm_r = markov_attribution(p, null_col="total_null", collapse_repeats=False,
                                       return_transition_matrix=True)
        prob = lambda tm: {(f, t): q for f, t, q in zip(tm["state_from"], tm["state_to"], tm["probability"])}  # noqa
        assert ("a", "a") not in prob(tm_c) and prob(tm_c)[("a", "b")] == 1.0
        assert prob(tm_r)[("a", "a")] == pytest.approx(0.5) and prob(tm_r)[("a", "b")] == pytest.approx(0.5)
        # P(conv) = 1/4; without a: 1/8 (effect 1/2); without b: 0 (effect 1) → credits 1/3, 2/3
        for m in (collapsed, raw):
            assert m["total_conversions"].tolist() == pytest.approx([1 / 3, 2 / 3], abs=1e-12)

    def test_second_order_repeats_erase_memory(self):
        # x > a > a > c converts, y > a > a > n does not. Collapsed, the state (x, a) remembers x and
        # leads to conversion for sure: effects x, a, c = 1, y = n = 0, credits 1/3 each. Uncollapsed,
        # both journeys pass through (a, a), which forgets where they came from: from (a, a) half go
        # to c and convert. P(conv) = 1/2, without x or y 1/4 (effect 1/2), without a or c 0, without
        # n unchanged → effects 1/2, 1/2, 1, 1, 0 over x, y, a, c, n (sum 3).
        p = pd.DataFrame({"path": ["x > a > a > c", "y > a > a > n"], "total_conversions": [1, 0],
                          "total_null": [0, 1]})
        collapsed = markov_attribution(p, null_col="total_null", order=2).set_index("channel")
        raw = markov_attribution(p, null_col="total_null", order=2, collapse_repeats=False).set_index("channel")
        assert collapsed["total_conversions"].to_dict() == pytest.approx(
            {"a": 1 / 3, "c": 1 / 3, "n": 0.0, "x": 1 / 3, "y": 0.0}, abs=1e-12)
        assert raw["removal_effect"].to_dict() == pytest.approx(
            {"a": 1.0, "c": 1.0, "n": 0.0, "x": 0.5, "y": 0.5}, abs=1e-12)
        assert raw["total_conversions"].to_dict() == pytest.approx(
            {"a": 1 / 3, "c": 1 / 3, "n": 0.0, "x": 1 / 6, "y": 1 / 6}, abs=1e-12)
        assert markov_model(p, null_col="total_null", order=2).n_states == 6
        assert markov_model(p, null_col="total_null", order=2, collapse_repeats=False).n_states == 7


class TestChannelPaths:
    def test_deterministic_and_sums_to_totals(self, channel_paths, exact):
        again = markov_attribution(channel_paths, value_col="total_conversion_value", null_col="total_null")
        pd.testing.assert_frame_equal(exact, again, check_exact=True)
        assert exact["total_conversions"].sum() == pytest.approx(19_785, rel=1e-12)
        assert exact["total_conversion_value"].sum() == pytest.approx(channel_paths["total_conversion_value"].sum(),
                                                                      rel=1e-12)
        assert exact["share"].sum() == pytest.approx(1.0, rel=1e-12)
        # the chain is built from the journeys' own flows, so it converts at the observed rate
        p = markov_model(channel_paths, null_col="total_null").conversion_probability
        assert p == pytest.approx(19_785 / (19_785 + 68_602), rel=1e-12)

    def test_pinned_exact_values(self, exact):
        m = exact.set_index("channel")
        for ch, value in EXACT_CONVERSIONS.items():
            assert m.loc[ch, "total_conversions"] == pytest.approx(value, rel=1e-9), ch
            assert m.loc[ch, "removal_effect"] == pytest.approx(EXACT_REMOVAL_EFFECTS[ch], rel=1e-9), ch

    def test_within_simulation_error_of_channelattribution(self, exact):
        credits = exact.set_index("channel")["total_conversions"]
        big = [ch for ch, ref in CA_CONVERSIONS.items() if ref > 1000]
        assert len(big) == 6
        for ch in big:
            assert abs(credits[ch] / CA_CONVERSIONS[ch] - 1) < 0.03, (ch, credits[ch], CA_CONVERSIONS[ch])
            # with ten times the simulations ChannelAttribution moves closer to the exact answer
            assert abs(credits[ch] / CA_LONG_CONVERSIONS[ch] - 1) < 0.015, ch

    def test_value_within_simulation_error_of_channelattribution(self, exact):
        value = exact.set_index("channel")["total_conversion_value"]
        for ch in (ch for ch, ref in CA_LONG_CONVERSIONS.items() if ref > 1000):
            assert abs(value[ch] / CA_LONG_VALUE[ch] - 1) < 0.03, (ch, value[ch], CA_LONG_VALUE[ch])

    def test_monte_carlo_walks_agree(self, channel_paths, exact):
        """Independent check: simulate the chain's walks; a channel's removal effect is the share of
        converting walks that pass through it, P(conversion) the share of walks that convert."""
        _, tm = markov_attribution(channel_paths, null_col="total_null", return_transition_matrix=True)
        rng = np.random.default_rng(20240611)
        converted, visited, channels = simulate_walks(tm, 200_000, rng)
        p_hat = converted.mean()
        p = markov_model(channel_paths, null_col="total_null").conversion_probability
        assert abs(p_hat - p) < 4.5 * np.sqrt(p * (1 - p) / len(converted))
        n_conv = converted.sum()
        re = exact.set_index("channel")["removal_effect"]
        for k, ch in enumerate(channels):
            share = visited[converted, k].mean()
            se = np.sqrt(max(re[ch] * (1 - re[ch]), 1e-6) / n_conv)
            assert abs(share - re[ch]) < 4.5 * se, (ch, share, re[ch])

    @pytest.mark.parametrize("order", [2, 3])
    @pytest.mark.parametrize("collapse", [True, False])
    def test_higher_orders(self, channel_paths, order, collapse):
        model = markov_model(channel_paths, value_col="total_conversion_value", null_col="total_null",
                             order=order, collapse_repeats=collapse)
        m = model.table
        assert m["total_conversions"].sum() == pytest.approx(19_785, rel=1e-12)
        assert m["total_conversion_value"].sum() == pytest.approx(channel_paths["total_conversion_value"].sum(),
                                                                  rel=1e-12)
        assert model.conversion_probability == pytest.approx(19_785 / (19_785 + 68_602), rel=1e-10)
        assert model.n_states > {2: 100, 3: 700}[order]
        assert ((m["removal_effect"] >= 0) & (m["removal_effect"] <= 1)).all()
        first = markov_attribution(channel_paths, null_col="total_null")
        assert m["channel"].tolist() == first["channel"].tolist()
        # more memory moves credit around but not wholesale: the three largest channels stay on top
        assert set(m.nlargest(3, "total_conversions")["channel"]) == {"alpha", "iota", "eta"}


class TestArguments:
    @pytest.mark.parametrize("order", [0, 4, 1.5, True])
    def test_bad_order(self, order):
        with pytest.raises(ParameterError, match="order"):
            markov_attribution(TOY, null_col="total_null", order=order)

    def test_no_conversions(self):
        with pytest.raises(ParameterError, match="no conversions"):
            markov_attribution(TOY.assign(total_conversions=0), null_col="total_null")

    def test_parsed_paths_accepted(self):
        data = parse_paths(TOY, null_col="total_null")
        assert markov_attribution(data)["total_conversions"].tolist() == pytest.approx([0.2, 0.4, 0.4])


def simulate_walks(tm: pd.DataFrame, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Walk an order-1 chain given as a transition table n times from (start), vectorised over walks.

    Returns whether each walk converted, which channels it visited, and the channel names."""
    channels = sorted(set(tm["state_from"]) - {"(start)"})
    labels = ["(start)"] + channels + ["(conversion)", "(null)"]
    index = {s: i for i, s in enumerate(labels)}
    P = np.zeros((len(labels), len(labels)))
    P[tm["state_from"].map(index), tm["state_to"].map(index)] = tm["probability"]
    cum = np.cumsum(P, axis=1)
    conv, null = len(labels) - 2, len(labels) - 1
    state = np.zeros(n, dtype=np.int64)
    visited = np.zeros((n, len(labels)), bool)
    active = np.arange(n)
    while len(active):
        u = rng.random(len(active)) * cum[state[active], -1]
        nxt = (cum[state[active]] < u[:, None]).sum(axis=1)
        state[active] = nxt
        visited[active, nxt] = True
        active = active[(nxt != conv) & (nxt != null)]
    return state == conv, visited[:, 1:conv], channels
