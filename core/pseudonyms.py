"""Keyed pseudonyms: personal data the pipeline must still be able to compare.

A customer reference (often a mobile or ID number in Chinese systems), an id that holds
a phone number, a file name with one: the pipeline cannot store them, and cannot simply
blank them either — repeat contacts, 回访 follow-ups and re-imports need to know that two
records name the same customer or the same record. So they are replaced by an
HMAC-SHA256 of the value under a secret key: the same value always gives the same
pseudonym in one database, and nobody without the key can tell whose it is or test a
guess (an unkeyed hash of a mobile number is reversed by trying the ~10⁹ numbers).

* :meth:`Pseudonymiser.customer` — a whole customer reference: ``cref:`` and 20
  letters. Numbers are compared as numbers: ``138-1234-5678``, ``+86 13812345678`` and
  ``１３８１２３４５６７８`` are one customer.
* :meth:`Pseudonymiser.tag` — each piece of personal data *inside* a string (an id, a
  source or file name, a state key) becomes ``[手机号 <20 letters>]``; the rest stays.

Pseudonyms are written in the letters a–p only (80 bits of the HMAC in hex, its digits as
letters), so no pattern of :mod:`bihuan.core.redaction` ever finds personal data in one:
tagging is idempotent.

**Where the key lives** (never in the database), first match wins:

1. ``$BIHUAN_PSEUDONYM_KEY`` — the key itself (at least 32 characters);
2. ``$BIHUAN_PSEUDONYM_KEY_FILE`` — a file holding it;
3. ``<data dir>/keys/<database id>.key`` — created on first use, by the first import
   into the database or the upgrade of one that holds rows (permissions 0600, folder
   0700); the data dir is ``$BIHUAN_HOME`` or the user data dir.

The database records its id and the key's *fingerprint* (an HMAC of a constant: it says
which key, not what it is). A key with another fingerprint is refused — imports from a
host with the wrong key would stop linking customers silently — and so is a database with
a fingerprint but no key on this host. Every host that writes into one PostgreSQL
database needs the same key: copy the key file, or set the same ``BIHUAN_PSEUDONYM_KEY``.

**A lost key** cannot be recovered from the database. ``bihuan privacy new-key`` starts
a new one: what is stored stays as it is, but new records no longer link to old ones (a
customer who wrote before gets a new pseudonym; an id holding personal data gets a new
pseudonym, so a re-import stores such records again).
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from bihuan.core.errors import ConfigError
from bihuan.core.redaction import REDACTION_TOKENS, PiiMatch, digits_of, find_pii
from bihuan.storage import privacy_queries
from bihuan.storage.engine import data_dir, session_scope

log = logging.getLogger(__name__)

KEY_ENV = "BIHUAN_PSEUDONYM_KEY"
KEY_FILE_ENV = "BIHUAN_PSEUDONYM_KEY_FILE"
#: ``database_info`` rows
DATABASE_ID = "database_id"
FINGERPRINT = "pseudonym_key_fingerprint"
MIN_KEY_CHARS = 32
#: the prefix of a customer pseudonym
CUSTOMER_PREFIX = "cref:"
_DIGEST_CHARS = 20  # 80 bits of the HMAC, in hex written with letters
# hex digits as the letters a–p: a pseudonym holds no digit, so no rule of
# bihuan.core.redaction can ever find personal data in one (and hex() is C, base32 is not)
_HEX_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")
_LABELS = {kind: token[1:-1] for kind, token in REDACTION_TOKENS.items()}
#: a tag :meth:`Pseudonymiser.tag` writes
TAG = re.compile(rf"\[({'|'.join(_LABELS.values())}) ([a-p]{{{_DIGEST_CHARS}}})\]")
CUSTOMER = re.compile(rf"{CUSTOMER_PREFIX}[a-p]{{{_DIGEST_CHARS}}}")
_CACHE_MAX = 65_536


def key_directory() -> Path:
    """Where key files are created: ``<data dir>/keys``."""
    return data_dir() / "keys"


def key_file_for(database_id: str) -> Path:
    return key_directory() / f"{database_id}.key"


def fingerprint_of(key: str) -> str:
    """What the database records about a key: which one it is, not what it is."""
    return hmac.new(key.encode(), b"bihuan pseudonym key fingerprint v1", sha256).hexdigest()[:16]


class Pseudonymiser:
    """Keyed pseudonyms under one key (see the module docstring)."""

    def __init__(self, key: str) -> None:
        self._key = key.encode()
        self.fingerprint = fingerprint_of(key)
        self._customers: dict[str, str] = {}
        self._tags: dict[str, str] = {}

    def digest(self, value: str) -> str:
        """80 bits of HMAC-SHA256(key, value), as 20 letters a–p."""
        raw = hmac.digest(self._key, value.encode("utf-8", "surrogatepass"), "sha256")
        return raw[:10].hex().translate(_HEX_AS_LETTERS)

    def _digest_of(self, kind: str, span: str) -> str:
        return self.digest(f"{kind}:{normalised(kind, span)}")

    def tag(self, text: str) -> str:
        """``text`` with each piece of personal data replaced by ``[<kind> <pseudonym>]``."""
        cached = self._tags.get(text)
        if cached is not None:
            return cached
        matches = find_pii(text)
        tagged = text if not matches else _replace(text, matches, self._tag_of)
        if len(self._tags) >= _CACHE_MAX:
            self._tags.clear()
        self._tags[text] = tagged
        return tagged

    def _tag_of(self, kind: str, span: str) -> str:
        return f"[{_LABELS[kind]} {self._digest_of(kind, span)}]"

    def customer(self, value: str) -> str:
        """The pseudonym of a customer reference (idempotent: a pseudonym stays itself,
        and a tagged value — from a quarantined payload — gets the pseudonym its
        original would have had)."""
        cached = self._customers.get(value)
        if cached is not None:
            return cached
        result = self._customer(value)
        if len(self._customers) >= _CACHE_MAX:
            self._customers.clear()
        self._customers[value] = result
        return result

    def _customer(self, value: str) -> str:
        text = (value if value.isascii() else unicodedata.normalize("NFKC", value)).strip()
        if CUSTOMER.fullmatch(text):
            return text
        tagged = TAG.fullmatch(text)
        if tagged:
            return CUSTOMER_PREFIX + tagged.group(2)
        matches = find_pii(text)
        if len(matches) == 1 and matches[0].start == 0 and matches[0].end == len(text):
            return CUSTOMER_PREFIX + self._digest_of(matches[0].kind, text)
        return CUSTOMER_PREFIX + self.digest(f"ref:{text}")


def normalised(kind: str, span: str) -> str:
    """The form a piece of personal data is pseudonymised in, so that one number written
    two ways gets one pseudonym."""
    if kind == "mobile":
        return digits_of(span).lstrip("+")[-11:]
    if kind in ("landline", "bank_card", "account", "resident_id"):
        return digits_of(span).upper()
    if kind == "email":
        return unicodedata.normalize("NFKC", span).lower()
    return unicodedata.normalize("NFKC", span).strip()


def _replace(text: str, matches: list[PiiMatch], make: Callable[[str, str], str]) -> str:
    parts: list[str] = []
    position = 0
    for match in matches:
        parts.append(text[position : match.start])
        parts.append(make(match.kind, text[match.start : match.end]))
        position = match.end
    parts.append(text[position:])
    return "".join(parts)


# ── the key ───────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class KeyStatus:
    """Where this host's key for a database comes from, and what the database expects."""

    database_id: str | None
    #: the fingerprint the database records (``None``: no personal data pseudonymised yet)
    expected: str | None
    #: ``$BIHUAN_PSEUDONYM_KEY``, ``$BIHUAN_PSEUDONYM_KEY_FILE`` or the key file's path
    source: str | None
    #: the fingerprint of the key found on this host (``None``: none found)
    found: str | None

    @property
    def matches(self) -> bool:
        return self.found is not None and self.found == self.expected


def _read_key_file(path: Path, what: str) -> str:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read the pseudonym key ({exc.strerror})") from None
    _check_key(key, f"{what} {path}")
    if os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("%s: the pseudonym key file can be read by other users; chmod 600 it", path)
    return key


def _check_key(key: str, where: str) -> None:
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(
            f"{where}: a pseudonym key needs at least {MIN_KEY_CHARS} characters (e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )


def _configured_key(database_id: str | None) -> tuple[str | None, str | None]:
    """``(key, where it came from)`` on this host, or ``(None, where it would be)``."""
    env = os.environ.get(KEY_ENV)
    if env:
        key = env.strip()
        _check_key(key, f"${KEY_ENV}")
        return key, f"${KEY_ENV}"
    named = os.environ.get(KEY_FILE_ENV)
    if named:
        path = Path(named).expanduser()
        return _read_key_file(path, f"${KEY_FILE_ENV}"), str(path)
    if database_id is None:
        return None, None
    path = key_file_for(database_id)
    if path.exists():
        return _read_key_file(path, "key file"), str(path)
    return None, str(path)


def key_status(engine: Engine) -> KeyStatus:
    """What :func:`load_key` would find, without creating anything."""
    with session_scope(engine) as session:
        database_id = privacy_queries.get_info(DATABASE_ID, session=session)
        expected = privacy_queries.get_info(FINGERPRINT, session=session)
    key, source = _configured_key(database_id)
    return KeyStatus(database_id, expected, source, fingerprint_of(key) if key else None)


def _create_key_file(path: Path) -> str:
    """A new random key in a new file (0600; its folder 0700); raises FileExistsError."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as f:
        f.write(key + "\n")
    return key


def _missing_key(expected: str, source: str | None) -> ConfigError:
    where = f"put the key file at {source}" if source and not source.startswith("$") else "install the key file"
    return ConfigError(
        f"this database's personal data is pseudonymised with the key of fingerprint {expected}, and this host "
        f"has no key for it: copy the key file from the host that first wrote to the database and {where}, or "
        f"set ${KEY_ENV} to the same key. If the key is lost, `bihuan privacy new-key` starts a new one "
        "(new records will not link to old ones)."
    )


def _wrong_key(expected: str, found: str, source: str | None) -> ConfigError:
    return ConfigError(
        f"the pseudonym key from {source} (fingerprint {found}) is not this database's key (fingerprint "
        f"{expected}): every host that writes to one database needs the same key. Use the key of the host that "
        f"first wrote to it; `bihuan privacy status` shows where each host's key comes from."
    )


#: called in the transaction that records a new key's fingerprint (the existing rows' pass)
FirstUse = Callable[[Session, Pseudonymiser], None]


def load_key(engine: Engine, *, create: bool = True, on_first_use: FirstUse | None = None) -> Pseudonymiser:
    """The pseudonymiser for the database behind ``engine``.

    :param create: when the database has no key yet, create one (and its key file) and
        record its fingerprint; ``False`` (a dry run) returns a throw-away key instead and
        writes nothing.
    :param on_first_use: run in the transaction that records a new key's fingerprint
        (protecting the rows stored before), so that nothing is written with the key
        before they are.
    :raises ConfigError: the database expects a key this host does not have, or another.
    """
    status = key_status(engine)
    if status.expected is not None:
        if status.found is None:
            raise _missing_key(status.expected, status.source)
        if not status.matches:
            raise _wrong_key(status.expected, status.found, status.source)
        key, _ = _configured_key(status.database_id)
        assert key is not None
        return Pseudonymiser(key)
    if not create:
        key, _ = _configured_key(status.database_id)
        return Pseudonymiser(key or secrets.token_urlsafe(32))
    return _first_use(engine, status.database_id, on_first_use)


def _first_use(engine: Engine, database_id: str | None, on_first_use: FirstUse | None) -> Pseudonymiser:
    if database_id is None:
        with session_scope(engine, write=True) as session:
            database_id = privacy_queries.insert_info(DATABASE_ID, uuid.uuid4().hex, session=session)
    key, source = _configured_key(database_id)
    created: Path | None = None
    if key is None:
        path = key_file_for(database_id)
        try:
            key = _create_key_file(path)
            created = path
            log.warning("created the pseudonym key %s: back it up; every host that writes here needs it", path)
        except FileExistsError:  # another process on this host was first
            key = _read_key_file(path, "key file")
        source = str(path)
    pseudonymiser = Pseudonymiser(key)
    try:
        with session_scope(engine, write=True) as session:
            recorded = privacy_queries.insert_info(FINGERPRINT, pseudonymiser.fingerprint, session=session)
            if recorded != pseudonymiser.fingerprint:
                raise _wrong_key(recorded, pseudonymiser.fingerprint, source)
            if on_first_use is not None:
                on_first_use(session, pseudonymiser)
    except BaseException:
        if created is not None:
            created.unlink(missing_ok=True)  # never leave a key the database does not know
        raise
    return pseudonymiser


def new_key(engine: Engine) -> tuple[Pseudonymiser, str]:
    """Start a new key for a database whose key is lost: a new key file (or the key in
    ``$BIHUAN_PSEUDONYM_KEY``), its fingerprint recorded. Returns it and where it is."""
    with session_scope(engine, write=True) as session:
        database_id = privacy_queries.insert_info(DATABASE_ID, uuid.uuid4().hex, session=session)
    key, source = (
        _configured_key(database_id) if os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV) else (None, None)
    )
    if key is None:
        path = key_file_for(database_id)
        if path.exists():
            path.replace(path.with_suffix(f".key.old-{uuid.uuid4().hex[:8]}"))
        key, source = _create_key_file(path), str(path)
    pseudonymiser = Pseudonymiser(key)
    with session_scope(engine, write=True) as session:
        privacy_queries.set_info(FINGERPRINT, pseudonymiser.fingerprint, session=session)
    return pseudonymiser, str(source)
