"""TLS towards the target: certificates are always verified, against the system store plus an
optional CA bundle for private CAs.

- `ca_bundle_problem(path)` / `read_ca_bundle(path)`: a CA bundle must be a readable file of PEM
  certificates (odavl-perf:targetCaBundle, `python -m loadtests run --ca-bundle`, RunConfig's
  `ca_bundle`). Its text travels to every Locust process inside the suite configuration
  (`SuiteConfig.ca_bundle_pem`), so a worker pod needs no file of its own.
- `verified_context(ca_pem)`: the SSL context the suite's HTTP users connect with
  (loadtests/suite/user_base.py): certificate and host name checked, system CAs plus the bundle.
- `tls_problem(url, ca_pem)`: the runner's check before it starts any Locust process. A target
  whose certificate does not verify makes the run "failed" with this reason before a single
  request (let alone a test user's password) is sent.

Pure standard library, no gevent: the runner and the settings validation import it too.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from loadtests.errors import ConfigError

__all__ = ["ca_bundle_problem", "read_ca_bundle", "tls_problem", "verified_context"]

PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
EXPECTED_BUNDLE = "a readable file of PEM-encoded CA certificates"
HANDSHAKE_TIMEOUT_S = 10.0
PRIVATE_CA_HINT = "a private CA is trusted with odavl-perf:targetCaBundle or --ca-bundle"


def _bundle_text(path: str) -> tuple[str, str | None]:
    """(PEM text, None) or ("", why the file is not a CA bundle)."""
    file = Path(path)
    if not file.is_file():
        return "", f"{EXPECTED_BUNDLE} (no such file)"
    try:
        text = file.read_bytes().decode("ascii")
    except OSError as exc:
        return "", f"{EXPECTED_BUNDLE} (cannot read it: {exc.strerror})"
    except UnicodeDecodeError:
        return "", f"{EXPECTED_BUNDLE} (it is not PEM text)"
    if PEM_CERTIFICATE not in text:
        return "", f"{EXPECTED_BUNDLE} (it holds no {PEM_CERTIFICATE} block)"
    try:
        ssl.create_default_context().load_verify_locations(cadata=text)
    except ssl.SSLError as exc:
        return "", f"{EXPECTED_BUNDLE} (its certificates do not parse: {exc.reason or exc})"
    return text, None


def ca_bundle_problem(path: str) -> str | None:
    """What `path` would have to be as a CA bundle, or None when it is one."""
    return _bundle_text(path)[1]


def read_ca_bundle(path: str, key: str = "target.ca_bundle") -> str:
    """The bundle's PEM text; raises ConfigError naming `key`, the path and the expected form."""
    text, problem = _bundle_text(path)
    if problem:
        raise ConfigError(f"{key}: {path!r}: expected {problem}")
    return text


def verified_context(
    ca_pem: str = "", factory: Callable[[], ssl.SSLContext] = ssl.create_default_context
) -> ssl.SSLContext:
    """A client context that verifies the certificate and host name against the system's CAs
    and the PEM certificates in `ca_pem`. `factory` builds the base context (gevent's inside
    Locust workers, so the handshake does not block the other users)."""
    context = factory()
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    return context


def tls_problem(url: str, ca_pem: str = "", timeout_s: float = HANDSHAKE_TIMEOUT_S) -> str | None:
    """Why an https `url`'s certificate is refused, or None (plain http, or it verifies).

    Only a TLS handshake is made, no HTTP request. An unreachable target is not a TLS problem:
    the run goes ahead and reports its connection errors as failed requests.
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    host, port = parts.hostname, parts.port or 443
    context = verified_context(ca_pem)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout_s) as sock,
            context.wrap_socket(sock, server_hostname=host),
        ):
            pass
    except ssl.SSLCertVerificationError as exc:
        return (
            f"TLS: the certificate of {host}:{port} does not verify ({exc.verify_message}); "
            f"no request was sent to the target ({PRIVATE_CA_HINT})"
        )
    except ssl.SSLError as exc:
        return f"TLS: the handshake with {host}:{port} failed ({exc.reason or exc}); no request was sent"
    except OSError:
        return None
    return None
