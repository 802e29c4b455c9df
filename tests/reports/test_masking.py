"""Masked customer ids: keyed (HMAC-SHA256) tokens, a per-brand secret kept with mode 0600, no reversal by guessing."""
from __future__ import annotations

import hashlib
import hmac
import math
import stat

import pandas as pd
import pytest

from workbench.churn import mask_ids
from workbench.errors import ParameterError
from workbench.masking import TOKEN_HEX_DIGITS, collision_probability, key_path, mask_key, mask_tokens


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache directory and no key in the environment."""
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("WORKBENCH_MASK_KEY", raising=False)
    monkeypatch.delenv("WORKBENCH_MASK_SALT", raising=False)
    return tmp_path / "cache"


def old_unkeyed_token(customer_id: str) -> str:
    """The scheme before: sha256("workbench:" + id), 10 hex digits."""
    return "C-" + hashlib.sha256(f"workbench:{customer_id}".encode()).hexdigest()[:10]


def dictionary_attack(tokens: pd.Series, candidates: list[str], guess) -> dict[str, str]:
    """Token → id for every token that ``guess(candidate)`` reproduces."""
    table = {guess(c): c for c in candidates}
    return {t: table[t] for t in tokens.unique() if t in table}


class TestTokens:
    def test_token_is_hmac_sha256_of_the_id_truncated_to_80_bits(self):
        key = b"\x07" * 32
        token = mask_tokens(pd.Series(["C0000042"]), key).iloc[0]
        assert token == "C-" + hmac.new(key, b"C0000042", "sha256").hexdigest()[:20]
        assert TOKEN_HEX_DIGITS * 4 == 80

    def test_long_keys_are_hashed_first_as_rfc_2104_says(self):
        key = b"k" * 100  # longer than SHA-256's 64-byte block
        assert mask_tokens(pd.Series([7]), key, prefix="").iloc[0] == hmac.new(key, b"7", "sha256").hexdigest()[:20]

    def test_tokens_are_stable_for_one_key_and_differ_across_keys(self):
        ids = pd.Series(["C1", "C2", "C1", None], index=[10, 11, 12, 13])
        a1, a2 = mask_ids(ids, "a" * 32), mask_ids(ids, "a" * 32)
        b = mask_ids(ids, "b" * 32)
        assert a1.equals(a2) and a1.index.tolist() == [10, 11, 12, 13]
        assert a1[10] == a1[12] != a1[11] and a1[13] is None
        assert not set(a1.dropna()) & set(b.dropna())

    def test_all_missing_ids_stay_missing(self):
        assert mask_ids(pd.Series([None, float("nan")]), "k" * 32).isna().all()

    def test_tokens_differ_between_brands_and_are_stable_within_one(self, cache, tmp_path):
        brand_a, brand_b = tmp_path / "brand_a", tmp_path / "brand_b"
        brand_a.mkdir(), brand_b.mkdir()
        ids = pd.Series([f"C{i:07d}" for i in range(1, 501)])
        a, b = mask_ids(ids, data_dir=brand_a), mask_ids(ids, data_dir=brand_b)
        assert not set(a) & set(b)  # the same customer number in two brands: nothing to join on
        assert mask_ids(ids, data_dir=brand_a).equals(a)  # the key file is reused, not regenerated
        assert key_path(brand_a) != key_path(brand_b) and key_path(brand_a).exists()


class TestKey:
    def test_key_file_is_32_random_bytes_with_mode_0600_in_a_0700_folder(self, cache, tmp_path):
        key = mask_key(tmp_path)
        path = key_path(tmp_path)
        assert path.parent == cache / "mask-keys" and path.read_bytes() == key and len(key) == 32
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert str(tmp_path) not in path.name  # the file name does not say whose key it is
        assert list(path.parent.iterdir()) == [path]  # no temporary file left behind

    def test_a_second_run_never_replaces_an_existing_key(self, cache, tmp_path):
        from workbench.masking import _create_key_file

        first = mask_key(tmp_path)
        _create_key_file(key_path(tmp_path))  # what a run racing the first one does
        assert mask_key(tmp_path) == first

    def test_key_from_the_environment_overrides_the_file(self, cache, tmp_path, monkeypatch):
        monkeypatch.setenv("WORKBENCH_MASK_KEY", "e" * 64)
        ids = pd.Series(["C1"])
        assert mask_ids(ids, data_dir=tmp_path).equals(mask_ids(ids, "e" * 64))
        assert not key_path(tmp_path).exists()

    def test_a_short_key_in_the_environment_is_refused(self, cache, monkeypatch):
        monkeypatch.setenv("WORKBENCH_MASK_KEY", "hunter2")
        with pytest.raises(ParameterError, match="at least 32"):
            mask_ids(pd.Series(["C1"]))

    def test_a_key_file_readable_by_others_is_refused(self, cache, tmp_path):
        mask_key(tmp_path)
        key_path(tmp_path).chmod(0o644)
        with pytest.raises(ParameterError, match="chmod 600"):
            mask_key(tmp_path)

    def test_a_damaged_key_file_is_refused(self, cache, tmp_path):
        mask_key(tmp_path)
        key_path(tmp_path).write_bytes(b"short")
        with pytest.raises(ParameterError, match="damaged"):
            mask_key(tmp_path)

    def test_the_old_salt_variable_is_not_read_and_says_so(self, cache, tmp_path, monkeypatch):
        monkeypatch.setenv("WORKBENCH_MASK_SALT", "workbench")
        with pytest.warns(FutureWarning, match="WORKBENCH_MASK_KEY"):
            token = mask_ids(pd.Series(["C0000001"]), data_dir=tmp_path).iloc[0]
        assert token != old_unkeyed_token("C0000001")


class TestDictionaryAttack:
    def test_guessing_every_id_reverses_the_old_tokens_but_not_the_keyed_ones(self, report_brand, cache):
        folder, brand = report_brand
        ids = brand.tables["customers"]["customer_id"]
        assert len(ids) == 4_000 and ids.str.fullmatch(r"C\d{7}").all()
        # the attacker knows the id format (visible on any receipt) and enumerates it
        candidates = [f"C{i:07d}" for i in range(100_000)]

        old = ids.map(old_unkeyed_token)
        recovered = dictionary_attack(old, candidates, old_unkeyed_token)
        assert len(recovered) == 4_000 and all(recovered[t] == i for t, i in zip(old, ids))

        masked = mask_ids(ids, data_dir=folder / "data")
        assert masked.nunique() == 4_000
        guesses = [old_unkeyed_token,
                   lambda c: "C-" + hashlib.sha256(c.encode()).hexdigest()[:TOKEN_HEX_DIGITS],
                   *[lambda c, k=k: "C-" + hmac.new(k, c.encode(), "sha256").hexdigest()[:TOKEN_HEX_DIGITS]
                     for k in (b"", b"workbench", b"C-", str(folder / "data").encode())]]
        for guess in guesses:
            assert dictionary_attack(masked, candidates, guess) == {}


class TestTokenLength:
    def test_birthday_bound_matches_hand_arithmetic(self):
        # 2^20 ids, 40 bits: 2^20 (2^20 - 1) / 2 pairs / 2^40 ≈ 0.5 expected collisions → 1 - e^-0.5
        assert collision_probability(2**20, 40) == pytest.approx(1 - math.exp(-(2**20 - 1) / 2**21), rel=1e-12)
        assert collision_probability(20_000_000, 40) == pytest.approx(1.0)  # the old 10 hex digits
        assert collision_probability(20_000_000, 64) == pytest.approx(1.08e-5, rel=0.01)

    def test_80_bit_tokens_do_not_collide_at_20_million_ids(self):
        assert collision_probability(20_000_000, TOKEN_HEX_DIGITS * 4) < 1e-9
        tokens = mask_tokens(pd.Series(range(200_000)), b"z" * 32)
        assert tokens.nunique() == 200_000 and tokens.str.fullmatch(r"C-[0-9a-f]{20}").all()
