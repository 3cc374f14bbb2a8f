"""The pseudonym key: created on first use outside the database, the same for every host
of one database, refused when it is another; pseudonyms that link what they must."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bihuan.core.errors import ConfigError
from bihuan.core.privacy import privacy_for
from bihuan.core.pseudonyms import KEY_ENV, KEY_FILE_ENV, TAG, key_status, load_key, new_key
from bihuan.core.redaction import find_pii


def all_stored_text(engine: Engine) -> str:
    with engine.connect() as conn:
        return " ".join(str(row) for row in conn.execute(text("SELECT name, value FROM database_info")))


def test_the_key_is_created_on_first_use_outside_the_database(engine: Engine, _isolated_home: Path) -> None:
    pseudonymiser = load_key(engine)
    status = key_status(engine)
    path = _isolated_home / "keys" / f"{status.database_id}.key"
    assert status.source == str(path) and status.matches
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    key = path.read_text().strip()
    assert len(key) >= 32
    stored = all_stored_text(engine)
    assert key not in stored and pseudonymiser.fingerprint in stored  # which key, not what it is
    assert load_key(engine).customer("C1") == pseudonymiser.customer("C1")  # the same key next time


def test_one_customer_written_several_ways_gets_one_pseudonym(engine: Engine) -> None:
    privacy = privacy_for(engine)
    mobile = privacy.customer("13812345678")
    assert mobile.startswith("cref:") and "13812345678" not in mobile
    for written in ("+86 138-1234-5678", "138 1234 5678", "１３８１２３４５６７８", " 13812345678 "):
        assert privacy.customer(written) == mobile
    assert privacy.customer("13812345679") != mobile
    assert privacy.customer(mobile) == mobile  # a pseudonym stays itself
    # a quarantined payload holds the tag of the number; retried, it links to the original
    [tagged] = TAG.findall(privacy.pseudonymiser.tag("13812345678"))
    assert privacy.customer(f"[{tagged[0]} {tagged[1]}]") == mobile
    assert privacy.customer("C1001") != privacy.customer("c1001")  # references are compared as written
    assert privacy.customer("") is None and privacy.customer(None) is None


def test_tags_are_stable_hold_no_personal_data_and_are_idempotent(engine: Engine) -> None:
    privacy = privacy_for(engine)
    rng = random.Random(5)
    for _ in range(300):
        number = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
        value = f"order-{number}-x"
        tagged = privacy.key(value)
        assert number not in tagged and find_pii(tagged) == []
        assert privacy.key(tagged) == tagged and privacy.key(value) == tagged
    assert privacy.key("T-0001") == "T-0001"  # no personal data: unchanged


def test_an_identifier_too_long_once_tagged_becomes_one_pseudonym(engine: Engine) -> None:
    privacy = privacy_for(engine)
    value = "x" * 290 + "13812345678"
    stored = privacy.external_id(value)
    assert len(stored) <= 300 and "13812345678" not in stored and stored == privacy.external_id(value)


def test_another_host_without_the_key_is_refused_and_the_same_key_is_accepted(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path
) -> None:
    """A PostgreSQL team setup: hosts share the database, each has its own data dir."""
    first = load_key(engine)
    key = next((_isolated_home / "keys").glob("*.key")).read_text().strip()

    monkeypatch.setenv("BIHUAN_HOME", str(tmp_path / "host-b"))
    with pytest.raises(ConfigError, match=f"fingerprint {first.fingerprint}.*no key for it.*copy the key file"):
        load_key(engine)
    assert not (tmp_path / "host-b" / "keys").exists() or not any((tmp_path / "host-b" / "keys").iterdir())

    monkeypatch.setenv(KEY_ENV, "another-key-" + "x" * 40)
    with pytest.raises(ConfigError, match=f"is not this database's key \\(fingerprint {first.fingerprint}\\)"):
        load_key(engine)

    monkeypatch.setenv(KEY_ENV, key)
    assert load_key(engine).customer("13812345678") == first.customer("13812345678")

    monkeypatch.delenv(KEY_ENV)
    key_file = tmp_path / "shared.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    assert load_key(engine).fingerprint == first.fingerprint


def test_a_short_key_is_refused(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        load_key(engine)


def test_a_dry_run_on_a_database_without_a_key_writes_nothing(engine: Engine, _isolated_home: Path) -> None:
    pseudonymiser = load_key(engine, create=False)
    assert pseudonymiser.customer("C1").startswith("cref:")
    assert not (_isolated_home / "keys").exists()
    assert key_status(engine).expected is None


def test_a_lost_key_is_replaced_by_a_new_one_that_no_longer_links(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = load_key(engine)
    monkeypatch.setenv("BIHUAN_HOME", str(tmp_path / "new-host"))  # the key file is gone
    with pytest.raises(ConfigError):
        load_key(engine)
    fresh, source = new_key(engine)
    assert Path(source).exists() and fresh.fingerprint != old.fingerprint
    assert load_key(engine).fingerprint == fresh.fingerprint
    assert fresh.customer("13812345678") != old.customer("13812345678")


def test_the_key_file_is_not_readable_by_others(engine: Engine, _isolated_home: Path) -> None:
    load_key(engine)
    [path] = (_isolated_home / "keys").glob("*.key")
    assert os.stat(path).st_mode & 0o077 == 0
