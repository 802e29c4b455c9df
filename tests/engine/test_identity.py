"""Identity resolution: components of the identifier graph, deterministic customer ids.

A frame alone is resolved on an engine of its own (DuckDB), so the graph cases run there; resolution from a
workbench goes through the backend seam and runs on DuckDB and Spark (``engine`` fixture), checked against
the frame path on a graph with a chain, a cycle, a merge and separate components.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from workbench import DataContractError, resolve_identities


def links(*pairs):
    return pd.DataFrame([(a.split(":")[0], a.split(":")[1], b.split(":")[0], b.split(":")[1]) for a, b in pairs],
                        columns=["id_type", "id_value", "linked_type", "linked_value"])


def customers_of(resolved):
    return {f"{t}:{v}": c for t, v, c in resolved[["id_type", "id_value", "customer_id"]].itertuples(index=False)}


class TestResolveIdentities:
    def test_chain(self):
        chain = links(*[(f"openid:o{i}", f"openid:o{i + 1}") for i in range(40)])
        out = resolve_identities(chain)
        assert out["customer_id"].nunique() == 1 and len(out) == 41
        assert (out["component_size"] == 41).all()

    def test_cycle_and_separate_components(self):
        out = resolve_identities(links(("phone_hash:p1", "unionid:u1"), ("unionid:u1", "openid:o1"),
                                       ("openid:o1", "phone_hash:p1"), ("openid:o2", "external_userid:x2")))
        ids = customers_of(out)
        assert ids["phone_hash:p1"] == ids["unionid:u1"] == ids["openid:o1"]
        assert ids["openid:o2"] == ids["external_userid:x2"] != ids["openid:o1"]

    def test_new_link_joins_two_earlier_customers_keeping_the_member_id(self):
        before = links(("member_id:m1", "phone_hash:p1"), ("unionid:u2", "openid:o2"))
        first = customers_of(resolve_identities(before))
        assert first["member_id:m1"] != first["unionid:u2"]
        after = pd.concat([before, links(("phone_hash:p1", "unionid:u2"))])
        merged = customers_of(resolve_identities(after))
        assert len(set(merged.values())) == 1
        # the member keeps its id: brand-owned identifiers anchor the customer
        assert merged["openid:o2"] == first["member_id:m1"]

    def test_ids_are_deterministic_and_order_free(self):
        data = links(("phone_hash:p1", "unionid:u1"), ("openid:o5", "unionid:u1"), ("erp_id:e9", "openid:o7"))
        a = resolve_identities(data)
        b = resolve_identities(data.iloc[::-1].reset_index(drop=True))
        pd.testing.assert_frame_equal(a, b)

    def test_same_value_different_type_are_different_identifiers(self):
        out = resolve_identities(links(("openid:123", "unionid:u1"), ("member_id:123", "erp_id:e1")))
        assert out["customer_id"].nunique() == 2

    def test_matches_scipy_components_on_a_random_graph(self):
        rng = np.random.default_rng(3)
        n_nodes, n_links = 3000, 2500
        a, b = rng.integers(0, n_nodes, n_links), rng.integers(0, n_nodes, n_links)
        frame = pd.DataFrame({"id_type": "openid", "id_value": a.astype(str),
                              "linked_type": "openid", "linked_value": b.astype(str)})
        out = resolve_identities(frame)
        nodes = np.unique(np.concatenate([a, b]))
        index = {v: i for i, v in enumerate(nodes)}
        graph = coo_matrix((np.ones(n_links), ([index[x] for x in a], [index[x] for x in b])),
                           shape=(len(nodes), len(nodes)))
        n_comp, labels = connected_components(graph, directed=False)
        assert out["customer_id"].nunique() == n_comp
        ours = out.set_index(out["id_value"].astype(int))["customer_id"]
        pairs = pd.DataFrame({"ours": ours.loc[nodes].to_numpy(), "scipy": labels})
        assert (pairs.groupby("ours")["scipy"].nunique() == 1).all()

    def test_from_a_workbench_equals_the_frame_path(self, engine):
        data = pd.concat([
            links(*[(f"openid:c{i}", f"openid:c{i + 1}") for i in range(12)]),  # a chain of 13
            links(("phone_hash:p1", "unionid:u1"), ("unionid:u1", "openid:o1"), ("openid:o1", "phone_hash:p1")),
            links(("member_id:m2", "openid:o2"), ("openid:o2", "external_userid:x2"), ("erp_id:e2", "unionid:u2"),
                  ("unionid:u2", "openid:o2")),  # a later link joins two customers: the member anchors
            links(("openid:123", "unionid:u3"), ("member_id:123", "erp_id:e3"))], ignore_index=True)
        keys = ["id_type", "id_value"]
        on_engine = resolve_identities(engine({"identity_links": data})).sort_values(keys, ignore_index=True)
        alone = resolve_identities(data).sort_values(keys, ignore_index=True)
        pd.testing.assert_frame_equal(on_engine, alone, check_dtype=False)
        ids = customers_of(on_engine)
        assert on_engine["customer_id"].nunique() == 5 and on_engine["component_size"].max() == 13
        assert ids["erp_id:e2"] == ids["external_userid:x2"] == ids["member_id:m2"]
        assert ids["openid:123"] != ids["member_id:123"]

    def test_bad_input(self):
        bad = links(("phone_hash:p1", "unionid:u1"))
        bad.loc[0, "linked_type"] = "email"
        with pytest.raises(DataContractError, match="identity_links', column 'linked_type': unknown value"):
            resolve_identities(bad)
        with pytest.raises(DataContractError, match="column 'id_value': required column is missing"):
            resolve_identities(bad.drop(columns="id_value"))
