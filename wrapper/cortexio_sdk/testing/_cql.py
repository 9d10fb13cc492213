"""A tiny subset of CQL, enough to select entities from the fake's catalog.

Grammar (keywords and field names are case-insensitive; values are compared exactly)::

    query      := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := primary ("and" primary)*
    primary    := "(" or_expr ")" | comparison
    comparison := FIELD ("=" | "==" | "!=") STRING
                | FIELD ["not"] "in" "(" STRING ("," STRING)* ")"
    FIELD      := "name" | "tag" | "type" | "description"
    STRING     := '...' | "..."          (a backslash escapes the next character)

Examples: ``tag = 'payments-api'``, ``type = 'service' and (tag = 'a' or tag != 'b')``,
``type in ('database', 'cache')``.

Why a hand-written recursive-descent parser: CQL (Cortex Query Language) has no published grammar
and no library parses it, and this subset is a few dozen lines. Writing it by hand keeps the fake
free of dependencies and lets every error say exactly what was expected, and where, which is what
the server's 400 ILLEGAL_ARGUMENT_ERROR message carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from ._catalog import Entity

__all__ = ["FIELDS", "CQLError", "Predicate", "parse_cql", "select"]

FIELDS = ("description", "name", "tag", "type")


class CQLError(ValueError):
    """A query the fake cannot parse; `position` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at column {position + 1})")
        self.position = position


class Predicate(Protocol):
    """A parsed query: tells whether an entity matches."""

    def matches(self, entity: Entity) -> bool: ...


@dataclass(frozen=True)
class Comparison:
    field: str
    negated: bool
    values: tuple[str, ...]

    def matches(self, entity: Entity) -> bool:
        value = getattr(entity, self.field)
        return (value in self.values) != self.negated


@dataclass(frozen=True)
class And:
    parts: tuple[Predicate, ...]

    def matches(self, entity: Entity) -> bool:
        return all(part.matches(entity) for part in self.parts)


@dataclass(frozen=True)
class Or:
    parts: tuple[Predicate, ...]

    def matches(self, entity: Entity) -> bool:
        return any(part.matches(entity) for part in self.parts)


def parse_cql(text: str) -> Predicate:
    """Parse a query of the subset above, or raise CQLError naming the problem and its column."""
    return _Parser(list(_tokens(text))).parse()


def select(predicate: Predicate, catalog: Iterable[Entity]) -> list[Entity]:
    """The entities of the catalog that the query selects, in catalog order."""
    return [entity for entity in catalog if predicate.matches(entity)]


# --- tokens ---

Kind = Literal["word", "string", "op", "(", ")", ",", "end"]


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # the word, the operator, or the string's value without quotes
    position: int

    def shown(self) -> str:
        if self.kind == "end":
            return "the end of the query"
        if self.kind == "string":
            return f"the string {self.text!r}"
        return repr(self.text)


def _tokens(text: str) -> Iterable[Token]:
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "(),":
            yield Token(char, char, i)  # type: ignore[arg-type]  # char is one of the three
            i += 1
        elif text.startswith(("==", "!="), i):
            yield Token("op", text[i : i + 2], i)
            i += 2
        elif char == "=":
            yield Token("op", "=", i)
            i += 1
        elif char in "'\"":
            value, end = _string(text, i)
            yield Token("string", value, i)
            i = end
        elif char.isalpha() or char == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_.-"):
                i += 1
            yield Token("word", text[start:i], start)
        else:
            raise CQLError(f"unexpected character {char!r}", i)
    yield Token("end", "", n)


def _string(text: str, start: int) -> tuple[str, int]:
    """The value of the quoted string that starts at `start`, and the offset just after it."""
    quote, chars, i = text[start], [], start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            chars.append(text[i + 1])
            i += 2
        elif char == quote:
            return "".join(chars), i + 1
        else:
            chars.append(char)
            i += 1
    raise CQLError(f"unterminated string: no closing {quote} for the one opened here", start)


# --- parser ---


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0

    @property
    def _next(self) -> Token:
        return self._tokens[self._index]

    def _kind(self) -> Kind:
        """The next token's kind (a call, so that type checkers do not narrow it across takes)."""
        return self._tokens[self._index].kind

    def _take(self) -> Token:
        token = self._next
        if token.kind != "end":
            self._index += 1
        return token

    def _at_keyword(self, word: str) -> bool:
        return self._kind() == "word" and self._next.text.lower() == word

    def _expect(self, kind: Kind, what: str) -> Token:
        if self._kind() != kind:
            raise CQLError(f"expected {what}, found {self._next.shown()}", self._next.position)
        return self._take()

    def parse(self) -> Predicate:
        if self._kind() == "end":
            raise CQLError("the query is empty", 0)
        predicate = self._or()
        if self._kind() != "end":
            raise CQLError(
                f"expected 'and', 'or' or the end of the query, found {self._next.shown()}",
                self._next.position,
            )
        return predicate

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._at_keyword("or"):
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def _and(self) -> Predicate:
        parts = [self._primary()]
        while self._at_keyword("and"):
            self._take()
            parts.append(self._primary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _primary(self) -> Predicate:
        if self._kind() == "(":
            opening = self._take()
            inner = self._or()
            if self._kind() != ")":
                raise CQLError(
                    f"expected ')' to close the '(' at column {opening.position + 1}, "
                    f"found {self._next.shown()}",
                    self._next.position,
                )
            self._take()
            return inner
        return self._comparison()

    def _comparison(self) -> Comparison:
        token = self._next
        if token.kind != "word" or token.text.lower() in {"and", "or", "in", "not"}:
            raise CQLError(
                f"expected a field ({', '.join(FIELDS)}) or '(', found {token.shown()}",
                token.position,
            )
        field = token.text.lower()
        if field not in FIELDS:
            raise CQLError(
                f"unknown field {token.text!r}; this fake understands {', '.join(FIELDS)} "
                f"compared with =, != or in",
                token.position,
            )
        self._take()
        if self._kind() == "op":
            negated = self._take().text == "!="
            return Comparison(field, negated, (self._value(field),))
        negated = False
        if self._at_keyword("not"):
            self._take()
            negated = True
            if not self._at_keyword("in"):
                raise CQLError(
                    f"expected 'in' after 'not', found {self._next.shown()}", self._next.position
                )
        if self._at_keyword("in"):
            self._take()
            self._expect("(", "'(' to open the list of values after 'in'")
            values = [self._value(field)]
            while self._kind() == ",":
                self._take()
                values.append(self._value(field))
            self._expect(")", "',' or ')' in the list of values")
            return Comparison(field, negated, tuple(values))
        raise CQLError(
            f"expected '=', '!=' or 'in' after {token.text!r}, found {self._next.shown()}",
            self._next.position,
        )

    def _value(self, field: str) -> str:
        token = self._next
        if token.kind != "string":
            hint = f" (quote values: {field} = {token.text!r})" if token.kind == "word" else ""
            raise CQLError(f"expected a quoted string, found {token.shown()}{hint}", token.position)
        return self._take().text
