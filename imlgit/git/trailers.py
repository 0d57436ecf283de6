"""Git trailers, read as ``git interpret-trailers --parse`` reads them.

The parsing is dulwich's (:func:`dulwich.trailers.parse_trailers`): the last
paragraph, when every line of it is ``Key: value`` or the continuation of one
(a line starting with white space, folded into the value with one space). Two
places where dulwich 1.2 reads differently from git are set right here, each
checked against git by tests/test_commits_trailers.py:

- git's patch divider is the first line that is ``---`` followed by white space
  or the end of the line; dulwich cuts at the last line that starts, after any
  indentation, with ``---`` (so a ``----`` rule in a rationale hid every trailer);
- git's key is letters, digits and ``-``; a paragraph holding a line whose key
  has anything else (``Ke_y: v``) is not a trailer block for git;
- git's block is the last paragraph; dulwich lets an indented paragraph after it
  count as its continuation.

Not followed (no message imlgit writes has them, and dulwich ignores them too):
git's 25% rule for blocks with a ``Signed-off-by``-style trailer among prose,
``Key : value`` with a space before the colon, and ``#`` comment lines.
"""

from __future__ import annotations

import re

from dulwich.trailers import parse_trailers

__all__ = ["split_trailers"]

_DIVIDER = re.compile(r"^---[ \t\n\v\f\r]", re.M)  # git: starts_with "---" && isspace
_DASHES = re.compile(r"^([ \t\v\f\r]*)---", re.M)
_KEY = re.compile(r"[A-Za-z0-9-]+\Z")
_MASKS = "\ue000\ue001\ue002\ue003"  # private-use characters, for the dashes dulwich must not see


def split_trailers(message: str) -> tuple[str, list[tuple[str, str]]]:
    """``message`` without its trailer block, and the trailers as ``(key, value)``.

    Continuation lines are folded into their trailer's value as git does. A
    message with no trailer block comes back whole, with no trailers. Text after
    a patch divider (``---``) stays in the first part.
    """
    text = message.replace("\r\n", "\n")
    divider = _DIVIDER.search(text)
    head, tail = (text[: divider.start()], text[divider.start() :]) if divider else (text, "")
    mask = next((m for m in _MASKS if m not in head), None)
    if mask is None:  # all four in the text: nothing written by imlgit or a person
        return text, []
    masked = _DASHES.sub(lambda m: m.group(1) + mask + "--", head)
    rest, found = parse_trailers(masked.encode("utf-8", "replace"))
    if not found or not all(_KEY.match(t.key) for t in found):
        return text, []
    body = rest.decode("utf-8")
    # The block (without the blank lines around it) is the last paragraph or nothing.
    block = masked[len(body) :].strip(" \t\n\v\f\r")
    if any(not line.strip() for line in block.split("\n")):
        return text, []
    body = body.replace(mask, "-")
    trailers = [(t.key, t.value.replace(mask, "-")) for t in found]
    return body + tail, trailers
