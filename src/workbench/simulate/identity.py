"""Identity links: the identifiers that tie each customer together."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .customers import _Customers
from .draws import _B64, _frame, _HEX, _tokens


def _identity_links(rng: np.random.Generator, cust: _Customers, ever_added: np.ndarray) -> tuple[pd.DataFrame, int]:
    """Identifier pairs: every customer is one connected component of the links."""
    n = cust.n
    phone = _tokens(rng, n, 64, _HEX)
    union = _tokens(rng, n, 27, _B64, "o")
    openid = _tokens(rng, n, 27, _B64, "o")
    two = np.flatnonzero(rng.random(n) < 0.05)  # mini-program and official-account openids
    openid2 = _tokens(rng, len(two), 27, _B64, "o")
    added = np.flatnonzero(ever_added)
    ext = _tokens(rng, len(added), 30, _B64, "wm")
    buyers = np.flatnonzero(cust.buyer)
    _tokens(rng, len(buyers), 10, b"0123456789", "ERP")  # drawn only to keep the random stream as it was
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
    frame = _frame({
        "id_type": np.concatenate([np.full(len(v), a, dtype=object) for a, v, _, _ in parts]),
        "id_value": np.concatenate([v for _, v, _, _ in parts]),
        "linked_type": np.concatenate([np.full(len(v), b, dtype=object) for _, v, b, _ in parts]),
        "linked_value": np.concatenate([lv for _, _, _, lv in parts]),
    })
    return frame, len(two)
