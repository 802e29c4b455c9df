"""Reference numbers for the attribution tests, from the ChannelAttribution package.

ChannelAttribution is never a project dependency. Run this script with the Python of a
throw-away virtual environment that has it (it builds a C++ extension):

    CA_VENV="$(mktemp -d)/ca"
    python -m venv "$CA_VENV" && "$CA_VENV/bin/pip" install ChannelAttribution matplotlib
    "$CA_VENV/bin/python" benchmarks/reference/make_channelattribution_reference.py ../shared/datasets/channel_paths.csv

(ChannelAttribution 2.2.5 imports matplotlib without declaring it, hence the second package.)

It prints, as JSON, the package version and on ``channel_paths.csv``:

* ``heuristic_models`` — first / last / linear touch conversions and values;
* ``markov_model(order=1, var_null="total_null", var_value="total_conversion_value",
  out_more=True, seed=0)`` with the default simulation settings — credited conversions and
  value and the removal effects;
* the same model with ten times the simulations and a tighter convergence parameter, to
  show how close the simulation gets to the exact answer when it is given more time.

The constants in tests/test_attribution_heuristics.py and tests/test_attribution_markov.py
are copied from this output.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from importlib.metadata import version

import pandas as pd

with contextlib.redirect_stdout(io.StringIO()):  # the package prints a banner on import
    from ChannelAttribution import heuristic_models, markov_model


def _quiet(fn, *args, **kwargs):
    """Call ``fn`` with its banner and progress prints swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _markov(data: pd.DataFrame, **kwargs) -> dict:
    t0 = time.perf_counter()
    res = _quiet(markov_model, data, "path", "total_conversions", var_value="total_conversion_value",
                 var_null="total_null", order=1, out_more=True, seed=0, verbose=False, flg_pro=False, **kwargs)
    seconds = time.perf_counter() - t0
    result = res["result"].set_index("channel_name")
    effects = res["removal_effects"].set_index("channel_name")
    return {
        "settings": kwargs,
        "seconds": round(seconds, 3),
        "total_conversions": result["total_conversions"].round(6).to_dict(),
        "total_conversion_value": result["total_conversion_value"].round(6).to_dict(),
        "removal_effects_conversion": effects["removal_effects_conversion"].round(6).to_dict(),
        "removal_effects_conversion_value": effects["removal_effects_conversion_value"].round(6).to_dict(),
    }


def main(csv: str) -> None:
    data = pd.read_csv(csv, sep=";")
    h = _quiet(heuristic_models, data, "path", "total_conversions", var_value="total_conversion_value",
               flg_pro=False).set_index("channel_name")
    out = {
        "package": f"ChannelAttribution {version('ChannelAttribution')}",
        "rows": len(data),
        "conversions": int(data["total_conversions"].sum()),
        "heuristic": {col: h[col].round(6).to_dict() for col in h.columns},
        "markov_default": _markov(data),
        "markov_long": _markov(data, nsim_start=1_000_000, conv_par=0.01),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/channel_paths.csv")
