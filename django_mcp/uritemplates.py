"""RFC 6570 URI templates, levels 1 and 2: expansion and matching.

MCP resource templates such as ``library://books/{id}`` are matched against the
URIs clients read. Supported expressions:

- ``{var}`` simple string expansion (level 1): the value is percent-encoded, so
  it never contains ``/``, ``?`` or ``#``; it matches one path segment.
- ``{+var}`` reserved expansion (level 2): reserved characters stay as they
  are, so ``file:///{+path}`` matches ``file:///a/b/c``.
- ``{#var}`` fragment expansion (level 2): ``#`` followed by a reserved
  expansion.

Each expression names one variable. Operators of level 3 and 4 (``?``, ``/``,
``.``, ``;``, ``&``, lists and modifiers) are refused when the template is
registered, so no template silently fails to match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

_EXPRESSION = re.compile(r"\{([^{}]*)\}")
_VARIABLE = re.compile(r"^[A-Za-z0-9_]+$")
#: Characters a reserved expansion leaves unencoded (RFC 6570 section 1.5).
_RESERVED = ":/?#[]@!$&'()*+,;=%"


class TemplateError(ValueError):
    """A template uses syntax this module does not support."""


@dataclass(frozen=True)
class UriTemplate:
    """A parsed template; build with :meth:`parse`."""

    template: str
    variables: tuple[str, ...]
    _regex: re.Pattern[str] = field(repr=False, compare=False)
    _parts: tuple[tuple[str, str | None, str], ...] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, template: str) -> UriTemplate:
        pattern = ["^"]
        parts: list[tuple[str, str | None, str]] = []
        variables: list[str] = []
        position = 0
        for expression in _EXPRESSION.finditer(template):
            literal = template[position : expression.start()]
            if "{" in literal or "}" in literal:
                raise TemplateError(f"Unbalanced braces in URI template {template!r}")
            pattern.append(re.escape(literal))
            body = expression.group(1)
            operator = body[:1] if body[:1] in ("+", "#") else ""
            name = body[len(operator) :]
            if not _VARIABLE.match(name):
                raise TemplateError(
                    f"Unsupported expression {{{body}}} in URI template {template!r}: only "
                    "{var}, {+var} and {#var} with one variable each are supported"
                )
            if name in variables:
                raise TemplateError(f"Variable {name!r} appears twice in {template!r}")
            variables.append(name)
            if operator == "":
                pattern.append(f"(?P<{name}>[^/?#]+)")
            elif operator == "+":
                pattern.append(f"(?P<{name}>.+?)")
            else:
                pattern.append(f"\\#(?P<{name}>.+?)")
            parts.append((literal, operator, name))
            position = expression.end()
        tail = template[position:]
        if "{" in tail or "}" in tail:
            raise TemplateError(f"Unbalanced braces in URI template {template!r}")
        pattern.append(re.escape(tail) + "$")
        parts.append((tail, None, ""))
        return cls(template, tuple(variables), re.compile("".join(pattern)), tuple(parts))

    @property
    def is_template(self) -> bool:
        """Whether the string has any expression (else it is a plain URI)."""
        return bool(self.variables)

    def match(self, uri: str) -> dict[str, str] | None:
        """The variables of ``uri`` (percent-decoded), or ``None`` if it does not match."""
        found = self._regex.match(uri)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}

    def expand(self, **values: object) -> str:
        """The URI for these values; every variable must be given."""
        missing = [name for name in self.variables if name not in values]
        if missing:
            raise TemplateError(f"Missing value for {', '.join(missing)} in {self.template!r}")
        out: list[str] = []
        for literal, operator, name in self._parts:
            out.append(literal)
            if operator is None:
                continue
            text = str(values[name])
            if operator == "":
                out.append(quote(text, safe=""))
            else:
                out.append(("#" if operator == "#" else "") + quote(text, safe=_RESERVED))
        return "".join(out)
