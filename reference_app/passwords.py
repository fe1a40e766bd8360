"""Password hashing with the standard library's scrypt.

Encoded form: ``scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>``; the parameters travel
with the hash so they can be raised later without invalidating stored passwords. Every stored
hash and the login's dummy hash use the same (default) parameters: a check against a cheaper
hash would answer faster and tell which accounts exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

__all__ = ["DEFAULT_N", "DEFAULT_P", "DEFAULT_R", "hash_parameters", "hash_password", "verify_password"]

# The cost every hash of this app uses (about 13 ms here). The app is the load tests' stand-in
# target and holds synthetic accounts only; the suite's baselines were measured with logins at
# this cost, and 2**14 (about 55 ms) would make a burst of logins the slowest thing under test.
DEFAULT_N = 2**12
DEFAULT_R = 8
DEFAULT_P = 1
_DKLEN = 32
_MAXMEM = 64 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(
    password: str, *, salt: bytes | None = None, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P
) -> str:
    """Hash `password`; `salt` defaults to 16 random bytes (pass one only for reproducible seeds)."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=_MAXMEM)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def hash_parameters(encoded: str) -> tuple[int, int, int] | None:
    """The scrypt cost (n, r, p) of an encoded hash, or None when it is not one."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        return int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        return None


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches `encoded`; False for a wrong password or a malformed hash."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=_MAXMEM,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)
