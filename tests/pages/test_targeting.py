"""What the targeting report states, checked against the simulator's truth and its own arithmetic.

Two brands of 10,000 customers whose EXP_CUST task has a large lift (extra-order probability 0.03 → 0.12), so a
ranking can be learnt from a small experiment: one with the lift spread over the simulator's segments (none for
customers who never bought, most for store buyers added shortly before), one with the same lift for everyone. On
the first the page recommends an audience, its policy-value interval covers the true value of the learned policy,
and per-customer × audience = total; on the second it says there is nothing to target. The store-randomised
experiment of the shared report brand has too few stores, and the page says so.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench
from tests.pages.rendered import page_text
from tests.truth import exp_cust_true_lift
from workbench.errors import ParameterError
from workbench.pages.experiment import bounds
from workbench.pages.targeting import MIN_CLUSTERS_PER_ARM, level_label, targeting_page, top_mask
from workbench.simulate import simulate_brand
from workbench.simulate.params import SimulationParams
from workbench.targeting import holdout_mask, targeting_frame, train_sample
from workbench.targeting.audience import export_audience
from workbench.targeting.learners import fit_uplift

ROOT = Path(__file__).resolve().parents[2]
N_CUSTOMERS = 10_000
# The T-learner over three folds (6 tree fits; the report's default DR-learner over five folds makes 65): the page's
# evaluation on the hold-out does not depend on the learner, and the test renders four pages on a shared machine.
METHOD, FOLDS = "t", 3
LIFT = (0.03, 0.12)   # a task worth targeting: +0.09 extra orders per treated customer on average
SPREAD_SEED, FLAT_SEED = 21, 11


def _brand(tmp_path_factory, heterogeneity: float, seed: int) -> dict:
    out = tmp_path_factory.mktemp(f"targeting-{heterogeneity}")
    brand = simulate_brand(N_CUSTOMERS, seed=seed, out=out / "data", n_stores=12, n_staff=48,
                           params=SimulationParams(exp_cust_probs=LIFT, exp_cust_heterogeneity=heterogeneity))
    wb = workbench.open(out / "data", as_of=brand.truth["as_of"][:10])
    return {"out": out, "brand": brand, "wb": wb, "page": targeting_page(wb, "EXP_CUST", method=METHOD, n_folds=FOLDS),
            "runs": {}}


@pytest.fixture(scope="module")
def spread(tmp_path_factory) -> dict:
    """The brand whose task lift differs by segment, and its page."""
    return _brand(tmp_path_factory, 1.0, SPREAD_SEED)


@pytest.fixture(scope="module")
def flat(tmp_path_factory) -> dict:
    """The brand whose task lift is the same for every customer, and its page."""
    return _brand(tmp_path_factory, 0.0, FLAT_SEED)


def rendered(b: dict, lang: str, **params) -> str:
    """The visible text of the targeting report on brand ``b`` (rendered once per language and parameters)."""
    from workbench.reports import run_report

    params = {"method": METHOD, "n_folds": FOLDS, **params}
    key = (lang, tuple(sorted(params.items())))
    if key not in b["runs"]:
        b["runs"][key] = run_report("targeting_report", params, lang=lang, as_of=b["brand"].truth["as_of"][:10],
                                    data_dir=b["out"] / "data", out_dir=b["out"] / "reports",
                                    notebooks_dir=ROOT / "notebooks")
    return page_text(b["runs"][key])


def learned_policy(b: dict) -> tuple[np.ndarray, np.ndarray]:
    """The hold-out's true per-unit lift and the page's top-share policy on it (as the page ranks them)."""
    wb, page = b["wb"], b["page"]
    frame = targeting_frame(wb, "EXP_CUST")
    hold = holdout_mask(frame["unit_id"].astype(str), 0.3)
    score = page.model.fit.predict(page.model.matrix(frame)[hold])
    return exp_cust_true_lift(frame, b["brand"].truth)[hold], top_mask(score, page.top_share)


# ----------------------------------------------------------------------------- truth
class TestTruth:
    """The page against the simulator's per-unit truth."""

    def test_spread_lift_is_found_and_an_audience_recommended(self, spread):
        """The ranking beats random on customers it never saw; the page recommends the top 30%."""
        p = spread["page"]
        assert p.status == "target" and p.recommends
        assert p.qini.ci_low > 0 and p.gain_vs_random.ci_low > 0

    def test_policy_value_interval_covers_the_true_value(self, spread):
        """The doubly-robust incremental value of the learned top 30% (vs treating no one) covers the truth.

        So do the per-treated-customer and the treat-everyone statements.
        """
        p = spread["page"]
        lift, pi = learned_policy(spread)
        truth = {"policy_gain": (lift * pi).mean(), "top_effect": lift[pi].mean(), "holdout_all": lift.mean()}
        for name, value in truth.items():
            s = getattr(p, name)
            assert s.ci_low <= value <= s.ci_high, (name, value, s.ci_low, s.ci_high)

    def test_learned_policy_beats_random_by_a_margin(self, spread):
        """In truth, the learned top 30% gain at least half again what a random 30% gains.

        The segments' multipliers run from 0 to about 2 times the mean lift.
        """
        lift, pi = learned_policy(spread)
        assert (lift * pi).mean() > 1.5 * 0.3 * lift.mean()

    def test_traits_name_a_true_driver(self, spread):
        """The widest trait is one the simulator's lift comes from; never bought is not the level that gains most.

        The lift depends on a past purchase, acquisition in store and a young relationship.
        """
        p = spread["page"]
        assert p.drivers and p.drivers[0].trait in {"last_purchase", "frequency", "spend", "channel", "tenure"}
        for d in p.drivers:
            assert not (d.trait == "last_purchase" and d.high_level == "never")
            if d.trait == "channel":
                assert d.high_level == "offline_store"

    def test_flat_lift_means_nothing_to_target(self, flat):
        """Same lift for everyone: nothing to target, no audience, and the average effect says treat everyone.

        The ranking is not distinguishable from random; the average effect is clearly positive here.
        """
        p = flat["page"]
        assert p.status == "nothing" and not p.recommends
        assert p.qini.covers_zero or p.gain_vs_random.ci_low <= 0
        assert p.audience is None and p.by_store is None and p.audience_gain is None
        assert p.average_verdict.value == "positive"
        with pytest.raises(ParameterError, match="nothing to target"):
            export_audience(flat["wb"], p, flat["out"] / "x.csv")


# ----------------------------------------------------------------------------- arithmetic
class TestArithmetic:
    """The page's numbers against each other."""

    def test_audience_is_the_top_share_of_customers_open_now(self, spread):
        """The audience is the top 30% of customers open now; stores and guides add up to it."""
        p = spread["page"]
        assert p.audience.value == int(p.n_open.value * p.top_share)
        assert p.by_store["customers"].sum() == p.by_guide["customers"].sum() == p.audience.value

    def test_total_is_per_customer_times_audience(self, spread):
        """Totals are the per-customer estimate times the customers, interval included."""
        p = spread["page"]
        for total, per, n in ((p.audience_gain, p.top_effect, p.audience.value),
                              (p.treat_all_gain, p.holdout_all, p.n_open.value)):
            assert total.value == pytest.approx(per.value * n, rel=1e-12)
            assert total.ci_low == pytest.approx(per.ci_low * n, rel=1e-12)
            assert total.ci_high == pytest.approx(per.ci_high * n, rel=1e-12)
        # as written on the page: the rounded per-customer figure times the audience is the total within rounding
        written = float(re.sub(r"[^0-9.\-]", "", p.top_effect.text()))
        total = float(re.sub(r"[^0-9.\-]", "", p.audience_gain.text()))
        assert abs(written * p.audience.value - total) <= 0.005 * p.audience.value + 0.5

    def test_policy_gain_is_the_policy_value_minus_treat_none(self, spread):
        """The incremental statements are differences of the policy values in the table."""
        p = spread["page"]
        dr = p.policies[p.policies["estimator"] == "dr"].set_index("policy")["value"]
        assert p.policy_gain.value == pytest.approx(dr[f"top {p.top_share:.0%}"] - dr["treat none"], abs=1e-9)
        assert p.holdout_all.value == pytest.approx(dr["treat all"] - dr["treat none"], abs=1e-9)
        assert p.top_effect.value == pytest.approx(p.policy_gain.value / p.top_share, rel=0.01)


# ----------------------------------------------------------------------------- rendered pages
class TestRenderedPages:
    """The rendered pages state the function's numbers, in both languages."""

    @pytest.mark.parametrize("lang", ["en", "zh"])
    def test_page_states_the_functions_numbers(self, spread, lang):
        """Every number, interval end, store name and driver level of the page function is on the page."""
        p = spread["page"]
        text = rendered(spread, lang)
        for s in (p.top_effect, p.audience_gain, p.treat_all_gain, p.qini, p.uplift_at_k, p.policy_gain,
                  p.gain_vs_random, p.holdout_all):
            low, high = bounds(s)
            assert s.text() in text and low in text and high in text, s.definition
        assert p.audience.text() in text and p.n_open.text() in text
        for name in p.by_store["store_name"]:
            assert name in text
        for d in p.drivers:
            assert level_label(p, d.trait, d.high_level, lang) in text
            assert p.per_customer(d.high) in text and p.per_customer(d.low) in text
        recommend = "Give the next task like" if lang == "en" else "的下一次任务只发给模型排名最高的"
        assert recommend in text

    def test_page_says_where_the_result_holds(self, spread):
        """The caveat names the task type and period; the page names no customer."""
        text = rendered(spread, "en")
        assert "This holds for tasks like “New-arrival script test (customer-randomised)”" in text
        assert "no customer identifiers" in text.lower() or "names no customer" in text

    @pytest.mark.parametrize("lang", ["en", "zh"])
    def test_flat_page_says_nothing_to_target(self, flat, lang):
        """The flat brand's page says there is nothing to target and recommends no audience."""
        p = flat["page"]
        text = rendered(flat, lang)
        if lang == "en":
            assert "Nothing to target" in text and "Give it to everyone" in text
            assert "Recommended audience" not in text and "Give the next task like" not in text
        else:
            assert "没有值得精准触达的人群" in text and "建议发给所有客户" in text and "推荐人群" not in text.replace(
                "不推荐目标人群", "")
        low, high = bounds(p.average_effect)
        assert p.average_effect.text() in text and low in text and high in text

    def test_store_experiment_with_few_stores_says_so(self, render, report_brand):
        """EXP_STORE of the report brand has 12 stores: too few to learn whom to target, said plainly."""
        folder, brand = report_brand
        wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
        page = targeting_page(wb, "EXP_STORE")
        assert page.status == "too_few" and page.n_clusters == 12 and page.model is None
        text = page_text(render("targeting_report", "en", label="EXP_STORE", experiment_id="EXP_STORE"))
        assert "Nothing can be learnt from this experiment about whom to target" in text
        assert f"{MIN_CLUSTERS_PER_ARM} per group are needed" in text

    def test_notebook_has_no_sql(self):
        """The notebook only lays out."""
        source = (ROOT / "notebooks" / "targeting_report.ipynb").read_text(encoding="utf-8")
        assert "wb.query" not in source and not re.search(r"\bSELECT\b", source)


def test_bad_parameters_are_refused(report_brand):
    """Unknown outcomes and methods, and shares outside (0, 1), are parameter errors."""
    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10])
    for kwargs in ({"outcome": "aov"}, {"top_share": 1.0}, {"method": "s"}, {"holdout_share": 0}, {"n_folds": 2},
                   {"max_train_units": 10}):
        with pytest.raises(ParameterError):
            targeting_page(wb, "EXP_CUST", **kwargs)


def test_store_experiment_with_enough_stores_is_learnt_and_evaluated_by_store(tmp_path):
    """50 stores (25 per arm) are enough: stores are split, resampled and clustered.

    The whole-experiment average effect (cluster-robust) covers the true lift, and a store test without
    heterogeneity has nothing to target.
    """
    brand = simulate_brand(8_000, seed=3, out=tmp_path / "data", n_stores=50, n_staff=150)
    wb = workbench.open(tmp_path / "data", as_of=brand.truth["as_of"][:10])
    page = targeting_page(wb, "EXP_STORE", method=METHOD, n_folds=FOLDS)
    assert page.unit == "store" and page.n_clusters == 50 and page.status in ("nothing", "target")
    truth = brand.truth["experiments"]["EXP_STORE"]["true_abs_lift"]["gmv_per_unit"]
    assert page.average_effect.ci_low <= truth <= page.average_effect.ci_high
    assert page.qini.ci_low <= 0 or page.gain_vs_random.ci_low <= 0


CAP = 1_000   # a training sample smaller than the spread brand's training units


def test_training_sample_cap_is_honoured_and_stated(spread):
    """With ``max_train_units`` the fit sees exactly the hash sample of that many training customers.

    Every evaluated number still comes from the whole hold-out, and the rendered page states the sample.
    """
    wb = spread["wb"]
    page = targeting_page(wb, "EXP_CUST", method=METHOD, n_folds=FOLDS, max_train_units=CAP)
    frame = targeting_frame(wb, "EXP_CUST")
    ids = frame["unit_id"].astype(str)
    hold = holdout_mask(ids, 0.3)
    assert page.n_train_pool == (~hold).sum() > CAP and page.n_train == CAP and page.sampled
    assert page.n_holdout == hold.sum() == spread["page"].n_holdout
    fit = page.model.fit
    assert len(fit.scores) == CAP and max(len(tr) for tr in fit.train_index) < CAP
    # the units it learned on are train_sample's: their cross-fitted scores are the fit's own, in frame order
    learn = ~hold
    learn[learn] = train_sample(ids[learn], CAP)
    x = page.model.matrix(frame)
    again = targeting_page(wb, "EXP_CUST", method=METHOD, n_folds=FOLDS, max_train_units=CAP)
    np.testing.assert_array_equal(again.model.fit.scores, fit.scores)        # deterministic by the salt
    np.testing.assert_allclose(page.model.fit.predict(x[hold]),
                               again.model.fit.predict(x[hold]))
    assert page.qini.value == again.qini.value
    refit = fit_uplift(x[learn], frame["treated"][learn], frame["gmv"][learn], METHOD, n_folds=FOLDS,
                       unit_ids=ids[learn].to_numpy(), propensity=frame["propensity"][learn])
    np.testing.assert_allclose(refit.scores, fit.scores)
    text = rendered(spread, "en", max_train_units=CAP)
    assert (f"The model learned from a sample of {CAP:,} of those {page.n_train_pool:,} customers" in text
            and f"uses all {page.n_holdout:,} of them" in text)
    assert "learned from a sample" not in rendered(spread, "en")        # not capped by default: no sentence


class TestAudienceCommand:
    """``workbench audience``: the page's audience as a masked CSV beside the data; nothing to target exits 2."""

    def test_writes_the_pages_audience_masked(self, spread, capsys):
        from workbench.cli import main

        data = spread["out"] / "data"
        code = main(["audience", "--data", str(data), "--as-of", spread["brand"].truth["as_of"][:10],
                     "--experiment", "EXP_CUST", "--method", METHOD, "--folds", str(FOLDS)])
        assert code == 0
        path = Path(capsys.readouterr().out.strip().removeprefix("wrote "))
        assert path.parent == (spread["out"] / "exports").resolve()
        rows = pd.read_csv(path)
        assert "customer_id" not in rows and rows["customer_token"].str.startswith("C-").all()
        assert len(rows) == spread["page"].audience.value

    def test_nothing_to_target_exits_2(self, flat, capsys):
        from workbench.cli import main

        code = main(["audience", "--data", str(flat["out"] / "data"), "--as-of", flat["brand"].truth["as_of"][:10],
                     "--experiment", "EXP_CUST", "--method", METHOD, "--folds", str(FOLDS)])
        assert code == 2
        assert "nothing to target" in capsys.readouterr().err


def _assert_same_page(got, want) -> None:
    """Every statement of ``want`` in ``got`` (tables with a fresh index); ``got`` has no model."""
    import dataclasses

    assert got.model is None
    for f in dataclasses.fields(want):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if f.name == "model":
            continue
        if isinstance(b, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b.reset_index(drop=True), obj=f.name)
        else:
            assert a == b, f.name


def test_the_page_kept_beside_the_layer_states_what_it_computes(spread, tmp_path, monkeypatch):
    """Without a layer, in the first kernel on a current layer (which keeps the frames) and in the next one (which
    reads them while every computation fails): the page of ``with_model=True``, without its model."""
    from workbench.derived_layer import build_layer
    from workbench.engine.memo import MEMO_DIR
    from workbench.pages import targeting as tp

    folder = tmp_path / "data"
    shutil.copytree(spread["out"] / "data", folder)
    as_of = spread["brand"].truth["as_of"][:10]
    build_layer(folder, as_of=as_of)
    want, kw = spread["page"], {"method": METHOD, "n_folds": FOLDS, "with_model": False}
    assert want.recommends and len(want.by_guide) and len(want.traits)
    plain = workbench.open(folder, as_of=as_of, layer=None)
    assert plain.layer is None
    _assert_same_page(targeting_page(plain, "EXP_CUST", **kw), want)
    first = workbench.open(folder, as_of=as_of)
    _assert_same_page(targeting_page(first, "EXP_CUST", **kw), want)        # computes and keeps the frames
    kept = {p.name.split("-")[0] for p in (first.layer.folder / MEMO_DIR).glob("targeting.*.parquet")}
    assert kept == {f"targeting.{name}" for name in tp.MEMO_FRAMES}

    def failing(*args, **kwargs):
        raise AssertionError("computed again instead of read")

    for name in ("_page", "_evaluate", "_audience", "targeting_frame", "fit_uplift"):
        for module in (tp, __import__("workbench.targeting.frame", fromlist=["x"]),
                       __import__("workbench.targeting.learners", fromlist=["x"])):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, failing)
    second = workbench.open(folder, as_of=as_of)
    _assert_same_page(targeting_page(second, "EXP_CUST", **kw), want)      # reads them
    with pytest.raises(AssertionError, match="computed again"):              # another parameter: another key
        targeting_page(second, "EXP_CUST", top_share=0.2, **kw)


def test_a_page_with_too_few_units_is_kept_as_it_is(report_brand):
    """A too-few page (no statements, no tables) comes back from its frames as it was."""
    from workbench.pages.targeting import page_frames, page_from_frames

    folder, brand = report_brand
    wb = workbench.open(folder / "data", as_of=brand.truth["as_of"][:10], layer=None)
    page = targeting_page(wb, "EXP_STORE")
    assert page.status == "too_few" and page.n_clusters == 12
    _assert_same_page(page_from_frames(page_frames(page)), page)


CHECK_CAP = 600   # a hold-out sample smaller than the spread brand's hold-out


def test_holdout_sample_cap_is_honoured_and_stated(spread):
    """With ``max_holdout_units`` every evaluated number comes from the hash sample of that many held-out customers.

    The model learns on the same units as without the cap; the Qini coefficient, the uplift at k and the treat-all
    estimate are those of the sample; the rendered page states the sample.
    """
    from workbench.targeting import evaluate_uplift
    from workbench.targeting.learners import CHECK_SALT

    wb, full = spread["wb"], spread["page"]
    page = targeting_page(wb, "EXP_CUST", method=METHOD, n_folds=FOLDS, max_holdout_units=CHECK_CAP)
    assert page.n_holdout == full.n_holdout > CHECK_CAP and page.n_checked == CHECK_CAP and page.checked_sampled
    assert not full.checked_sampled and full.n_checked == full.n_holdout
    assert page.n_train == full.n_train and page.n_units == full.n_units
    frame = targeting_frame(wb, "EXP_CUST")
    ids = frame["unit_id"].astype(str)
    hold = holdout_mask(ids, 0.3)
    check = hold.copy()
    check[hold] = train_sample(ids[hold], CHECK_CAP, salt=CHECK_SALT)
    x = page.model.matrix(frame)
    score = page.model.fit.predict(x[check])
    t, y = frame["treated"].to_numpy()[check], frame["gmv"].to_numpy()[check]
    ev = evaluate_uplift(score, t, y, ks=(0.3,), n_boot=page.n_boot, seed=0)
    row = ev.table.set_index("statistic")
    assert page.qini.value == pytest.approx(ev.qini_coefficient, abs=1e-12)
    assert (page.qini.ci_low, page.qini.ci_high) == pytest.approx(
        (row.loc["qini_coefficient", "ci_low"], row.loc["qini_coefficient", "ci_high"]), abs=1e-12)
    assert page.uplift_at_k.value == pytest.approx(ev.uplift_at_k[0.3], abs=1e-12)
    mu0, mu1 = page.model.fit.predict_outcomes(x[check])
    e = frame["propensity"].to_numpy()[check]
    d = mu1 + t * (y - mu1) / e - mu0 - (1 - t) * (y - mu0) / (1 - e)
    assert page.holdout_all.value == pytest.approx(d.mean(), abs=1e-9)
    text = rendered(spread, "en", max_holdout_units=CHECK_CAP)
    assert (f"uses a sample of {CHECK_CAP:,} of those {page.n_holdout:,} customers" in text
            and f"On the {CHECK_CAP:,} customers held out from learning" in text)
    assert "uses a sample of" not in rendered(spread, "en")     # not capped by default: no sentence
