"""The one home of constants and small helpers that several stages share."""

from __future__ import annotations

import contextlib
import os
import re
import reprlib
import string
import unicodedata
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from digest.errors import Refused
from digest.i18n import N_

if TYPE_CHECKING:
    import smtplib

# Gmail clips an HTML part near here (folklore, measured between 102 and 105 KB): the hard limit of every check.
CLIP_BYTES = 102_000
# Headroom under the clip point for an ESP's link rewriting and tracking: the warning line.
WARN_BYTES = 90_000

# Stands where each recipient's unsubscribe URL goes; replaced in the encoded message per recipient.
UNSUBSCRIBE_PLACEHOLDER = "https://unsubscribe.invalid/DIGEST-UNSUBSCRIBE-TOKEN"
# Stands where each recipient's preferences URL goes: the same token as the unsubscribe URL, on its own page.
PREFERENCES_PLACEHOLDER = "https://preferences.invalid/DIGEST-PREFERENCES-TOKEN"

# A display name longer than this is not a name: it would only serve to push header lines past what relays take.
NAME_MAX = 200

# RFC 5322 dot-atom local part; quoted local parts and address literals are legal but never seen in real lists.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def ascii_digits(text: str) -> bool:
    """Whether the text is a number written in ASCII digits, as every date and status we read is: str.isdigit()
    also takes '²', which int() refuses, and '٣', which int() reads as 3. For anything a stranger sends."""
    return text.isascii() and text.isdigit()


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 article', '3 articles' (or the given plural form)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def atomic_write(path: Path, data: str | bytes, sync: bool = True) -> None:
    """Write a file so that a reader (or a crash) sees the old content or the new, never a part of it.

    `sync=False` skips the fsync: still whole or absent after a killed process or a full disk, for files that can
    be made again (a power cut may then leave the old content)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def close_smtp(conn: smtplib.SMTP | None) -> None:
    """Say QUIT when the relay still listens; otherwise just drop the connection."""
    if conn is None:
        return
    # imported here: ~4.5 ms, ssl's included, of every command that loads the config (python -X importtime)
    import smtplib

    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        conn.close()


def preferences_url_of(unsubscribe_url: str) -> str:
    """A reader's preferences page, from their unsubscribe URL: one token opens both (`/unsubscribe/T` →
    `/preferences/T`); a page without a token (the archive's `/unsubscribe`) gives the page without one."""
    base, found, token = unsubscribe_url.rpartition("/unsubscribe/")
    if found:
        return f"{base}/preferences/{token}"
    return unsubscribe_url.removesuffix("/unsubscribe") + "/preferences"


def check_address(text: str) -> str:
    """The address, trimmed and with its domain lower-cased; ValueError says what is wrong with it."""
    address = text.strip()
    if not address:
        raise Refused(N_("the address is empty"))
    shown = repr(_shorten(address))  # a stranger's 5,000 characters are not all said back
    if not address.isprintable() or any(c.isspace() for c in address) or any(c in address for c in '<>"(),:;[]\\'):
        raise Refused(
            N_("%(address)s is not a bare address (no spaces, names, brackets or control characters)"),
            address=shown,
        )
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise Refused(N_("%(address)s lacks a local part, an @ and a domain"), address=shown)
    if not address.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise Refused(
                N_("%(address)s has a domain that is not a valid internationalized name"), address=shown
            ) from None
        if not local.isascii():
            raise Refused(
                N_("%(address)s has a non-ASCII local part, which needs SMTPUTF8 (not supported)"), address=shown
            )
    if len(local) > 64 or not _LOCAL.match(local):
        raise Refused(N_("%(address)s has an invalid local part before the @"), address=shown)
    labels = domain.rstrip(".").split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise Refused(N_("%(address)s has an invalid domain (expected a name such as example.org)"), address=shown)
    normalized = f"{local}@{'.'.join(labels).lower()}"
    if len(normalized) > 254:
        raise Refused(N_("%(address)s is longer than the 254 characters an address may have"), address=shown)
    return normalized


# An RFC 2047 encoded word: inside a quoted display name it is text, but lenient readers (Python's own
# email.policy.default among them) decode it, and "=?utf-8?q?Eve=0D=0ABcc:…?=" becomes a line break and a header.
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bq]\?[^?\s]*\?=", re.IGNORECASE)


def check_name(text: str) -> str:
    """A person's display name, trimmed; ValueError for control characters (CR, LF, ESC…) or an absurd length.

    Names reach mail headers and terminals: a line break in one would add headers to every message sent to
    that person, an escape sequence would rewrite the editor's screen. Refusing is clearer than silently
    changing what the person typed.
    """
    name = text.strip()
    bad = next((c for c in name if _control(c)), None)
    if bad is not None:
        raise Refused(
            N_("the name %(name)s holds a control character (U+%(code)s); names are one line"),
            name=repr(_shorten(name)),
            code=f"{ord(bad):04X}",
        )
    if len(name) > NAME_MAX:
        raise Refused(
            N_("the name %(name)s is longer than %(limit)d characters"), name=repr(_shorten(name)), limit=NAME_MAX
        )
    if _ENCODED_WORD.search(name):
        raise Refused(
            N_(
                "the name %(name)s holds an encoded word (=?…?=), which mail programs would decode into other "
                "text; write the name itself"
            ),
            name=repr(_shorten(name)),
        )
    return name


def safe_name(text: str) -> str:
    """A name from any source made fit for one header line: control characters become spaces, length capped."""
    cleaned = "".join(" " if _control(c) else c for c in text)
    cleaned = _ENCODED_WORD.sub(lambda word: word.group().replace("=?", "= ?"), cleaned)
    return " ".join(cleaned.split())[:NAME_MAX]


def printable(text: str) -> str:
    """Text fit for one line of a terminal: control characters (escape sequences, line breaks, tabs, bidi
    overrides) are shown as escapes such as \\x1b, so that no stored value can rewrite the screen or add a row."""
    if text.isprintable():
        return text
    return "".join(c.encode("unicode_escape").decode("ascii") if _control(c) else c for c in text)


def _control(char: str) -> bool:
    # C0/C1 controls and line/paragraph separators, the bidi overrides that make a name display as another, and
    # lone surrogates (a JSON body's "\ud800"), which no encoding can store or send.
    return (
        unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp")
        or "\u202a" <= char <= "\u202e"
        or "\u2066" <= char <= "\u2069"
    )


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def control_char(text: str, allowed: str = "") -> str | None:
    """The first control character (C0, C1, line or paragraph separator, bidi override) not in `allowed`."""
    return next((c for c in text if c not in allowed and _control(c)), None)


def describe_char(char: str) -> str:
    """'U+000A (a line break)': how an error names a character that cannot be shown as itself."""
    kind = " (a line break)" if char in "\r\n\u2028\u2029\x85" else " (an escape)" if char == "\x1b" else ""
    return f"U+{ord(char):04X}{kind}"


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4
_SHORT.maxlevel = 3


def shorten(value: object, limit: int = 60) -> str:
    """A value as an error quotes it: its repr, cut to `limit` characters without ever expanding all of it."""
    text = _SHORT.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# What config values and editors' texts may hold: each check returns the value or raises ValueError saying why.

SUBJECT_FIELDS = ("title", "date", "issue", "sections")


def one_line(value: str) -> str:
    """Text that goes into a mail header: a line break would start a header of its own, an escape garble it."""
    bad = control_char(value)
    if bad is not None:
        raise ValueError(
            f"expected one line of text but received {shorten(value)} holding {describe_char(bad)}; "
            "it goes into mail headers, so it may hold no line break or control character"
        )
    return value


def email_text(value: str) -> str:
    """Text shown in the email: lines are fine, other control characters would break the MJML compiler."""
    bad = control_char(value, allowed="\n\t")
    if bad is not None:
        raise ValueError(
            f"expected text but received {shorten(value)} holding the control character {describe_char(bad)}; remove it"
        )
    return value


def subject_fields(template: str) -> set[str]:
    """The placeholders a (checked) subject template names."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def subject_template(value: str) -> str:
    """Only {title}, {date}, {issue} and {sections}, each plain: the subject is formatted with them at every
    build."""
    try:
        fields = [(n, spec, conv) for _, n, spec, conv in string.Formatter().parse(value) if n is not None]
    except ValueError as error:  # "{title" unclosed, a lone "}"
        raise ValueError(
            f"{shorten(value)} is not a valid template ({error}); use {{title}}, {{date}}, {{issue}} and "
            "{sections}, and write {{ or }} for a literal brace"
        ) from None
    for name, spec, conversion in fields:
        if name not in SUBJECT_FIELDS or spec or conversion:
            raise ValueError(
                f"{shorten('{' + name + '}')} is not a placeholder digest fills in; use {{title}}, {{date}}, "
                "{issue} or {sections}, and write {{ or }} for a literal brace"
            )
    return one_line(value)


def header_address(value: str) -> str:
    """A From or Reply-To value: an address, with or without a name."""
    if "@" not in parseaddr(value)[1]:
        raise ValueError(f"expected an address such as 'Name <news@example.org>' but received {shorten(value)}")
    return value


def origin(value: str) -> str:
    """A web origin, scheme and host only (https://www.example.org), as a browser names the page a form is on."""
    if not re.fullmatch(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?", value.lower()):
        raise ValueError(f"expected an origin such as https://www.example.org but received {shorten(value)}")
    return value.lower()  # as a browser writes it in an Origin header


def bare_address(value: str) -> str:
    """An address alone (an envelope recipient, a mailto:), as check_address reads it."""
    try:
        return check_address(value)
    except ValueError as error:
        raise ValueError(f"expected a bare address such as name@example.org: {clip(str(error))}") from None


def imap_folder(value: str) -> str:
    """An IMAP folder name as digest quotes it into a command: printable ASCII without quotes, backslashes or
    wildcards (other characters need IMAP's modified UTF-7, not worth it for a folder the operator names)."""
    plain = value.isascii() and value.isprintable() and not any(c in value for c in '"\\%*')
    if not value or len(value) > 200 or not plain:
        raise ValueError(
            "expected a folder name of printable ASCII without quotes, backslashes, % or * but received "
            + shorten(value)
        )
    return value


def clip(text: str, limit: int = 200) -> str:
    """A message cut to `limit` characters: a sentence quoting an error must stay a sentence."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# YAML that editors write (config.yaml, corrections): a few hundred values. Aliases may make a short file stand
# for billions of them (the "billion laughs"), which every later step would walk: refuse far past real use.
YAML_MAX_VALUES = 100_000
YAML_MAX_CHARS = 10_000_000


# libyaml's parser when PyYAML was built with it: the same documents, ten times faster than the Python one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlRefused(ValueError):
    """YAML that parses but is refused: aliases that expand too far or into themselves, or nesting too deep."""


def load_yaml(text: str) -> Any:
    """yaml.safe_load, refusing documents whose aliases expand past YAML_MAX_VALUES values or YAML_MAX_CHARS
    characters (checked on the parsed node graph, before anything is built from it); yaml.YAMLError for bad
    syntax, YamlRefused for the rest."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except RecursionError:
        raise YamlRefused("it is nested too deeply (hundreds of levels)") from None
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Count what the node graph expands to, each shared node once (so the count itself cannot explode)."""
    done: dict[int, tuple[int, int]] = {}
    open_: set[int] = set()  # the nodes on the path being walked: meeting one again is a loop
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_counted = stack.pop()
        key = id(node)
        if children_counted:
            values, chars = 1, 0
            for child in _children(node):
                values, chars = values + done[id(child)][0], chars + done[id(child)][1]
            if values > YAML_MAX_VALUES or chars > YAML_MAX_CHARS:
                raise YamlRefused(
                    f"its aliases (*name) expand to more than {YAML_MAX_VALUES:,} values or "
                    f"{YAML_MAX_CHARS:,} characters (line {node.start_mark.line + 1}); write the values out instead"
                )
            done[key] = (values, chars)
            open_.discard(key)
        elif key in done:
            continue
        elif key in open_:
            raise YamlRefused(f"an alias at line {node.start_mark.line + 1} makes a value contain itself")
        elif isinstance(node, yaml.ScalarNode):
            done[key] = (1, len(node.value))
        else:
            open_.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in done)


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def check_state_target(state: str) -> str:
    """`state:` is a SQLite file, or a PostgreSQL URL without a password (secrets come from the environment)."""
    from urllib.parse import urlsplit

    if not state.strip():
        raise ValueError("expected a file such as digest.db or a URL such as postgresql://digest@db.example.org/digest")
    if not state.startswith(POSTGRES_SCHEMES):
        if "://" in state:
            raise ValueError(f"expected a file or a postgresql:// URL but received {shorten(state)}")
        return state
    try:
        parts = urlsplit(state)
        parts.port  # noqa: B018 - reading it checks it
    except ValueError as error:
        raise ValueError(f"the URL {shorten(state)} cannot be read ({error})") from None
    if parts.password is not None:
        raise ValueError(
            "the URL holds a password; remove it and set DIGEST_DATABASE_PASSWORD (or use a ~/.pgpass or service "
            "file) instead"
        )
    if any(c in state for c in "\r\n\t "):
        raise ValueError(f"the URL {shorten(state)} holds a space or a line break")
    return state
