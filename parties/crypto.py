"""Personal data at rest: ID and phone numbers are stored encrypted (Fernet, several keys through MultiFernet so
that keys rotate) and found by exact value through a keyed hash (HMAC-SHA256) of the normalised value.

Keys come from settings (``GOVGRID_FIELD_KEYS``: the first encrypts, every one decrypts; ``GOVGRID_HMAC_KEY``).
Nothing here logs or returns a value it was not asked for; callers store the token, the hash and the mask only.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@lru_cache(maxsize=4)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    if not keys:
        raise ImproperlyConfigured("GOVGRID_FIELD_KEYS is empty.")
    try:
        each = [Fernet(k.strip().encode()) for k in keys]
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "GOVGRID_FIELD_KEYS holds a key that is not a Fernet key (32 url-safe base64-encoded bytes)."
        ) from exc
    return MultiFernet(each), each[0]


def _keys() -> tuple[str, ...]:
    return tuple(k for k in settings.GOVGRID_FIELD_KEYS if k.strip())


def encrypt(value: str) -> str:
    """The Fernet token of ``value`` under the first key ("" for an empty value)."""
    if not value:
        return ""
    return _fernets(_keys())[0].encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """The plain value of a token made under any of the configured keys."""
    if not token:
        return ""
    try:
        return _fernets(_keys())[0].decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored value cannot be decrypted with GOVGRID_FIELD_KEYS: a key that encrypted it is missing."
        ) from exc


def is_current(token: str) -> bool:
    """Was ``token`` made under the first (current) key? Rotation re-encrypts the others."""
    if not token:
        return True
    try:
        _fernets(_keys())[1].decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """The token re-encrypted under the first key (MultiFernet.rotate)."""
    if not token:
        return ""
    return _fernets(_keys())[0].rotate(token.encode()).decode()


def digest(kind: str, value: str) -> str:
    """Keyed hash of a normalised value, for exact search; ``kind`` ("id", "phone") keeps the spaces apart."""
    if not value:
        return ""
    key = settings.GOVGRID_HMAC_KEY.encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def clear_cache() -> None:
    _fernets.cache_clear()
