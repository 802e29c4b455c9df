"""Bad input to the churn models gets a clear error."""
from __future__ import annotations

import pandas as pd
import pytest

from workbench import DataContractError
from workbench.churn import fit_cox, kaplan_meier_table


def test_negative_duration():
    spells = pd.DataFrame({"duration_days": [3.0, -1.0], "churned": [True, False], "g": ["a", "b"]})
    with pytest.raises(DataContractError, match="duration_days.*negative"):
        kaplan_meier_table(spells)
    with pytest.raises(DataContractError, match="negative"):
        fit_cox(spells, categorical=["g"])


def test_missing_column():
    with pytest.raises(DataContractError, match="churned"):
        kaplan_meier_table(pd.DataFrame({"duration_days": [1.0]}))
