"""The audience export on the shared 4,000-customer report brand.

Masked tokens (raw ids only when asked), its columns, and counts per store and guide that add up to the audience.
"""
from __future__ import annotations

import re
import stat
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import workbench
from workbench.errors import ParameterError
from workbench.masking import TOKEN_HEX_DIGITS, mask_tokens
from workbench.targeting import TARGETING_CATEGORICAL, TARGETING_NUMERIC, fit_uplift, targeting_frame
from workbench.targeting.audience import (
    EXPORT_COLUMNS,
    TargetingModel,
    audience_by,
    default_export_path,
    export_audience,
    score_audience,
)
from workbench.targeting.frame import customer_features

KEY = "k" * 32


@pytest.fixture(scope="module")
def brand(report_brand):
    """The report brand's data folder, its workbench and the Brand."""
    folder, b = report_brand
    return folder / "data", workbench.open(folder / "data", as_of=b.truth["as_of"][:10]), b


@pytest.fixture(scope="module")
def model(brand):
    """A cheap model (T-learner over linear regressions) fitted on EXP_CUST: the export does not care which."""
    _, wb, _ = brand
    frame = targeting_frame(wb, "EXP_CUST")
    x, lay = TargetingModel.layout(frame, TARGETING_NUMERIC, TARGETING_CATEGORICAL)
    fit = fit_uplift(x, frame["treated"], frame["gmv"], "t", LinearRegression(), n_folds=2,
                     propensity=frame["propensity"])
    return TargetingModel(fit, **lay)


@pytest.fixture(scope="module")
def exported(brand, model, tmp_path_factory):
    """The masked export of the top 30% and its path."""
    _, wb, _ = brand
    path = export_audience(wb, model, tmp_path_factory.mktemp("export") / "aud.csv", top_share=0.3, key=KEY)
    return pd.read_csv(path, dtype={"staff_id": str, "store_id": str}, keep_default_na=False), path


def test_columns_and_size(brand, exported):
    """The columns of the export, and the top 30% of the customers open now."""
    _, wb, _ = brand
    out, _ = exported
    assert tuple(out.columns) == EXPORT_COLUMNS
    n_open = len(customer_features(wb))
    assert len(out) == int(n_open * 0.3) > 0


def test_customers_are_masked_tokens_never_raw_ids(brand, exported):
    """Every customer is a keyed token; no raw id is anywhere in the file."""
    _, _, b = brand
    out, path = exported
    assert out["customer_token"].map(lambda v: bool(re.fullmatch(rf"C-[0-9a-f]{{{TOKEN_HEX_DIGITS}}}", v))).all()
    raw = set(b.tables["customers"]["customer_id"])
    assert not raw & set(re.findall(r"[A-Za-z0-9]{8,}", path.read_text(encoding="utf-8")))
    assert out["customer_token"].is_unique


def test_tokens_are_the_keyed_masks_of_the_audience(brand, model, exported):
    """The tokens are the keyed masks of the audience's ids."""
    _, wb, _ = brand
    out, _ = exported
    aud = score_audience(wb, model, 0.3)
    assert set(out["customer_token"]) == set(mask_tokens(aud["customer_id"], KEY.encode()))


def test_counts_per_store_and_guide_sum_to_the_audience(brand, model, exported):
    """Per store and per guide counts add up to the audience; ranks run within each guide."""
    _, wb, _ = brand
    out, _ = exported
    aud = score_audience(wb, model, 0.3)
    by_store, by_guide = audience_by(wb, aud, "store_id"), audience_by(wb, aud, "staff_id")
    assert by_store["customers"].sum() == by_guide["customers"].sum() == len(aud) == len(out)
    per_store = out.groupby("store_id").size()
    assert per_store.sort_index().tolist() == by_store.set_index("store_id")["customers"].sort_index().tolist()
    assert by_guide["customers"].sum() == out.groupby(["store_id", "staff_id"]).size().sum()
    # ranks run 1..n within each guide, best predicted uplift first
    for _, g in out.groupby(["store_id", "staff_id"]):
        assert g["rank"].tolist() == list(range(1, len(g) + 1))
        assert (np.diff(g["predicted_uplift"].to_numpy()) <= 1e-6).all()


def test_names_not_codes_beside_the_ids(brand, exported):
    """Store and guide names come from the dimension tables."""
    _, _, b = brand
    out, _ = exported
    stores = b.tables["stores"].set_index("store_id")["store_name"]
    staff = b.tables["staff"].set_index("staff_id")["staff_name"]
    assert (out["store_name"] == out["store_id"].map(stores)).all()
    assert (out["staff_name"] == out["staff_id"].map(staff)).all()


def test_raw_ids_only_when_asked_and_private(brand, model, tmp_path):
    """masked=False writes raw ids, readable by the owner only."""
    _, wb, b = brand
    path = export_audience(wb, model, tmp_path / "ops.csv", masked=False)
    out = pd.read_csv(path)
    assert "customer_id" in out.columns and "customer_token" not in out.columns
    assert set(out["customer_id"]) <= set(b.tables["customers"]["customer_id"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_default_path_is_beside_the_data(brand, model):
    """Without a path the file goes beside the data, under a safe name."""
    data, wb, _ = brand
    path = export_audience(wb, model, data_dir=data, key=KEY)
    assert path.parent == data.resolve().parent / "exports" and path.name.startswith("targeting_model_")
    assert default_export_path(data, "EXP_O'NEIL<x>", "2026-01-01").name == "targeting_EXP_O_NEIL_x__2026-01-01.csv"
    with pytest.raises(ParameterError, match="path or the brand's data_dir"):
        export_audience(wb, model)


def test_a_page_with_nothing_to_target_exports_nothing(brand, model, tmp_path):
    """A page that recommends no audience is refused; one that does is exported."""
    _, wb, _ = brand
    with pytest.raises(ParameterError, match="nothing to target"):
        export_audience(wb, SimpleNamespace(model=model, recommends=False, experiment_id="EXP_CUST"), tmp_path / "x")
    path = export_audience(wb, SimpleNamespace(model=model, recommends=True, experiment_id="EXP_CUST"),
                           data_dir=tmp_path / "data", key=KEY)
    assert path.name.startswith("targeting_EXP_CUST_")


def test_unseen_and_missing_levels_score_as_other(model):
    """A level the model never saw is encoded as no known level."""
    row = pd.DataFrame({**{c: [1.0] for c in model.numeric}, "channel_group": ["never_seen"],
                                   "store_id": [None]})
    x = model.matrix(row)
    assert x.shape == (1, len(model.columns))
    onehot = [i for i, c in enumerate(model.columns) if "=" in c and not c.endswith("=(other)")
              and not c.endswith("=(missing)")]
    assert (x[0, onehot] == 0).all()


def test_ranking_without_ids_is_the_ranking_with_them(brand):
    """Features without customer ids (in id order) rank the same customers, ties by id (a model with many ties)."""
    from sklearn.tree import DecisionTreeRegressor

    from workbench.targeting.audience import rank_audience

    _, wb, _ = brand
    frame = targeting_frame(wb, "EXP_CUST")
    x, lay = TargetingModel.layout(frame, TARGETING_NUMERIC, TARGETING_CATEGORICAL)
    fit = fit_uplift(x, frame["treated"], frame["gmv"], "t", DecisionTreeRegressor(max_depth=2), n_folds=2,
                     propensity=frame["propensity"])
    coarse = TargetingModel(fit, **lay)
    with_ids = customer_features(wb)
    without = customer_features(wb, ids=False)
    pd.testing.assert_frame_equal(without, with_ids.drop(columns="customer_id"))
    for share in (0.3, 0.5):
        want = rank_audience(coarse, with_ids, share)
        assert want["predicted_uplift"].duplicated().sum() > len(want) / 2     # ties decide who is in
        got = rank_audience(coarse, without, share)
        pd.testing.assert_frame_equal(got, want.drop(columns="customer_id"))
        for by in ("store_id", "staff_id"):
            pd.testing.assert_frame_equal(audience_by(wb, got, by), audience_by(wb, want, by))


def test_audience_in_customer_hash_parts_is_the_audience_of_one_pass(brand):
    """Scored part by part (ties at the cut decided by id at the end): the same customers per store and guide.

    A model with many ties, so the cut falls inside a block of equal scores; mean scores agree to rounding (the
    parts add them in another order).
    """
    from sklearn.tree import DecisionTreeRegressor

    from workbench.targeting.audience import audience_rows, open_customers, rank_audience

    _, wb, _ = brand
    frame = targeting_frame(wb, "EXP_CUST")
    x, lay = TargetingModel.layout(frame, TARGETING_NUMERIC, TARGETING_CATEGORICAL)
    fit = fit_uplift(x, frame["treated"], frame["gmv"], "t", DecisionTreeRegressor(max_depth=2), n_folds=2,
                     propensity=frame["propensity"])
    coarse = TargetingModel(fit, **lay)
    feats = customer_features(wb)
    assert open_customers(wb, wb.as_of) == len(feats)
    for share in (0.3, 0.55):
        want = rank_audience(coarse, feats, share)
        cut = want["predicted_uplift"].iloc[-1]
        assert (want["predicted_uplift"] == cut).sum() < (coarse.score(feats) == np.float32(cut)).sum()   # tied cut
        for parts in (1, 3):
            n, got = audience_rows(wb, coarse, wb.as_of, share, parts=parts)
            assert n == len(feats) and len(got) == len(want)
            for by in ("store_id", "staff_id"):
                g, w = audience_by(wb, got, by), audience_by(wb, want, by)
                pd.testing.assert_frame_equal(g.drop(columns="predicted_uplift"), w.drop(columns="predicted_uplift"))
                np.testing.assert_allclose(g["predicted_uplift"], w["predicted_uplift"], rtol=1e-12)


def test_open_customer_ids_are_the_features_rows(brand):
    """The ids read for the customers tied at the cut are customer_features' rows, in its order."""
    from workbench.targeting.frame import open_customer_ids

    _, wb, _ = brand
    np.testing.assert_array_equal(open_customer_ids(wb), customer_features(wb)["customer_id"].to_numpy())
