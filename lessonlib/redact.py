"""Never show a key: find key-shaped text and show its shape instead (``sk-proj-…(52 chars)``).

Used for every message lessonlib prints and for everything record mode writes to disk.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["KEY_LIKE", "key_shape", "hide_keys", "scrub_text", "scrub_url"]

# Anything shaped like a provider key, also when glued to other text (LESSON_MODE=livesk-proj-...). A bare sk- glued
# to a word counts only when it looks random (a capital and a digit; a real key of 48 random characters lacks one
# about once in 7,000): "flask-openai-proxy-server" is a host name.
KEY_LIKE = re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}|sk-(?:proj-|svcacct-|admin-)[A-Za-z0-9_\-]{16,}"
                      r"|(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{16,}"
                      r"|sk-(?=[A-Za-z0-9_\-]*[A-Z])(?=[A-Za-z0-9_\-]*[0-9])[A-Za-z0-9_\-]{16,}")
# Ids that name the account, which record mode also drops with their headers (openai-organization...): OpenAI quotes
# its org-... or proj_... in a 429 or 403 message, Anthropic its organization's uuid in a 429 message.
ACCOUNT_ID = re.compile(r"\b(?:org-|proj_)[A-Za-z0-9]{20,}"
                        r"|(?:(?<=organization \()|(?<=org: ))[0-9a-f]{8}-[0-9a-f-]{27}")
_PREFIX = re.compile(r"sk-(?:ant-(?:api\d\d-|admin\d\d-)?|proj-|svcacct-|admin-)?")
_SECRET_PARAM = re.compile(r"key|token|secret|auth|sig|pass|cred", re.I)


def key_shape(value: str) -> str:
    """How a key-shaped value may be shown: its prefix and its length, never its secret part."""
    prefix = _PREFIX.match(value)
    return f"{prefix.group(0) if prefix else ''}…({len(value)} chars)"


def hide_keys(text: str) -> str:
    """``text`` with every key-shaped piece replaced by its shape."""
    return KEY_LIKE.sub(lambda m: key_shape(m.group(0)), text)


def scrub_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace every known secret, anything shaped like an API key and account ids with ``REDACTED`` (for files)."""
    for secret in (s for s in secrets if s and len(s) >= 8):  # shorter ones would also hit ordinary words
        text = text.replace(secret, "REDACTED")
    return ACCOUNT_ID.sub("REDACTED", KEY_LIKE.sub("REDACTED", text))


def scrub_url(url: str, secrets: tuple[str, ...] = ()) -> str:
    """A URL without its ``user:password@`` and with secret-looking query values replaced by ``REDACTED``."""
    parts = urlsplit(url)
    query = "&".join(
        f"{k}=REDACTED" if v and _SECRET_PARAM.search(k) else f"{k}{sep}{v}"
        for k, sep, v in (p.partition("=") for p in parts.query.split("&") if p)
    )
    url = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, query, parts.fragment))
    return scrub_text(url, secrets)
