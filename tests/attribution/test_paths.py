"""Path strings and journey frames → the compact path form every attribution model reads."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench import DataContractError, ParameterError
from workbench.attribution import PathData, parse_journeys, parse_paths, paths_from_journeys

T = pd.Timestamp


def decoded(data: PathData) -> dict[str, tuple[float, float]]:
    """{path string: (conversions, nulls)} of parsed paths, for readable assertions."""
    frame = data.to_frame()
    return {p: (c, n) for p, c, n in zip(frame["path"], frame["total_conversions"], frame["total_null"])}


class TestParsePaths:
    def test_whitespace_is_trimmed_and_identical_paths_added_up(self):
        d = parse_paths(pd.DataFrame({"path": ["a>b", " a > b ", "a  >b", "c", "b > a"],
                                      "total_conversions": [1, 2, 3, 4, 5], "total_null": [1, 0, 0, 2, 0]}),
                        null_col="total_null")
        assert d.channels == ("a", "b", "c")
        assert d.n_paths == 3
        assert decoded(d) == {"a > b": (6.0, 1.0), "c": (4.0, 2.0), "b > a": (5.0, 0.0)}
        assert d.total_conversions == 15 and d.value is None and d.ages is None

    def test_compact_arrays(self):
        d = parse_paths(pd.DataFrame({"path": ["beta > alpha > beta", "gamma"], "total_conversions": [2, 1]}))
        assert d.channels == ("alpha", "beta", "gamma")  # codes follow sorted names
        assert d.tokens.tolist() == [1, 0, 1, 2] and d.offsets.tolist() == [0, 3, 4]
        assert d.lengths.tolist() == [3, 1] and d.path_index.tolist() == [0, 0, 0, 1]
        assert d.position.tolist() == [0, 1, 2, 0] and d.steps_to_end.tolist() == [2, 1, 0, 0]
        assert d.channel_masks().tolist() == [0b011, 0b100]

    @pytest.mark.parametrize("sep, text", [("|", "a | b|c"), ("->", "a -> b->c"), (",", " a,b , c ")])
    def test_other_separators(self, sep, text):
        d = parse_paths(pd.DataFrame({"path": [text], "total_conversions": [1]}), sep=sep)
        assert d.channels == ("a", "b", "c") and d.tokens.tolist() == [0, 1, 2]

    def test_channel_names_keep_inner_spaces(self):
        d = parse_paths(pd.DataFrame({"path": ["paid search > mini program"], "total_conversions": [1]}))
        assert d.channels == ("mini program", "paid search")

    def test_string_dtype_and_value(self):
        frame = pd.DataFrame({"path": pd.array(["a > b", "b"], dtype="string"), "total_conversions": [2, 1],
                              "total_conversion_value": [30.0, 5.0]})
        d = parse_paths(frame, value_col="total_conversion_value")
        assert d.value.tolist() == [30.0, 5.0] and d.total_value == 35.0

    def test_round_trip_through_the_path_format(self):
        rng = np.random.default_rng(7)
        paths = [" > ".join(rng.choice(list("abcde"), rng.integers(1, 6))) for _ in range(300)]
        frame = pd.DataFrame({"path": paths, "total_conversions": rng.integers(0, 4, 300),
                              "total_conversion_value": 0.0, "total_null": rng.integers(0, 4, 300)})
        frame["total_conversion_value"] = frame["total_conversions"] * rng.uniform(1, 9, 300)
        d = parse_paths(frame, value_col="total_conversion_value", null_col="total_null")
        again = parse_paths(d.to_frame(), value_col="total_conversion_value", null_col="total_null")
        assert decoded(again) == decoded(d)
        assert again.total_value == pytest.approx(frame["total_conversion_value"].sum())
        assert d.nulls.sum() == frame["total_null"].sum()

    def test_collapse_repeats(self):
        d = parse_paths(pd.DataFrame({"path": ["a > a > b > b > a", "a", "a > c"], "total_conversions": [1, 1, 1]}))
        c = d.collapse_repeats()
        assert set(decoded(c)) == {"a > b > a", "a", "a > c"}  # never merges the end of one path into the next
        assert c.lengths.sum() == 6 and c.conversions.tolist() == d.conversions.tolist()

    def test_channel_paths_file(self, shared_datasets):
        raw = pd.read_csv(shared_datasets / "channel_paths.csv", sep=";")
        d = parse_paths(raw, value_col="total_conversion_value", null_col="total_null")
        assert len(raw) == 10_000 and d.n_channels == 12
        assert d.total_conversions == 19_785 == raw["total_conversions"].sum()
        assert d.nulls.sum() == raw["total_null"].sum()
        assert d.total_value == pytest.approx(raw["total_conversion_value"].sum(), rel=1e-12)
        distinct = raw["path"].drop_duplicates()  # the file repeats some paths on several rows
        assert d.n_paths == len(distinct) == 5_408
        assert d.lengths.sum() == distinct.str.count(">").sum() + len(distinct)


class TestParsePathErrors:
    def test_missing_column(self):
        with pytest.raises(DataContractError, match="total_conversions.*missing"):
            parse_paths(pd.DataFrame({"path": ["a"]}))

    @pytest.mark.parametrize("bad", [-1, np.nan, "x", np.inf])
    def test_bad_counts(self, bad):
        frame = pd.DataFrame({"path": ["a", "b"], "total_conversions": [1, bad]}).astype({"total_conversions": object})
        with pytest.raises(DataContractError, match="non-negative") as err:
            parse_paths(frame)
        assert err.value.column == "total_conversions" and err.value.n_bad == 1

    @pytest.mark.parametrize("path", ["a > > b", "", "a >", None])
    def test_empty_paths_and_steps(self, path):
        with pytest.raises(DataContractError, match="path") as err:
            parse_paths(pd.DataFrame({"path": ["a", path], "total_conversions": [1, 1]}))
        assert err.value.rows is not None and len(err.value.rows) == 1

    def test_value_without_conversions(self):
        frame = pd.DataFrame({"path": ["a"], "total_conversions": [0], "v": [3.0]})
        with pytest.raises(DataContractError, match="without conversions"):
            parse_paths(frame, value_col="v")

    def test_bad_separator(self):
        with pytest.raises(ParameterError, match="sep"):
            parse_paths(pd.DataFrame({"path": ["a"], "total_conversions": [1]}), sep=" ")


def journey_frame() -> pd.DataFrame:
    return pd.DataFrame([
        ("o1", "task_push", T("2025-01-03 12:00"), 1, 50.0),
        ("o1", "chat", T("2025-01-01 12:00"), 1, 50.0),
        ("o2", "chat", T("2025-01-02 00:00"), True, 20.0),
        ("o2", "task_push", T("2025-01-02 06:00"), True, 20.0),
        ("n1", "chat", T("2025-01-01 00:00"), 0, 0.0),
        ("n2", "moments", T("2025-01-05 00:00"), 0, 0.0),
        ("n2", "chat", T("2025-01-05 00:00"), 0, 0.0),  # same time: ties go by channel name
    ], columns=["journey_id", "channel", "touch_time", "converted", "value"])


class TestJourneys:
    def test_paths_from_journeys(self):
        p = paths_from_journeys(journey_frame())
        assert p.columns.tolist() == ["path", "total_conversions", "total_conversion_value", "total_null"]
        assert p.set_index("path").to_dict("index") == {
            "chat > task_push": {"total_conversions": 2.0, "total_conversion_value": 70.0, "total_null": 0.0},
            "chat": {"total_conversions": 0.0, "total_conversion_value": 0.0, "total_null": 1.0},
            "chat > moments": {"total_conversions": 0.0, "total_conversion_value": 0.0, "total_null": 1.0},
        }

    def test_without_value_and_custom_separator(self):
        p = paths_from_journeys(journey_frame().drop(columns="value"), value_col=None, sep="|")
        assert "total_conversion_value" not in p and set(p["path"]) == {"chat|task_push", "chat", "chat|moments"}

    def test_parse_journeys_keeps_touch_ages(self):
        d = parse_journeys(journey_frame())
        assert d.n_paths == 4 and d.lengths.tolist() == [2, 2, 1, 2]  # one path per journey, not aggregated
        # journeys in order of first appearance (o1, o2, n1, n2), touches in time order
        assert [d.channels[t] for t in d.tokens] == ["chat", "task_push", "chat", "task_push", "chat", "chat",
                                                     "moments"]
        assert d.ages.tolist() == pytest.approx([2.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0])
        assert d.conversions.tolist() == [1, 1, 0, 0] and d.value.tolist() == [50.0, 20.0, 0.0, 0.0]

    def test_ages_to_an_end_column(self):
        j = journey_frame().assign(order_time=lambda f: f["journey_id"].map(
            {"o1": T("2025-01-04 12:00"), "o2": T("2025-01-02 06:00"), "n1": T("2025-01-02"), "n2": T("2025-01-06")}))
        d = parse_journeys(j, end_col="order_time")
        assert d.ages.tolist() == pytest.approx([3.0, 1.0, 0.25, 0.0, 1.0, 1.0, 1.0])

    def test_touch_after_the_end(self):
        j = journey_frame().assign(order_time=T("2025-01-02"))
        with pytest.raises(DataContractError, match="after the journey's end"):
            parse_journeys(j, end_col="order_time")

    def test_converted_must_not_vary_within_a_journey(self):
        j = journey_frame()
        j.loc[0, "converted"] = 0
        with pytest.raises(DataContractError, match="same on every touch") as err:
            paths_from_journeys(j)
        assert err.value.column == "converted" and set(err.value.rows["journey_id"]) == {"o1"}

    def test_value_must_not_vary_within_a_journey(self):
        j = journey_frame()
        j.loc[0, "value"] = 49.0
        with pytest.raises(DataContractError, match="same on every touch"):
            parse_journeys(j)

    @pytest.mark.parametrize("col, bad", [("channel", None), ("touch_time", pd.NaT), ("converted", 2)])
    def test_bad_journey_rows(self, col, bad):
        j = journey_frame().astype({col: object})
        j.loc[3, col] = bad
        with pytest.raises(DataContractError) as err:
            parse_journeys(j)
        assert err.value.column == col and err.value.table == "journeys"

    def test_missing_journey_column(self):
        with pytest.raises(DataContractError, match="touch_time"):
            paths_from_journeys(journey_frame().drop(columns="touch_time"))
