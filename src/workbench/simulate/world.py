"""The brand's fixed world: regions, stores, staff, channel codes, groups."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .draws import DAY, HOUR, NEVER, Clock, draw_categorical, make_frame, nullable, seq_ids, uniform_secs
from .params import CHANNEL_GROUPS, SimulationParams

REGIONS = {
    "East": ("Shanghai", "Hangzhou", "Nanjing", "Suzhou"),
    "North": ("Beijing", "Tianjin", "Jinan"),
    "South": ("Guangzhou", "Shenzhen", "Xiamen"),
    "Southwest": ("Chengdu", "Chongqing", "Kunming"),
    "Central": ("Wuhan", "Changsha", "Zhengzhou"),
}
_REGION_WEIGHTS = (0.32, 0.22, 0.2, 0.13, 0.13)
#: Store-level QR codes (one of each per store): code prefix, name, share of store scans.
STORE_CODES = (("CASHIER", "Cashier QR", 0.5), ("RECEIPT", "Receipt QR", 0.3), ("POSTER", "In-store poster", 0.2))
#: Brand-level codes: code, group, name, cost per add (CNY) or None, share of brand scans.
BRAND_CODES = (
    ("MP_BANNER", "online_mall", "Mini-program home banner", None, 0.20),
    ("PAY_SUCCESS", "online_mall", "Mini-program pay-success page", None, 0.20),
    ("OFFICIAL_ACCOUNT", "wechat_ecosystem", "Official account menu", None, 0.15),
    ("CHANNELS_LIVE", "wechat_ecosystem", "Channels live room", None, 0.10),
    ("MOMENTS_AD", "ads", "Moments ad", 12.0, 0.15),
    ("ELEVATOR_AD", "ads", "Elevator ad", 25.0, 0.08),
    ("REFERRAL", "other", "Member referral reward", 5.0, 0.07),
    ("OTHER", "other", "Other / unknown", None, 0.05),
)
TASK_TYPES = (("new_arrival", "New arrivals", 0.35), ("promotion", "Promotion", 0.30),
              ("holiday", "Holiday greetings", 0.15), ("live", "Live stream", 0.20))
GROUPS_PER_STORE = 2


@dataclass
class World:
    """Stores, staff, channels and groups, with the index arrays the processes use."""

    store_ids: np.ndarray
    store_weight: np.ndarray      # share of customers whose home store it is
    tool: np.ndarray              # store uses a retention tool
    staff_ids: np.ndarray         # active guides first (sorted by store), then former guides, then HQ
    guide_store: np.ndarray       # store index of each active guide
    guide_offset: np.ndarray      # first guide index of each store
    guide_count: np.ndarray       # guides per store
    code_ids: np.ndarray          # channel codes: store codes (3 per store) first, then brand codes
    code_group: np.ndarray        # channel group index of each code
    group_store: np.ndarray       # store index of each WeCom group
    group_owner: np.ndarray       # staff index of each group's owner
    group_ids: np.ndarray
    tables: dict[str, pd.DataFrame]
    # set by staffing.add_staffing: departures in the window and the guides who take over
    guide_left: np.ndarray = field(default_factory=lambda: np.array([], np.int64))   # NEVER: stays
    guide_heir: np.ndarray = field(default_factory=lambda: np.array([], np.int64))   # -1: stays
    stayers: np.ndarray = field(default_factory=lambda: np.array([], np.int64))      # guides who never leave, by store
    stayer_offset: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    stayer_count: np.ndarray = field(default_factory=lambda: np.array([], np.int64))
    behavior: dict[str, np.ndarray] = field(default_factory=dict)  # per-guide true rates (truth: staff_behavior)

    @property
    def n_stores(self) -> int:
        """Number of stores."""
        return len(self.store_ids)

    def staff_store(self, staff: np.ndarray) -> np.ndarray:
        """Store index of staff members (all contacts are with active guides)."""
        return self.guide_store[staff]

    def pick_guide(self, rng: np.random.Generator, store: np.ndarray) -> np.ndarray:
        """A guide of each given store, drawn uniformly."""
        return self.guide_offset[store] + (rng.random(len(store)) * self.guide_count[store]).astype(np.int64)

    def pick_other_guide(self, rng: np.random.Generator, store: np.ndarray, guide: np.ndarray) -> np.ndarray:
        """Another guide of the same store (the same one when the store has a single guide)."""
        cnt = self.guide_count[store]
        local = guide - self.guide_offset[store]
        step = 1 + (rng.random(len(store)) * np.maximum(cnt - 1, 1)).astype(np.int64)
        return self.guide_offset[store] + (local + step) % cnt

    def successor_at(self, staff: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The staff member acting for ``staff`` at ``t``: the heir once a guide has left (-1 stays -1)."""
        s = np.asarray(staff, dtype=np.int64)
        if not len(self.guide_left):
            return s
        ok = (s >= 0) & (s < len(self.guide_left))
        j = np.where(ok, s, 0)
        return np.where(ok & (np.asarray(t) >= self.guide_left[j]), self.guide_heir[j], s)

    def left_at(self, staff: np.ndarray) -> np.ndarray:
        """Departure time of guides (``NEVER`` when they stay); ``staff`` are guide indices."""
        if not len(self.guide_left):
            return np.full(len(staff), NEVER, dtype=np.int64)
        return self.guide_left[staff]

    def store_code(self, store: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """Channel-code index of a store and code kind."""
        return store * len(STORE_CODES) + kind


def build_world(rng: np.random.Generator, clock: Clock, n_stores: int, n_staff: int, p: SimulationParams) -> World:
    """Draw the stores, regions, staff and guides of a brand."""
    store_ids = seq_ids("S", n_stores, 3)
    region_names = list(REGIONS)
    region = draw_categorical(rng, np.array(_REGION_WEIGHTS), n_stores)
    names, seen = [], {}
    for s in range(n_stores):  # a loop over stores: small and fixed
        cities = REGIONS[region_names[region[s]]]
        city = cities[int(rng.integers(len(cities)))]
        seen[city] = seen.get(city, 0) + 1
        names.append(f"{city} #{seen[city]}")
    size = rng.lognormal(0.0, 0.5, n_stores)
    opened_days = rng.uniform(180, 2500, n_stores)
    opened = -(opened_days * DAY).astype(np.int64) + 10 * HOUR
    tool = rng.random(n_stores) < p.retention_tool_share
    stores = make_frame({
        "store_id": store_ids, "store_name": np.array(names, dtype=object),
        "region": np.array(region_names, dtype=object)[region], "opened_at": clock.dt(opened),
        "uses_retention_tool": tool,
    })

    # guides: one per store, the rest in proportion to store size; ids follow store order
    extra = draw_categorical(rng, size, n_staff - n_stores) if n_staff > n_stores else np.array([], np.int64)
    guide_store = np.sort(np.concatenate([np.arange(n_stores), extra])).astype(np.int64)
    guide_count = np.bincount(guide_store, minlength=n_stores)
    guide_offset = np.concatenate([[0], np.cumsum(guide_count)[:-1]])
    n_former = max(1, n_staff // 50)
    n_hq = 10
    staff_ids = seq_ids("E", n_staff + n_former + n_hq, 4)
    # former guides left before the window: they hold no contacts, so they never bias churn
    former_store = rng.integers(0, n_stores, n_former)
    former_hired = opened[former_store] + uniform_secs(rng, -opened[former_store] * 0.5)
    hired = np.concatenate([
        opened[guide_store] + uniform_secs(rng, -opened[guide_store] - 30 * DAY),
        former_hired,
        -(rng.uniform(60, 2000, n_hq) * DAY).astype(np.int64),
    ])
    left = np.full(n_staff + n_former + n_hq, NEVER)
    stay = (rng.uniform(0.5, 0.95, n_former) * -former_hired).astype(np.int64)
    left[n_staff:n_staff + n_former] = former_hired + stay
    store_of_staff = np.concatenate([guide_store, former_store, np.full(n_hq, -1)])
    staff = make_frame({
        "staff_id": staff_ids,
        "store_id": nullable(store_ids)[store_of_staff],
        "role": np.array(["guide"] * (n_staff + n_former) + ["hq"] * n_hq, dtype=object),
        "hired_at": clock.dt(hired),
        "left_at": clock.dt(left),
    })

    # channel codes: three store-level codes per store, then brand-level codes
    k = len(STORE_CODES)
    code_prefix = np.array([c for c, _, _ in STORE_CODES], dtype=object)
    code_name = np.array([nm for _, nm, _ in STORE_CODES], dtype=object)
    rep_store = np.repeat(np.arange(n_stores), k)
    rep_kind = np.tile(np.arange(k), n_stores)
    store_code_ids = code_prefix[rep_kind] + "_" + store_ids[rep_store]
    brand = BRAND_CODES
    code_ids = np.concatenate([store_code_ids, np.array([c[0] for c in brand], dtype=object)])
    code_group = np.concatenate([np.zeros(n_stores * k, np.int64),
                                 np.array([CHANNEL_GROUPS.index(c[1]) for c in brand], np.int64)])
    channels = make_frame({
        "channel_code": code_ids,
        "channel_group": np.array(CHANNEL_GROUPS, dtype=object)[code_group],
        "channel_name": np.concatenate([code_name[rep_kind] + " " + store_ids[rep_store],
                                        np.array([c[2] for c in brand], dtype=object)]),
        "store_id": np.concatenate([store_ids[rep_store], np.full(len(brand), None, dtype=object)]),
        "cost": np.array([np.nan] * (n_stores * k) + [np.nan if c[3] is None else c[3] for c in brand]),
    })

    # customer groups of each store, each owned by one of its guides
    group_store = np.repeat(np.arange(n_stores), GROUPS_PER_STORE)
    group_owner = guide_offset[group_store] + (rng.random(len(group_store)) * guide_count[group_store]).astype(np.int64)
    group_ids = seq_ids("G", len(group_store), 4)
    created = opened[group_store] + uniform_secs(rng, np.minimum(-opened[group_store], 400 * DAY) - DAY)
    groups = make_frame({"group_id": group_ids, "store_id": store_ids[group_store],
                     "owner_staff_id": staff_ids[group_owner], "created_at": clock.dt(created)})
    return World(store_ids, size / size.sum(), tool, staff_ids, guide_store, guide_offset, guide_count, code_ids,
                  code_group, group_store, group_owner, group_ids,
                  {"stores": stores, "staff": staff, "channels": channels, "groups": groups})
