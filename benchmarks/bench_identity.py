"""Identity resolution on N identifier links (default 1,000,000).

Generates a realistic identifier graph (each person has a phone hash, a unionid, one or
two openids, an external_userid and, for members, a member id; a few persons are merged by
shared phones) and times ``resolve_identities``. Prints wall time and peak RSS.

    python benchmarks/bench_identity.py --links 1000000
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from workbench import resolve_identities


def identity_graph(n_links: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    persons = int(n_links / 3.81) + 1  # links per person: 1 + 1 + 1 + 0.6 + 0.2 + 0.01
    pid = np.arange(persons)
    frames = []
    for id_type, linked_type, share in [("phone_hash", "unionid", 1.0), ("unionid", "openid", 1.0),
                                        ("unionid", "external_userid", 1.0), ("member_id", "phone_hash", 0.6),
                                        ("unionid", "openid", 0.2)]:
        keep = pid[rng.random(persons) < share]
        suffix = "b" if (id_type, linked_type, share) == ("unionid", "openid", 0.2) else ""
        frames.append(pd.DataFrame({
            "id_type": id_type, "id_value": [f"{id_type[:2]}{p}" for p in keep],
            "linked_type": linked_type, "linked_value": [f"{linked_type[:2]}{p}{suffix}" for p in keep]}))
    # 1% of persons share a phone with another person: components that merge customers
    a = rng.choice(persons, persons // 100)
    b = rng.choice(persons, persons // 100)
    frames.append(pd.DataFrame({"id_type": "phone_hash", "id_value": [f"ph{p}" for p in a],
                                "linked_type": "unionid", "linked_value": [f"un{p}" for p in b]}))
    return pd.concat(frames, ignore_index=True).head(n_links)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=1_000_000)
    args = parser.parse_args()
    graph = identity_graph(args.links)
    t0 = time.perf_counter()
    out = resolve_identities(graph)
    elapsed = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"resolve_identities: {len(graph):,} links -> {out['customer_id'].nunique():,} customers "
          f"({len(out):,} identifiers) in {elapsed:.1f} s, peak RSS {rss:,.0f} MB")


if __name__ == "__main__":
    main()
