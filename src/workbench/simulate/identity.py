"""Identity links: the identifiers that tie each customer together."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .customers import Customers
from .draws import BASE64URL_ALPHABET, HEX_ALPHABET, make_frame, tokens


def identity_links_table(rng: np.random.Generator, cust: Customers, ever_added: np.ndarray) -> tuple[pd.DataFrame, int]:
    """Identifier pairs: every customer is one connected component of the links."""
    n = cust.n
    phone = tokens(rng, n, 64, HEX_ALPHABET)
    union = tokens(rng, n, 27, BASE64URL_ALPHABET, "o")
    openid = tokens(rng, n, 27, BASE64URL_ALPHABET, "o")
    two = np.flatnonzero(rng.random(n) < 0.05)  # mini-program and official-account openids
    openid2 = tokens(rng, len(two), 27, BASE64URL_ALPHABET, "o")
    added = np.flatnonzero(ever_added)
    ext = tokens(rng, len(added), 30, BASE64URL_ALPHABET, "wm")
    buyers = np.flatnonzero(cust.buyer)
    tokens(rng, len(buyers), 10, b"0123456789", "ERP")  # drawn only to keep the random stream as it was
    # ERP numbers must be unique (random 10-digit draws collide by the thousand at 20M buyers):
    # a bijection of the customer number onto 10 digits, unique across chunks too
    number = pd.Series(cust.ids[buyers]).str[1:].astype(np.int64).to_numpy()
    erp = np.asarray(pd.Series((number * 7_919_187_561 + 1_234_567) % 10**10).astype(str).str.zfill(10).radd("ERP"),
                     dtype=object)
    parts = [
        ("member_id", cust.member_ids, "phone_hash", phone),
        ("phone_hash", phone, "unionid", union),
        ("unionid", union, "openid", openid),
        ("unionid", union[two], "openid", openid2),
        ("external_userid", ext, "unionid", union[added]),
        ("erp_id", erp, "phone_hash", phone[buyers]),
    ]
    frame = make_frame({
        "id_type": np.concatenate([np.full(len(v), a, dtype=object) for a, v, _, _ in parts]),
        "id_value": np.concatenate([v for _, v, _, _ in parts]),
        "linked_type": np.concatenate([np.full(len(v), b, dtype=object) for _, v, b, _ in parts]),
        "linked_value": np.concatenate([lv for _, _, _, lv in parts]),
    })
    return frame, len(two)
