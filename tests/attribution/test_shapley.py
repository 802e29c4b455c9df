"""Exact Shapley attribution: a game solved by hand, brute-force permutations, the axioms."""
from __future__ import annotations

import itertools
from math import factorial

import numpy as np
import pandas as pd
import pytest

from workbench import ParameterError
from workbench.attribution import parse_paths, shapley_attribution
from workbench.attribution.shapley import coalition_values, popcounts, shapley_values


def brute_force_shapley(paths: pd.DataFrame, col: str = "total_conversions") -> dict[str, float]:
    """Average marginal contribution over every arrival order, with v(S) from the subset rule."""
    sets = [(frozenset(s.strip() for s in p.split(">")), w) for p, w in zip(paths["path"], paths[col])]
    players = sorted(set().union(*(s for s, _ in sets)))
    v = lambda S: sum(w for s, w in sets if s <= S)  # noqa: E731
    phi = dict.fromkeys(players, 0.0)
    for order in itertools.permutations(players):
        S: frozenset[str] = frozenset()
        for p in order:
            phi[p] += (v(S | {p}) - v(S)) / factorial(len(players))
            S = S | {p}
    return phi


def random_paths(rng: np.random.Generator, channels: list[str], n: int, max_len: int = 5) -> pd.DataFrame:
    paths = [" > ".join(rng.choice(channels, rng.integers(1, max_len + 1))) for _ in range(n)]
    conv = rng.integers(0, 6, n)
    return pd.DataFrame({"path": paths, "total_conversions": conv,
                         "total_conversion_value": conv * rng.uniform(5, 50, n), "total_null": rng.integers(0, 10, n)})


class TestByHand:
    def test_three_channel_game(self):
        # conversions by exact channel set: {a} 2, {b} 1, {a, b} 3 (two rows), {a, b, c} 6 (order irrelevant)
        # v(a)=2, v(b)=1, v(c)=0, v(ab)=6, v(ac)=2, v(bc)=1, v(abc)=12
        # marginal contributions of a over the six orders abc, acb, bac, bca, cab, cba:
        #   2, 2, v(ab)-v(b)=5, v(abc)-v(bc)=11, v(ac)-v(c)=2, 11  → 33/6 = 5.5
        # of b: v(ab)-v(a)=4, v(abc)-v(ac)=10, 1, 1, 10, v(bc)-v(c)=1 → 27/6 = 4.5
        # of c: v(abc)-v(ab)=6, v(ac)-v(a)=0, 6, 0, 0, 0 → 12/6 = 2
        p = pd.DataFrame({"path": ["a", "b", "a > b", "b > a", "c > b > a"], "total_conversions": [2, 1, 2, 1, 6],
                          "total_null": [4, 0, 1, 0, 9]})
        s = shapley_attribution(p, null_col="total_null").set_index("channel")
        assert s["total_conversions"].to_dict() == pytest.approx({"a": 5.5, "b": 4.5, "c": 2.0}, abs=1e-12)
        assert s["share"].to_dict() == pytest.approx({"a": 5.5 / 12, "b": 4.5 / 12, "c": 2 / 12}, abs=1e-12)

    def test_coalition_values_and_popcounts(self):
        masks = np.array([0b001, 0b010, 0b011, 0b111])
        v = coalition_values(masks, np.array([2.0, 1.0, 3.0, 6.0]), 3)
        assert v.tolist() == [0, 2, 1, 6, 0, 2, 1, 12]
        assert popcounts(3).tolist() == [0, 1, 1, 2, 1, 2, 2, 3]
        assert shapley_values(v, 3).tolist() == pytest.approx([5.5, 4.5, 2.0], abs=1e-12)

    def test_generic_game(self):
        # a glove game: players 0, 1 hold left gloves, player 2 a right glove; a pair is worth 1
        v = np.array([0, 0, 0, 0, 0, 1, 1, 1], dtype=float)
        assert shapley_values(v, 3).tolist() == pytest.approx([1 / 6, 1 / 6, 2 / 3], abs=1e-12)


class TestAgainstPermutations:
    @pytest.mark.parametrize("seed, n_channels", [(0, 3), (1, 5), (2, 6)])
    def test_conversions_and_value(self, seed, n_channels):
        rng = np.random.default_rng(seed)
        p = random_paths(rng, [f"ch{i}" for i in range(n_channels)], 40)
        s = shapley_attribution(p, value_col="total_conversion_value").set_index("channel")
        assert s["total_conversions"].to_dict() == pytest.approx(brute_force_shapley(p), abs=1e-9)
        assert s["total_conversion_value"].to_dict() == pytest.approx(
            brute_force_shapley(p, "total_conversion_value"), abs=1e-9)


class TestAxioms:
    def test_efficiency(self, shared_datasets):
        raw = pd.read_csv(shared_datasets / "channel_paths.csv", sep=";")
        s = shapley_attribution(raw, value_col="total_conversion_value", null_col="total_null")
        assert s["total_conversions"].sum() == pytest.approx(19_785, rel=1e-12)
        assert s["total_conversion_value"].sum() == pytest.approx(raw["total_conversion_value"].sum(), rel=1e-12)
        assert (s["total_conversions"] > 0).all()

    def test_efficiency_random(self):
        rng = np.random.default_rng(3)
        p = random_paths(rng, [f"c{i:02d}" for i in range(12)], 500, max_len=8)
        s = shapley_attribution(p, value_col="total_conversion_value")
        assert s["total_conversions"].sum() == pytest.approx(p["total_conversions"].sum(), rel=1e-12)
        assert s["total_conversion_value"].sum() == pytest.approx(p["total_conversion_value"].sum(), rel=1e-12)

    def test_symmetry(self):
        # add every random path again with x and y swapped: x and y then play the same role
        rng = np.random.default_rng(4)
        p = random_paths(rng, ["x", "y", "z", "w", "v"], 200)
        swapped = p.assign(path=p["path"].str.replace("x", "#").str.replace("y", "x").str.replace("#", "y"))
        s = shapley_attribution(pd.concat([p, swapped]), value_col="total_conversion_value").set_index("channel")
        assert s.loc["x", "total_conversions"] == pytest.approx(s.loc["y", "total_conversions"], rel=1e-12)
        assert s.loc["x", "total_conversion_value"] == pytest.approx(s.loc["y", "total_conversion_value"], rel=1e-12)
        assert s.loc["x", "total_conversions"] != pytest.approx(s.loc["z", "total_conversions"], rel=1e-3)

    def test_null_player(self):
        # d only appears on journeys that never converted: it adds nothing to any coalition
        p = pd.DataFrame({"path": ["a > b", "b", "d > a", "d"], "total_conversions": [4, 2, 0, 0],
                          "total_null": [1, 3, 7, 2]})
        s = shapley_attribution(p, null_col="total_null").set_index("channel")["total_conversions"]
        assert s.to_dict() == pytest.approx({"a": 2.0, "b": 4.0, "d": 0.0}, abs=1e-12)

    def test_closed_form_sum_over_converting_sets(self, shared_datasets):
        """The subset game is a sum of unanimity games, so φ_c = Σ over converting journeys that touch c
        of conversions / number of distinct channels: an independent formula for the same numbers."""
        raw = pd.read_csv(shared_datasets / "channel_paths.csv", sep=";")
        sets = raw["path"].str.split(">").map(lambda xs: sorted({x.strip() for x in xs}))
        share = raw["total_conversions"] / sets.str.len()
        closed = pd.DataFrame({"channel": sets, "share": share}).explode("channel").groupby("channel")["share"].sum()
        s = shapley_attribution(raw).set_index("channel")["total_conversions"]
        pd.testing.assert_series_equal(s.sort_index(), closed.sort_index(), check_names=False, rtol=1e-10)


class TestOrdered:
    def test_positions_by_hand(self):
        # a > b > a (3 conv): a first, b second, each 1.5; c > a (2 conv): c first, a second, each 1; b (1)
        p = pd.DataFrame({"path": ["a > b > a", "c > a", "b"], "total_conversions": [3, 2, 1]})
        s = shapley_attribution(p, ordered=True).set_index("channel")
        assert s.columns.tolist() == ["total_conversions", "share", "position_1", "position_2"]
        assert s["position_1"].to_dict() == pytest.approx({"a": 1.5, "b": 1.0, "c": 1.0})
        assert s["position_2"].to_dict() == pytest.approx({"a": 1.0, "b": 1.5, "c": 0.0})
        unordered = shapley_attribution(p).set_index("channel")["total_conversions"]
        pd.testing.assert_series_equal(s["total_conversions"], unordered, rtol=1e-12)

    def test_rows_add_up_to_the_shapley_values(self):
        rng = np.random.default_rng(5)
        p = random_paths(rng, list("abcdefgh"), 300, max_len=7)
        ordered = shapley_attribution(p, value_col="total_conversion_value", ordered=True).set_index("channel")
        plain = shapley_attribution(p, value_col="total_conversion_value").set_index("channel")
        positions = [c for c in ordered if c.startswith("position_") and not c.endswith("_value")]
        values = [c for c in ordered if c.startswith("position_") and c.endswith("_value")]
        assert len(positions) == len(values) == 7
        assert ordered[positions].sum(axis=1).to_numpy() == pytest.approx(plain["total_conversions"].to_numpy())
        assert ordered[values].sum(axis=1).to_numpy() == pytest.approx(plain["total_conversion_value"].to_numpy())

    def test_no_channel_limit(self):
        p = pd.DataFrame({"path": [" > ".join(f"c{i:02d}" for i in range(20)), "c00"], "total_conversions": [20, 1]})
        s = shapley_attribution(p, ordered=True).set_index("channel")
        assert s["total_conversions"].sum() == pytest.approx(21.0)
        assert s.loc["c00", "total_conversions"] == pytest.approx(2.0)
        assert s.loc["c19", "position_20"] == pytest.approx(1.0)


class TestArguments:
    def test_too_many_channels(self):
        p = pd.DataFrame({"path": [" > ".join(f"c{i}" for i in range(6))], "total_conversions": [1]})
        with pytest.raises(ParameterError, match="2\\^6 coalitions"):
            shapley_attribution(p, max_channels=5)
        assert shapley_attribution(p, max_channels=6)["total_conversions"].tolist() == pytest.approx([1 / 6] * 6)

    def test_sixteen_channels_need_a_higher_limit(self):
        p = pd.DataFrame({"path": [" > ".join(f"c{i:02d}" for i in range(16))], "total_conversions": [16]})
        with pytest.raises(ParameterError, match="max_channels=15"):
            shapley_attribution(p)
        assert shapley_attribution(p, max_channels=16)["total_conversions"].tolist() == pytest.approx([1.0] * 16)

    @pytest.mark.parametrize("bad", [0, 26, 2.5, True])
    def test_bad_max_channels(self, bad):
        with pytest.raises(ParameterError, match="max_channels"):
            shapley_attribution(pd.DataFrame({"path": ["a"], "total_conversions": [1]}), max_channels=bad)

    def test_parsed_paths_accepted(self):
        data = parse_paths(pd.DataFrame({"path": ["a", "b", "a > b"], "total_conversions": [1, 1, 4]}))
        assert shapley_attribution(data)["total_conversions"].tolist() == pytest.approx([3.0, 3.0])
