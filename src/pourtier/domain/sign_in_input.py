"""The Sign-In-With-Solana text as Wallet Standard's `solana:signIn` writes it.

A wallet asked to sign in builds the text itself from a `SolanaSignInInput`,
so the server must read exactly the layout wallets write
(`createSignInMessageText` of `@solana/wallet-standard-util`): a header line,
the address, then an optional statement and optional fields, each section
after a blank line. `SignInInput` is that grammar, every field as the text
says it; which fields a message must carry for this server is said where
messages are checked (`SignInMessage.parse`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from pourtier.domain.errors import AuthenticationFailed

MAX_MESSAGE_BYTES = 2048
HEADER_SUFFIX = " wants you to sign in with your Solana account:"
RESOURCES = "Resources:"
LABELS = {
    "uri": "URI",
    "version": "Version",
    "chain_id": "Chain ID",
    "nonce": "Nonce",
    "issued_at": "Issued At",
    "expiration_time": "Expiration Time",
    "not_before": "Not Before",
    "request_id": "Request ID",
}
"""The one-line fields, in the order the text must give them."""


def _layout(reason: str) -> AuthenticationFailed:
    return AuthenticationFailed("message_format", reason)


@dataclass(frozen=True)
class SignInInput:
    """What a wallet is asked to sign (`SolanaSignInInput`), or what a text says.

    `address` is None only in an input for a wallet to fill in; a text always
    has one. An absent field is None; the statement and values may be empty
    strings (a wallet would leave an empty statement out; we never issue one).
    """

    domain: str
    address: str | None = None
    statement: str | None = None
    uri: str | None = None
    version: str | None = None
    chain_id: str | None = None
    nonce: str | None = None
    issued_at: str | None = None
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] | None = None

    def field_lines(self) -> list[str]:
        lines = [
            f"{label}: {value}"
            for name, label in LABELS.items()
            if (value := getattr(self, name)) is not None
        ]
        if self.resources is not None:
            lines += [RESOURCES, *(f"- {resource}" for resource in self.resources)]
        return lines

    def render(self) -> str:
        if self.address is None:
            raise ValueError("a sign-in text needs the wallet's address")
        lines = [f"{self.domain}{HEADER_SUFFIX}", self.address]
        if self.statement is not None:
            lines += ["", self.statement]
        if fields_ := self.field_lines():
            lines += ["", *fields_]
        return "\n".join(lines)

    def present(self) -> dict[str, str | tuple[str, ...]]:
        """The fields it has, by name: absent ones are not asked for."""
        return {
            item.name: value
            for item in fields(self)
            if (value := getattr(self, item.name)) is not None
        }

    @classmethod
    def parse(cls, text: str) -> SignInInput:
        """Strictly: the layout above and nothing else, fields in their order,
        no line the grammar does not name, no trailing newline."""
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise _layout("message is not valid UTF-8 text") from None
        if size > MAX_MESSAGE_BYTES:
            raise AuthenticationFailed(
                "message_size", f"message exceeds {MAX_MESSAGE_BYTES} bytes"
            )
        lines = text.split("\n")
        if len(lines) < 2:
            raise _layout("message layout is not SIWS")
        if not lines[0].endswith(HEADER_SUFFIX):
            raise _layout("missing SIWS header line")
        header, address, *rest = lines
        statement, field_lines = _sections(rest)
        return cls(
            domain=header[: -len(HEADER_SUFFIX)],
            address=address,
            statement=statement,
            resources=_resources(field_lines),
            **_parse_fields(field_lines),
        )


def _sections(rest: list[str]) -> tuple[str | None, list[str]]:
    """What follows the address: nothing, or a blank line then a statement,
    the fields, or both with a blank line between. A lone line shaped like a
    field is that field, as the reference parser reads it."""
    if not rest:
        return None, []
    if rest[0] != "":
        raise _layout("expected a blank line after the address")
    if len(rest) == 2 and rest[1] and not _is_field_line(rest[1]):
        return rest[1], []
    if len(rest) >= 3 and rest[2] == "":
        statement, field_lines = rest[1], rest[3:]
    else:
        statement, field_lines = None, rest[1:]
    if not field_lines:
        raise _layout("a blank line ends the message")
    return statement, field_lines


def _is_field_line(line: str) -> bool:
    return line == RESOURCES or any(
        line.startswith(f"{label}: ") for label in LABELS.values()
    )


def _resources(lines: list[str]) -> tuple[str, ...] | None:
    """The '- ' lines after 'Resources:', which ends the message."""
    if RESOURCES not in lines:
        return None
    items = lines[lines.index(RESOURCES) + 1 :]
    if not all(item.startswith("- ") for item in items):
        raise _layout("each resource must be a '- ' line")
    return tuple(item[2:] for item in items)


def _parse_fields(lines: list[str]) -> dict[str, str]:
    """The one-line fields, each known, once, in order, before Resources."""
    found: dict[str, str] = {}
    order = list(LABELS.items())
    position = 0
    for line in lines:
        if line == RESOURCES:
            return found
        for offset, (name, label) in enumerate(order[position:]):
            prefix = f"{label}: "
            if line.startswith(prefix):
                found[name] = line[len(prefix) :]
                position += offset + 1
                break
        else:
            if _is_field_line(line):
                raise _layout(f"'{line.split(':')[0]}' is out of order or repeated")
            raise _layout("unexpected line in the message")
    return found
