"""Contact spells on hand-built fixtures."""
from __future__ import annotations

import pandas as pd
import pytest

import workbench
from workbench import DataContractError, ParameterError
from workbench.churn.spells import contact_spells, spell_covariates

T = pd.Timestamp


def events(rows):
    df = pd.DataFrame(rows, columns=["event_time", "customer_id", "staff_id", "event_type"])
    df["event_time"] = pd.to_datetime(df["event_time"])
    df["channel_code"] = None
    return df


def groups(rows):
    df = pd.DataFrame(rows, columns=["event_time", "customer_id", "group_id", "event_type"])
    df["event_time"] = pd.to_datetime(df["event_time"])
    return df


AS_OF = "2025-03-01"


class TestCustomerStaffSpells:
    def test_add_delete_readd_censored(self):
        ce = events([("2025-01-01", "A", "E1", "add"), ("2025-01-11", "A", "E1", "delete_by_customer"),
                     ("2025-01-21", "A", "E1", "add")])
        s = contact_spells({"contact_events": ce}, AS_OF, level="customer_staff")
        assert s["spell_number"].tolist() == [1, 2]
        assert s["duration_days"].tolist() == pytest.approx([10.0, 39.0])
        assert s["churned"].tolist() == [True, False]
        assert s["end_reason"].tolist() == ["deleted_by_customer", "censored"]
        assert s["end"].iloc[1] == T(AS_OF)

    def test_same_second_add_and_delete(self):
        ce = events([("2025-01-05 10:00", "A", "E1", "delete_by_staff"), ("2025-01-05 10:00", "A", "E1", "add")])
        s = contact_spells({"contact_events": ce}, AS_OF, level="customer_staff")
        assert len(s) == 1 and s["duration_days"].iloc[0] == 0 and s["end_reason"].iloc[0] == "deleted_by_staff"


class TestCustomerSpells:
    def test_two_staff_overlapping_is_one_spell(self):
        ce = events([("2025-01-01", "A", "E1", "add"), ("2025-01-05", "A", "E2", "add"),
                     ("2025-01-10", "A", "E1", "delete_by_customer"), ("2025-01-20", "A", "E2", "delete_by_staff")])
        s = contact_spells({"contact_events": ce}, AS_OF)
        assert len(s) == 1
        assert s["duration_days"].iloc[0] == pytest.approx(19.0)
        assert s["end_reason"].iloc[0] == "deleted_by_staff"  # the last relationship to close

    def test_group_keeps_customer_in_the_domain(self):
        ce = events([("2025-01-01", "A", "E1", "add"), ("2025-01-10", "A", "E1", "delete_by_customer")])
        ge = groups([("2025-01-05", "A", "G1", "join"), ("2025-02-01", "A", "G1", "leave")])
        s = contact_spells({"contact_events": ce, "group_events": ge}, AS_OF)
        assert len(s) == 1 and s["end_reason"].iloc[0] == "left_group"
        assert s["duration_days"].iloc[0] == pytest.approx(31.0)

    def test_gap_makes_two_spells_and_touching_intervals_do_not(self):
        ce = events([("2025-01-01", "A", "E1", "add"), ("2025-01-10", "A", "E1", "delete_by_customer"),
                     ("2025-01-20", "A", "E1", "add")])
        # the group join at the very second of the delete keeps the customer in the domain
        ge = groups([("2025-01-10", "A", "G1", "join"), ("2025-01-15", "A", "G1", "leave")])
        s = contact_spells({"contact_events": ce, "group_events": ge}, AS_OF)
        assert s["duration_days"].tolist() == pytest.approx([14.0, 40.0])
        assert s["churned"].tolist() == [True, False]

    def test_left_truncation(self):
        ce = events([("2024-11-01", "A", "E1", "add"), ("2024-11-20", "B", "E1", "add"),
                     ("2024-12-01", "B", "E1", "delete_by_customer"), ("2025-01-10", "C", "E1", "add")])
        s = contact_spells({"contact_events": ce}, AS_OF, window_start="2025-01-01").set_index("customer_id")
        assert "B" not in s.index  # ended before the window
        assert s.loc["A", "entry_days"] == pytest.approx(61.0) and s.loc["A", "duration_days"] == pytest.approx(120.0)
        assert s.loc["C", "entry_days"] == 0

    def test_errors(self):
        ce = events([("2025-01-01", "A", "E1", "delete_by_customer")])
        with pytest.raises(DataContractError, match="delete with no earlier add"):
            contact_spells({"contact_events": ce}, AS_OF)
        ok = events([("2025-01-01", "A", "E1", "add")])
        with pytest.raises(ParameterError, match="before the first contact event"):
            contact_spells({"contact_events": ok}, "2024-06-01")
        with pytest.raises(ParameterError, match="level"):
            contact_spells({"contact_events": ok}, AS_OF, level="store")


class TestCovariates:
    def test_tiny_brand(self, tiny):
        wb = workbench.open(tiny, as_of="2025-02-01")
        cov = spell_covariates(wb, "2025-02-01").set_index(["customer_id", "staff_id", "spell_number"])
        assert cov.loc[("C2", "E1", 1), "group_member"] == 1  # joined G1 two hours after the add
        assert cov.loc[("C1", "E1", 1), "bought_by_landmark"] == 1
        assert cov.loc[("C3", "E3", 1), "channel_group"] == "ads" and cov.loc[("C3", "E3", 1), "store_id"] == "S2"
        assert cov.loc[("C1", "E1", 1), "uses_retention_tool"] == 1

    def test_as_of_defaults_to_the_workbench(self, tiny):
        wb = workbench.open(tiny, as_of="2025-02-01")
        pd.testing.assert_frame_equal(spell_covariates(wb), spell_covariates(wb, "2025-02-01"))
        pd.testing.assert_frame_equal(contact_spells(wb), contact_spells(wb, "2025-02-01"))
        with pytest.raises(ParameterError, match="as_of is required"):
            contact_spells({"contact_events": events([("2025-01-01", "A", "E1", "add")])})


class TestTransfersAndDepartures:
    """A relationship moved to another guide or closed when the guide left is censored, not churn."""

    def test_transfer_and_staff_left_end_spells_as_censoring(self):
        ce = events([("2025-01-01", "A", "E1", "add"), ("2025-02-01", "A", "E1", "transfer"),
                     ("2025-02-02", "A", "E2", "add"), ("2025-01-05", "B", "E1", "add"),
                     ("2025-03-01", "B", "E1", "staff_left"), ("2025-01-07", "C", "E1", "add"),
                     ("2025-01-17", "C", "E1", "delete_by_customer"), ("2025-01-20", "C", "E1", "delete_by_staff")])
        s = contact_spells({"contact_events": ce}, AS_OF, level="customer_staff")
        got = {(r.customer_id, r.staff_id): (r.end_reason, r.churned, r.duration_days) for r in s.itertuples()}
        assert got[("A", "E1")] == ("transferred", False, 31.0)
        assert got[("A", "E2")][:2] == ("censored", False)
        assert got[("B", "E1")] == ("staff_left", False, 55.0)
        # the guide's later delete of the one-way contact is a second close: the customer's delete ends it
        assert got[("C", "E1")] == ("deleted_by_customer", True, 10.0)
        assert len(s) == 4
