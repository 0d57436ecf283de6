"""Front matter reads the same with libyaml's CSafeLoader (what imlgit uses) and the
pure-Python SafeLoader (its fallback): the same values and types, and the same
RuleError, file and line, for every malformed or refused input."""

from __future__ import annotations

import pytest
import yaml

from imlgit import frontmatter
from imlgit.errors import RuleError

pytestmark = pytest.mark.skipif(
    not getattr(yaml, "__with_libyaml__", False), reason="PyYAML without libyaml"
)

PURE = frontmatter._bounded(yaml.SafeLoader)
FRONTS = {
    "a rule": "id: r-a\ntitle: A rule\nsupport: 3\nprecision: 0.75\nsources: [e-1, e-2]\n",
    "types": "a: 2026-11-27\nb: 2026-11-27T08:00:00Z\nc: yes\nd: null\ne: 0x1f\nf: 1e3\ng: '007'\n",
    "nested when": "when:\n  - {field: weight, op: '>', value: 30}\n  - {field: text, value: x}\n",
    "a duplicate key": "id: r-a\ntitle: x\nid: r-b\n",
    "a duplicate key, nested": "when:\n  a: 1\n  a: 2\n",
    "a list as a key": "? [a, b]\n: 1\n",
    "an anchor": "a: &x 1\nb: *x\n",
    "nesting too deep": "a: " + "[" * 40 + "]" * 40 + "\n",
    "a long number": "a: " + "9" * 200 + "\n",
    "a bad date": "created: 2026-99-99\n",
    "an unclosed quote": "title: 'open\nid: r-a\n",
    "a tab indent": "when:\n\t- a\n",
    "a bad indent": "a:\n  b: 1\n c: 2\n",
    "a control character": "title: bell \x07 here\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "a bare list": "- a\n- b\n",
    "an unknown tag": "a: !!python/object:os.system x\n",
}


def _read(front: str, bounded: object = None) -> object:
    try:
        value = frontmatter._load_front(front, "rules/r-a.md", bounded)
    except RuleError as exc:
        return ("RuleError", str(exc), exc.path, exc.line)
    meta = value[0]
    return value, [type(v).__name__ for v in (meta.values() if isinstance(meta, dict) else meta)]


# the parsers word these problems differently; the file and line are the same
WORDED_APART = {"a tab indent", "a bad indent", "a control character"}


@pytest.mark.parametrize("name", list(FRONTS))
def test_libyaml_and_pure_python_read_front_matter_alike(name: str) -> None:
    ours, pure = _read(FRONTS[name]), _read(FRONTS[name], PURE)
    if name in WORDED_APART:
        assert isinstance(ours, tuple) and ours[0] == "RuleError"
        assert ours[2:] == pure[2:] and ours[1].split(": ")[0] == pure[1].split(": ")[0]
    else:
        assert ours == pure


def test_a_control_character_is_a_rule_error_with_its_line_on_both() -> None:
    # the pure-Python loader's Reader checks characters when it is made, which was
    # before _load_front's error handling (parse_rule refuses control characters
    # first, so through it this was never seen)
    for bounded in (None, PURE):
        with pytest.raises(RuleError) as info:
            frontmatter._load_front("id: r-a\ntitle: bell \x07 here\n", "rules/r-a.md", bounded)
        assert (info.value.path, info.value.line) == ("rules/r-a.md", 3)


def test_the_loader_in_use_is_libyamls() -> None:
    assert issubclass(frontmatter._FrontMatterLoader, yaml.CSafeLoader)
