"""Reference numbers for the attribution tests, from the ChannelAttribution package.

ChannelAttribution is never a project dependency: this script is run with a throw-away
virtual environment (``python -m venv /tmp/ca && /tmp/ca/bin/pip install ChannelAttribution``)
and prints the heuristic and Markov credits on ``../shared/datasets/channel_paths.csv``
that tests/test_attribution_mta.py holds as constants.

    /tmp/ca/bin/python benchmarks/reference/make_channelattribution_reference.py ../shared/datasets/channel_paths.csv
"""
import json
import sys

import pandas as pd
from ChannelAttribution import heuristic_models, markov_model

data = pd.read_csv(sys.argv[1], sep=";")
h = heuristic_models(data, "path", "total_conversions", var_value="total_conversion_value")
m = markov_model(data, "path", "total_conversions", var_value="total_conversion_value", var_null="total_null",
                 order=1, seed=0, verbose=0)
out = {
    "heuristic": h.set_index("channel_name")[["first_touch_conversions", "last_touch_conversions",
                                               "linear_touch_conversions"]].round(6).to_dict(),
    "markov": m.set_index("channel_name")["total_conversions"].round(6).to_dict(),
}
print(json.dumps(out, indent=1))
