"""Notebook parameters: validation with readable errors, and the no-secrets rule.

Every planning notebook has one cell tagged ``parameters`` and validates it in the next
cell::

    from salesplan.reports import Param, check_parameters
    check_parameters(
        dict(period=period, source=source, min_history_quarters=min_history_quarters),
        {
            "period": Param(str, pattern=PERIOD_PATTERN, help="plan quarter such as 2027Q1"),
            "source": Param(str, help="data source URL"),
            "min_history_quarters": Param(int, min=4, max=40, unit="quarters"),
        },
    )

Secrets never go into notebook parameters: executed notebooks keep their parameters
(papermill's injected cell and metadata) and are saved next to the reports.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from salesplan.data.secrets import is_secret_name

__all__ = [
    "PERIOD_PATTERN",
    "Param",
    "ParameterError",
    "SecretParameterError",
    "check_no_secrets",
    "check_parameters",
    "is_secret_name",
    "url_has_password",
]

#: A plan quarter: four-digit year, ``Q``, quarter number.
PERIOD_PATTERN = r"^\d{4}Q[1-4]$"

_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/@\s:]*:([^/@\s]+)@")
_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")

ENV_HINT = (
    "put it in the environment instead: PGPASSWORD, or SALESPLAN_DB_PASSWORD written as "
    "${SALESPLAN_DB_PASSWORD} in the source URL"
)


class ParameterError(ValueError):
    """One or more notebook parameters are invalid; the message lists each of them."""


class SecretParameterError(ParameterError):
    """A parameter looks like a password or token; secrets go through the environment."""


def url_has_password(value: Any) -> bool:
    """True when ``value`` is text holding a URL with a literal password.

    ``postgresql://u:${SALESPLAN_DB_PASSWORD}@h/db`` (an environment reference) is fine.
    """
    if not isinstance(value, str):
        return False
    for m in _URL_PASSWORD.finditer(value):
        if not _ENV_REF.match(m.group(1)):
            return True
    return False


def check_no_secrets(params: Mapping[str, Any]) -> None:
    """Refuse parameters that would save a secret into a notebook.

    Raises
    ------
    SecretParameterError
        For a name that looks like a secret (password, token, secret, api_key, ...) or a
        text value holding a URL with a literal password.
    """
    problems = []
    for name, value in params.items():
        if is_secret_name(name):
            problems.append(
                f"parameter {name!r} looks like a secret; notebook parameters are saved in "
                f"the executed notebooks, so {ENV_HINT}"
            )
        elif _walk_has_password(value):
            problems.append(
                f"parameter {name!r} holds a URL with a password; {ENV_HINT}"
            )
    if problems:
        raise SecretParameterError("; ".join(problems))


def _walk_has_password(value: Any) -> bool:
    if isinstance(value, str):
        return url_has_password(value)
    if isinstance(value, Mapping):
        return any(_walk_has_password(v) for v in value.values())
    if isinstance(value, (list, tuple, set)):
        return any(_walk_has_password(v) for v in value)
    return False


_TYPE_WORDS = {str: "text", int: "a whole number", float: "a number", bool: "true or false",
               list: "a list", dict: "a mapping"}


@dataclass(frozen=True)
class Param:
    """What one notebook parameter may hold.

    Parameters
    ----------
    type : type or tuple of types
        ``str``, ``int``, ``float`` (ints accepted), ``bool``, ``list``, ``dict``.
    min, max : float, optional
        Inclusive bounds for numbers.
    choices : sequence, optional
        Allowed values.
    pattern : str, optional
        Regular expression text must match (``re.fullmatch``-like with ``^...$``).
    optional : bool, default False
        ``None`` is allowed.
    unit : str
        Unit shown in the error message ("fraction of plan", "days", ...).
    help : str
        What the parameter means, shown in the error message.
    """

    type: Any = str
    min: float | None = None
    max: float | None = None
    choices: Sequence[Any] | None = None
    pattern: str | None = None
    optional: bool = False
    unit: str = ""
    help: str = ""

    def expected(self) -> str:
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        words = " or ".join(_TYPE_WORDS.get(t, getattr(t, "__name__", str(t))) for t in types)
        if self.min is not None and self.max is not None:
            words += f" between {self.min:g} and {self.max:g}"
        elif self.min is not None:
            words += f" >= {self.min:g}"
        elif self.max is not None:
            words += f" <= {self.max:g}"
        if self.unit:
            words += f" ({self.unit})"
        if self.choices is not None:
            words += f" among {list(self.choices)}"
        if self.pattern is not None:
            words += f" matching {self.pattern}"
        if self.optional:
            words += ", or None"
        if self.help:
            words += f": {self.help}"
        return words

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or ``None``."""
        if value is None:
            return None if self.optional else "is missing (None)"
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        ok = False
        for t in types:
            if t is float:
                ok |= isinstance(value, Real) and not isinstance(value, bool)
            elif t is int:
                ok |= isinstance(value, Integral) and not isinstance(value, bool)
            else:
                ok |= isinstance(value, t)
        if not ok:
            return f"has the wrong type ({type(value).__name__})"
        if isinstance(value, Real) and not isinstance(value, bool):
            if math.isnan(value):
                return "is NaN"
            if self.min is not None and value < self.min:
                return "is too small"
            if self.max is not None and value > self.max:
                return "is too large"
        if self.choices is not None and value not in self.choices:
            return "is not an allowed value"
        if self.pattern is not None and not (
            isinstance(value, str) and re.search(self.pattern, value)
        ):
            return "does not have the expected form"
        return None


def check_parameters(values: Mapping[str, Any], spec: Mapping[str, Param | Mapping]) -> None:
    """Validate notebook parameters against ``spec``; raise once listing every problem.

    Parameters
    ----------
    values : mapping
        Parameter name -> value (e.g. ``dict(period=period, ...)`` in the notebook).
    spec : mapping
        Parameter name -> :class:`Param` (or a dict of its fields).

    Raises
    ------
    SecretParameterError
        A parameter looks like a password/token (see :func:`check_no_secrets`).
    ParameterError
        ``parameter 'x' = 1.5 is too large; expected a number between 0 and 1 (fraction
        of plan): ...``, one clause per bad parameter, plus unknown/missing names.
    """
    check_no_secrets(values)
    problems = []
    for name, p in spec.items():
        p = p if isinstance(p, Param) else Param(**p)
        if name not in values:
            problems.append(f"parameter {name!r} is missing; expected {p.expected()}")
            continue
        why = p.problem(values[name])
        if why:
            problems.append(f"parameter {name!r} = {values[name]!r} {why}; expected {p.expected()}")
    unknown = sorted(set(values) - set(spec))
    if unknown:
        problems.append(f"unknown parameter(s) {unknown}; known: {sorted(spec)}")
    if problems:
        raise ParameterError("; ".join(problems))
