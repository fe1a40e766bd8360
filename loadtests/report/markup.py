"""Untrusted text (abort reasons, error texts from the target, names from a results document)
made inert for the two markup languages the notifications are written in.

- Slack mrkdwn: `&`, `<` and `>` become entities, so `<!channel>` or `<http://evil|click>`
  show as typed instead of pinging the channel or hiding a link (Slack's own escaping rule).
- GitHub Markdown: text made of letters, digits and a few harmless punctuation marks stays as
  it is; anything else becomes a code span, inside which GitHub renders no link, image, HTML,
  emphasis, @mention or #reference. The text is put on one line first, so it cannot end the
  list item or table row it sits in.
"""

from __future__ import annotations

import re

__all__ = ["md_literal", "slack_escape"]

# No Markdown meaning anywhere inside a line, and no GitHub autolink, mention or reference.
_PLAIN = re.compile(r"[^\W_]+(?:[ .,;:=+%()'\"/-]+[^\W_]+)*[.)%]?")
_AUTOLINK_HINTS = ("://", "www.")


def slack_escape(text: object) -> str:
    """`text` for a Slack mrkdwn field: the three control characters as entities."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_literal(text: object, *, in_table: bool = False) -> str:
    """`text` shown literally in GitHub Markdown: unchanged when harmless, else a code span.

    in_table: the span sits in a table cell, where GFM splits cells at `|` even inside code
    spans, so pipes are escaped there (GitHub shows them as `|`).
    """
    value = " ".join(str(text).split())
    if not value:
        return ""
    lowered = value.lower()
    if _PLAIN.fullmatch(value) and not any(hint in lowered for hint in _AUTOLINK_HINTS):
        return value
    if in_table:
        value = value.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    # A span that starts or ends with a backtick needs a space inside its fences (CommonMark).
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"
