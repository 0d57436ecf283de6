"""YAML front matter read safely: libyaml's loader where PyYAML has it, with bounds.

A rule file's front matter is data from anyone who can push: no aliases or
anchors, at most ``MAX_YAML_DEPTH`` levels of nesting (checked over the parser's
events before the composer, which is recursive), numbers of at most
``MAX_NUMBER_CHARS`` characters, unique keys, and every error a
:class:`~imlgit.errors.RuleError` with the file and line. :mod:`imlgit.rules`
parses a rule with it.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import RuleError

MAX_YAML_DEPTH = 16  # the deepest valid field, a list of condition mappings, is 3
MAX_NUMBER_CHARS = 64  # int("9" * 5000) raises; no counter needs more than this


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


_YAMLFail = yaml.constructor.ConstructorError


# libyaml's loader where PyYAML was built with it (every wheel is): parse_rule of a
# checkable rule 153 us against 1,419 with the pure-Python loader, the same bounds
# and constructors on both (`python bench/rules_bench.py`; 673 us before this loader,
# when the bounds were checked inside the pure-Python composer).
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise _YAMLFail(
                None, None, "a key must be a name, not a list or mapping", key_node.start_mark
            )
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise _YAMLFail(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _construct_number(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    if len(node.value) > MAX_NUMBER_CHARS:
        raise _YAMLFail(
            None,
            None,
            f"a number of {len(node.value)} characters (at most {MAX_NUMBER_CHARS})",
            node.start_mark,
        )
    if node.tag.endswith(":int"):
        return loader.construct_yaml_int(node)
    return loader.construct_yaml_float(node)


def _bounded(base: Any) -> Any:
    """The front-matter loader built on ``base`` (libyaml's CSafeLoader or the
    pure-Python SafeLoader: the same bounds and constructors on both)."""

    class _FrontMatterLoader(base):
        """A SafeLoader bounded for untrusted front matter.

        Nesting is limited and anchors and aliases are refused (no rule needs them, and
        they expand exponentially) by :func:`_check_events`, before any node is composed;
        a key is a scalar given once; a number has at most ``MAX_NUMBER_CHARS``
        characters; and any value a constructor cannot build is a YAML error at its mark.
        """

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return yaml.constructor.BaseConstructor.construct_object(self, node, deep=deep)
            except (ValueError, TypeError, OverflowError) as exc:  # a date like 2026-99-99
                raise _YAMLFail(
                    None, None, f"cannot read this value: {exc}", node.start_mark
                ) from None

    _FrontMatterLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
    )
    _FrontMatterLoader.add_constructor("tag:yaml.org,2002:int", _construct_number)
    _FrontMatterLoader.add_constructor("tag:yaml.org,2002:float", _construct_number)
    return _FrontMatterLoader


_FrontMatterLoader: Any = _bounded(_BaseLoader)


def _check_events(front: str, base: Any = None) -> None:
    """Refuse anchors, aliases and nesting past ``MAX_YAML_DEPTH`` in one flat pass
    over the parser's events: the composer (recursive, in C with libyaml) never
    sees what would make it descend too deep or an alias expand."""
    loader = (base or _BaseLoader)(front)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            mark: Any = event.start_mark
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise yaml.composer.ComposerError(
                    None, None, "anchors and aliases are not allowed", mark
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise yaml.composer.ComposerError(
                        None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", mark
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _load_front(
    front: str, path: str | None, bounded: Any = None
) -> tuple[Any, dict[str, int]]:
    """The front matter's value, and the line of each top-level key; ``bounded`` a
    loader made by :func:`_bounded` (libyaml's where PyYAML has it)."""
    loader = None
    try:
        # inside the try: the pure-Python Reader checks the characters when it is made
        loader = (bounded or _FrontMatterLoader)(front)
        _check_events(front, bounded)
        node = loader.get_single_node()
        key_lines: list[int] = []
        if isinstance(node, yaml.MappingNode):
            key_lines = [key_node.start_mark.line + 2 for key_node, _ in node.value]
        meta = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        yaml_line: int | None = mark.line + 2 if mark is not None else None
        if isinstance(exc, yaml.reader.ReaderError):
            yaml_line = _line_of(front, exc.position) + 1
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        if "maximum nesting depth" in problem:  # libyaml's own bound, met before ours
            problem = f"nested deeper than {MAX_YAML_DEPTH} levels"
        raise RuleError(f"malformed front matter: {problem}", path=path, line=yaml_line) from None
    finally:
        if loader is not None:
            loader.dispose()
    # Keys are unique and kept in order, so the n-th key is on the n-th key's line.
    lines: dict[str, int] = {}
    if isinstance(meta, dict):
        lines = {str(k): n for k, n in zip(meta, key_lines, strict=False)}
    return meta, lines
