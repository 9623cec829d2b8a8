"""What counts as a secret, in one place: names, URL parts and environment values.

Every part of salesplan that masks or refuses secrets uses these definitions: the source
error messages (:mod:`salesplan.data.sources`), the parameters stored with each plan run
(:mod:`salesplan.data.store`), the notebook-parameter check
(:mod:`salesplan.reports.params`) and the plan runner (:mod:`salesplan.reports.runner`).

* **A secret name** (a parameter name, a stored-parameter key, a URL query key) contains
  ``password``/``passwd``/``passphrase``/``pass``, ``pwd``, ``secret``, ``token``,
  ``credential``, ``api_key``/``apikey``, ``access_key``, ``private_key`` (any case), or
  ends in ``key`` after ``_``/``-``/``.`` or at the start (``key``, ``secret_key``), or in
  a camel-case ``Key`` (``apiKey``).  ``key_account_share`` is not a secret name.
* **A URL's secrets** are the password of its user info (``scheme://user:PASSWORD@host``)
  and the values of query keys that are secret names (``?token=...``).
* **Secret values from the environment** are the values (3 characters or more) of
  :data:`SECRET_ENV_VARS`, also in their URL-quoted form.

Masking replaces a secret by :data:`MASK`; when in doubt, more is masked rather than less.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from urllib.parse import quote

__all__ = [
    "MASK",
    "SECRET_ENV_VARS",
    "env_secret_values",
    "is_secret_name",
    "query_has_secret",
    "redact_url",
    "scrub",
]

#: What a masked secret reads as.
MASK = "***"
#: Environment variables whose values are secrets (database passwords).
SECRET_ENV_VARS: tuple[str, ...] = ("PGPASSWORD", "SALESPLAN_DB_PASSWORD")
#: Shortest environment value treated as a secret (shorter ones would mask ordinary text).
MIN_SECRET_LENGTH = 3

_NAME = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|credential|api_?key|access_?key|private_?key"
    r"|(?:^|[_\-.])key$|(?-i:[a-z0-9]Key)$"
)
SECRET_NAME_RE = re.compile(f"(?i)(?:{_NAME})")
_QUERY_RE = re.compile(r"([?&;])([^=&;#?]*)=([^&;#]*)")
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")
_MAX_MESSAGE = 1500


def is_secret_name(name) -> bool:
    """True when ``name`` names a secret (module docstring), e.g. ``db_password``, ``apiKey``."""
    return bool(SECRET_NAME_RE.search(str(name)))


def query_has_secret(url: str) -> bool:
    """True when the query string of ``url`` has a key that is a secret name (``?token=x``)."""
    return any(is_secret_name(m.group(2)) for m in _QUERY_RE.finditer(str(url)))


def redact_url(url: str) -> str:
    """Return ``url`` with its password and secret query values replaced by ``***``.

    Parameters
    ----------
    url : str
        Any URL or path, e.g. ``postgresql+psycopg://planner:s3cret@db:5432/erp``.

    Returns
    -------
    str
        ``postgresql+psycopg://planner:***@db:5432/erp``.  A URL without a password is
        returned unchanged apart from the values of secret query keys (``?token=***``).
    """
    out = str(url)
    sep = out.find("://")
    if sep >= 0:
        head, rest = out[: sep + 3], out[sep + 3 :]
        at = rest.rfind("@")
        if at >= 0:
            userinfo, tail = rest[:at], rest[at:]
            colon = userinfo.find(":")
            if colon >= 0:
                userinfo = userinfo[: colon + 1] + MASK
            out = head + userinfo + tail
    return _QUERY_RE.sub(
        lambda m: f"{m.group(1)}{m.group(2)}={MASK if is_secret_name(m.group(2)) else m.group(3)}",
        out,
    )


def env_secret_values(extra: Sequence[str] = ()) -> list[str]:
    """Secret values to mask: ``extra`` and the :data:`SECRET_ENV_VARS` values, longest first.

    Values shorter than :data:`MIN_SECRET_LENGTH` are left out; each value is followed by
    its URL-quoted form when that differs (``p@ss`` -> ``p%40ss``).
    """
    out: list[str] = []
    for v in [*extra, *(os.environ.get(k, "") for k in SECRET_ENV_VARS)]:
        if v and len(v) >= MIN_SECRET_LENGTH and v not in out:
            out.append(v)
            q = quote(v, safe="")
            if q != v and q not in out:
                out.append(q)
    return sorted(out, key=len, reverse=True)


def scrub(text: str, secrets: Sequence[str] = (), *, max_len: int | None = _MAX_MESSAGE) -> str:
    """Mask ``secrets``, the environment's secret values and every URL's secrets in ``text``.

    The result is cut at ``max_len`` characters (``None``: not cut) with ``...[truncated]``.
    """
    text = str(text)
    for s in env_secret_values(secrets):
        text = text.replace(s, MASK)
    text = _URL_RE.sub(lambda m: redact_url(m.group(0)), text)
    if max_len is not None and len(text) > max_len:
        text = text[:max_len] + " ...[truncated]"
    return text
