"""``Memory``: the Python API agents use. Opens a memory repo, and wires the store,
the retrieval index, the learners and the chat model together.

>>> mem = Memory.open("memory")                     # doctest: +SKIP
>>> mem.recall("heavy parcel abroad", k=3)          # doctest: +SKIP
>>> mem.ask({"glimmer": "yes", "tansy": "no"}, scope="truth-table")  # doctest: +SKIP
>>> mem.record({"scope": "truth-table", "input": {"glimmer": "yes"},
...             "outcome": {"expected": "VESPER"}})                    # doctest: +SKIP
>>> mem.learn()                                     # doctest: +SKIP
>>> mem.propose("Parcels over 30 kg go by sea.", "Air refuses them.")  # doctest: +SKIP

The experience journal (``<git dir>/imlgit/journal.jsonl``) is local and never
committed: :meth:`Memory.record` appends to it, :meth:`Memory.learn` with no
experiences learns from it and then removes what it learned.

The agent-facing API has no approve path: approving a change is a person's act.
docs/PYTHON-API.md documents it with examples that run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import authoring, checking, evidence, hygiene, locking
from .authoring import Written
from .checking import Checked
from .commits import LEARNER, CommitMessage, Identity, evidence_trailer
from .config import Settings, load_settings
from .errors import (
    ExperienceError,
    ImlgitError,
    LearnError,
    ReviewError,
    RuleError,
    StoreError,
)
from .experience import MAX_LINE_BYTES, Experience, load_jsonl
from .hygiene import Pruned
from .infer import Answer, CheckIndex, answer, record_usage
from .inputs import describe
from .learn import BatchResult, Learning, LearnSettings
from .rules import Rule
from .store import CONFIG_FILE, DEFAULT_BRANCH, INDEX_DIR, Store

if TYPE_CHECKING:
    from .doctor import Report
    from .embed import Embedder
    from .index import IndexView, RuleIndex
    from .learners.base import Learner
    from .learners.choice import LearnerChoice
    from .llm import ChatModel
    from .proposals import Folded
    from .review import Approval, Decision, Proposal
    from .rulefiles import RuleSet

__all__ = ["Ask", "Memory", "Recalled", "Learned", "JOURNAL", "MAX_ASK_MANY"]

log = logging.getLogger("imlgit")

JOURNAL = "journal.jsonl"
REFUSALS = "refusals.jsonl"  # the learner's last refusals, shown to the next learn (derived)
_REFUSALS_KEPT = 50
"""The experience journal's file name, in the store's derived directory."""


@dataclass(frozen=True)
class Recalled:
    """A retrieved rule and its similarity score."""

    rule: Rule
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.rule.id,
            "score": round(self.score, 4),
            "title": self.rule.title,
            "statement": self.rule.statement,
            "scope": self.rule.scope,
        }


def _warn_unparsable(what: str, paths: Sequence[str]) -> None:
    """One warning naming (the first five of) the rule files a read left out."""
    more = ", ..." if len(paths) > 5 else ""
    log.warning("%s left out %d rule files that do not parse (%s%s); imlgit check says why",
                what, len(paths), ", ".join(paths[:5]), more)  # fmt: skip


MAX_ASK_MANY = 100_000
"""Questions one :meth:`Memory.ask_many` (``imlgit ask --file``) answers."""


@dataclass(frozen=True)
class Ask:
    """One question of :meth:`Memory.ask_many` with its own scope or action."""

    input: str | Mapping[str, Any]
    scope: str | None = None
    action: str | None = None


_CHECKED_KEPT = 8
"""(commit, scope) pairs whose filed rules a Memory keeps (an agent asks at main)."""


class Memory:
    """A memory repository with retrieval, learning and inference."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        chat: ChatModel | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self._chat = chat
        self._embedder = embedder
        self._index: RuleIndex | None = None
        # (commit, scope) -> (the scope's rules filed for checked answers, unparsable
        # paths): a commit's content never changes, so this is never stale
        self._checked: dict[tuple[str, str | None], tuple[CheckIndex, list[str]]] = {}
        self._opened: tuple[Mapping[str, str] | None, Mapping[tuple[str, str], Any] | None] | None
        self._opened = None  # (env, flags) when made by open(): settings can be re-read

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        flags: Mapping[tuple[str, str], Any] | None = None,
        chat: ChatModel | None = None,
        embedder: Embedder | None = None,
    ) -> Memory:
        """Open the memory at ``path``; settings from its imlgit.toml, env and flags."""
        store = Store.open(path)
        settings = _read_settings(store, env, flags)
        mem = cls(store, settings, chat=chat, embedder=embedder)
        mem._opened = (env, flags)
        return mem

    def reload_settings(self) -> Settings:
        """Read imlgit.toml on main again (a long-running process, such as ``imlgit
        mcp``, calls it before acting, so a reviewed policy change applies at once).
        A memory built from given settings keeps them."""
        if self._opened is not None:
            self.settings = _read_settings(self.store, *self._opened)
        return self.settings

    @property
    def path(self) -> Path:
        return self.store.path

    # ------------------------------------------------------------------ parts

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from .embed import embedder_from

            self._embedder = embedder_from(self.settings.section("embedder"))
        return self._embedder

    def index(self, rev: str | None = None) -> RuleIndex:
        """The retrieval index, synced to ``rev`` (default: main's head)."""
        return self._index_at(self.store.resolve(rev or DEFAULT_BRANCH))

    def _index_at(self, commit: str) -> RuleIndex:
        """The retrieval index, synced to ``commit``."""
        from .index import RuleIndex

        if self._index is None:
            self._index = RuleIndex.open(
                self.store.derived_dir / INDEX_DIR,
                self.embedder,
                hnsw_threshold=self.settings.get("retrieval", "hnsw_threshold"),
            )
        if not self._index.holds(commit):  # a commit's rules never change: synced once
            self._index.sync(commit, *self._index_inputs(commit))
        return self._index

    def warm(self) -> None:
        """Make ready now what answering needs, rather than on the first questions:
        the embedding model in its fastest runtime (onnxruntime's session, which
        ``auto`` otherwise prepares after a process's first 64 texts) and main's
        parsed rules. A long-lived process (``imlgit mcp``) calls it when it starts;
        the retrieval index is still synced on the first search that needs it."""
        prepare = getattr(self.embedder, "prepare", None)
        if callable(prepare):
            prepare()
        self._checked_rules(self.store.resolve(DEFAULT_BRANCH), None)

    def diagnose(self, **options: Any) -> Report:
        """``imlgit doctor``'s report on main (:func:`imlgit.doctor.diagnose`, whose
        keyword options it takes), with this memory's index, embedder and chat model."""
        from .doctor import diagnose

        chat = (lambda: self.chat) if self.model_configured() else None
        return diagnose(self.store, index=self.index, embedder=self.embedder, chat=chat, **options)

    def _index_inputs(self, commit: str) -> tuple[dict[str, Any], Callable[..., Any]]:
        from .index import UNPARSABLE, RuleDoc, RuleEntry

        entries = self.store.rule_entries(commit)

        def load(ids: list[str]) -> dict[str, RuleDoc]:
            out = {}
            for rid in ids:
                try:
                    r = self.store.rule_from_blob(entries[rid].blob, entries[rid].path)
                except RuleError:  # one bad file must not hide the others: never searched
                    out[rid] = RuleDoc("", "", "", UNPARSABLE)
                    continue
                out[rid] = RuleDoc(r.title, r.statement, r.scope, r.status, r.tags)
            return out

        return {rid: RuleEntry(e.blob) for rid, e in entries.items()}, load

    @property
    def chat(self) -> ChatModel:
        if self._chat is None:
            from .llm import chat_from

            # The settings already hold what the environment said (config.ENV): the
            # process environment is not read again, so Memory.open(env=...) decides.
            self._chat = chat_from(self.settings.section("model"), {})
        return self._chat

    def model_configured(self) -> bool:
        """Whether a model endpoint is configured (``[model] base_url``, or a chat model
        passed in); the embedded model, started on demand, does not count."""
        if self._chat is not None:
            return not self._chat.identity.startswith("embedded:")
        return bool(self.settings.get("model", "base_url"))

    def learner(self, experiences: Sequence[Experience], name: str | None = None) -> Learner:
        """The learner for these experiences (see :meth:`choose_learner`)."""
        return self.choose_learner(experiences, name).learner

    def choose_learner(
        self, experiences: Sequence[Experience], name: str | Learner | None = None
    ) -> LearnerChoice:
        """The learner for these experiences and why (imlgit.learners.choice): ``auto``
        uses the model when an endpoint is configured, else the learner that needs none;
        a Learner passed in is used as it is."""
        from .learners.choice import choose_learner
        from .learners.rulelearner import CoveringLearner
        from .learners.synonyms import EmbeddedRelated

        def model() -> Learner:
            from .learners.model import ModelLearner

            if self.chat.identity.startswith("embedded:"):
                # the embedded server answers in at most 512 tokens of a 4,096-token
                # context: ask for less, and show less
                return ModelLearner(
                    self.chat, max_candidates=3, max_statement=200, max_prompt=9_000
                )
            return ModelLearner(self.chat)

        return choose_learner(
            experiences,
            name or self.settings.get("learn", "learner"),
            endpoint=self.model_configured(),
            model=model,
            covering=lambda: CoveringLearner(related=EmbeddedRelated(lambda: self.embedder)),
        )

    # ------------------------------------------------------------------ verbs

    def recall(
        self,
        query: str,
        *,
        k: int | None = None,
        scope: str | None = None,
        tags: Sequence[str] | None = None,
        at: str | None = None,
    ) -> list[Recalled]:
        """The rules most relevant to ``query`` (active rules only), best first;
        ``scope`` and ``tags`` filter, ``at`` reads memory as it was at a revision."""
        k = k or self.settings.get("retrieval", "k")
        main = self.store.resolve(DEFAULT_BRANCH)
        commit = main if at is None else self.store.resolve(at)
        tag_filter = list(tags) if tags else None
        view: RuleIndex | IndexView
        if commit == main:
            view = self._index_at(main)  # the persisted index, not a view rebuilt at a commit
        else:
            view = self._index_at(main).at(commit, *self._index_inputs(commit))
        hits = view.search(query, k, scope=scope, tags=tag_filter)
        entries = self.store.rule_entries(commit)
        if bad := view.unparsable():
            _warn_unparsable("recall", [entries[r].path if r in entries else r for r in bad])
        return [
            Recalled(
                self.store.rule_from_blob(entries[h.rule_id].blob, entries[h.rule_id].path), h.score
            )
            for h in hits
            if h.rule_id in entries
        ]

    def ask(
        self,
        question: str | Mapping[str, Any],
        *,
        scope: str | None = None,
        at: str | None = None,
        k: int | None = None,
        use_model: bool = True,
        action: str | None = None,
    ) -> Answer:
        """Answer with the relevant rules; the answer names the rules and the commit.
        Memory is read on main unless ``at`` names another revision. With
        ``action``, the answer is whether that action is predicted to work there
        (``works`` / ``fails``, by checkable rules only)."""
        commit = self.store.resolve(at or DEFAULT_BRANCH)
        return self._ask_at(commit, question, scope, k, use_model, action)

    def ask_many(
        self,
        questions: Sequence[str | Mapping[str, Any] | Ask],
        *,
        scope: str | None = None,
        at: str | None = None,
        k: int | None = None,
        use_model: bool = True,
        action: str | None = None,
    ) -> list[Answer]:
        """Answer a batch with one read of memory: every answer is at the same commit
        (main when the call began, unless ``at``), each scope's rules filed once. An
        :class:`Ask` item carries its own scope or action; the others take the
        arguments'. At most :data:`MAX_ASK_MANY` questions."""
        if len(questions) > MAX_ASK_MANY:
            raise ExperienceError(
                f"{len(questions):,} questions; ask at most {MAX_ASK_MANY:,} at once"
            )
        commit = self.store.resolve(at or DEFAULT_BRANCH)
        out = []
        for q in questions:
            if isinstance(q, Ask):
                out.append(self._ask_at(commit, q.input, q.scope if q.scope is not None
                                        else scope, k, use_model,
                                        q.action if q.action is not None else action))  # fmt: skip
            else:
                out.append(self._ask_at(commit, q, scope, k, use_model, action))
        return out

    def _ask_at(
        self,
        commit: str,
        question: str | Mapping[str, Any],
        scope: str | None,
        k: int | None,
        use_model: bool,
        action: str | None,
    ) -> Answer:
        text = describe(question)
        if action is not None:
            text += f" -> {action}"
        # Retrieval is for the model's prompt: an answer only code may give (no model,
        # or whether an action works) needs no embedding, so the embedder (and torch)
        # is never loaded for it.
        needs_model = use_model and action is None
        retrieved = (
            [r.rule for r in self.recall(text, k=k, scope=scope, at=commit)] if needs_model else []
        )
        index, unparsable = self._checked_rules(commit, scope)
        if unparsable and not needs_model:  # else recall above warned of them
            _warn_unparsable("ask", unparsable)
        model = None
        if needs_model:
            from .learners.model import answer_with_model

            def model(q: Any, rules: Sequence[Rule]) -> tuple[str, Sequence[str], int, int]:
                got = answer_with_model(self.chat, q, rules, scope=scope)
                return got.answer, got.cited, got.prompt_tokens, got.completion_tokens

        ans = answer(
            question,
            scope_rules=index,
            retrieved=retrieved,
            commit=commit,
            scope=scope,
            model=model,
            action=action,
        )
        record_usage(self.store.derived_dir, ans)
        return ans

    def _checked_rules(self, commit: str, scope: str | None) -> tuple[CheckIndex, list[str]]:
        """The active checkable rules of ``scope`` at ``commit``, filed for checked
        answers (read once per commit and scope in a process), and the rule files
        that did not parse."""
        got = self._checked.get((commit, scope))
        if got is None:
            from .rulefiles import read_rules

            readable = read_rules(self.store, commit)
            index = CheckIndex(
                r
                for r in readable.rules.values()
                if r.checkable and r.status == "active" and (scope is None or r.scope == scope)
            )
            got = (index, [e.path or rid for rid, e in readable.problems.items()])
            if len(self._checked) >= _CHECKED_KEPT:
                self._checked.pop(next(iter(self._checked)))
            self._checked[(commit, scope)] = got
        return got

    # ------------------------------------------------------------------ the journal

    @property
    def journal_path(self) -> Path:
        """``<git dir>/imlgit/journal.jsonl``: experiences recorded, not learned yet."""
        return self.store.derived_dir / JOURNAL

    def _screen(self, experiences: Sequence[Experience]) -> Any:
        """``experiences`` as ``[privacy] experiences`` lets them be written
        (:func:`imlgit.privacy.screen`): redacted, refused, or kept for hashing."""
        from .privacy import screen

        return screen(experiences, self.settings.get("privacy", "experiences"),
                      tuple(self.settings.get("scan", "allow")))  # fmt: skip

    def record(self, experience: Experience | Mapping[str, Any]) -> Experience:
        """Append one experience to the journal that :meth:`learn` learns from.

        ``experience`` is an :class:`Experience` or its JSON object (``scope``,
        ``input``, ``output``, ``outcome``, and optionally ``id``); it is validated
        like a line of an experiences file, and gets an id ``j-<12 hex>`` when it
        has none. An id already in the journal is refused. The append is one
        write under a lock, so concurrent agents never interleave lines. Returns
        the experience as recorded.
        """
        if isinstance(experience, Experience):
            data: dict[str, Any] = experience.to_dict()
        elif isinstance(experience, Mapping):
            data = dict(experience)
            if data.get("id") is None:
                data["id"] = "j-" + uuid.uuid4().hex[:12]
        else:
            raise ExperienceError(
                f"an experience is an Experience or a JSON object, got {type(experience).__name__}"
            )
        exp = self._screen([Experience.from_dict(data)]).experiences[0]
        line = (exp.to_json() + "\n").encode("utf-8")
        if len(line) > MAX_LINE_BYTES:
            raise ExperienceError(
                f"the experience is {len(line)} bytes as JSON; at most {MAX_LINE_BYTES}",
                field="input",
            )
        path = self.journal_path
        with _journal_lock(path):
            if exp.id in _journal_ids(path):
                raise ExperienceError(
                    f"duplicate id {exp.id!r}: already in the journal", path=str(path), field="id"
                )
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    # a torn last line (a writer killed mid-line): end it, so this
                    # experience is a line of its own and not glued onto the broken one
                    line = b"\n" + line
                os.write(fd, line)
            finally:
                os.close(fd)
        return exp

    def journal(self) -> list[Experience]:
        """The experiences recorded and not learned yet, oldest first."""
        path = self.journal_path
        with _journal_lock(path):
            if not path.exists():
                return []
            loaded = load_jsonl(path, skip_invalid=True)
        for lineno, why in loaded.skipped:
            # kept in the journal (learning forgets only what it learned), and said
            log.warning("%s:%d: not learned, left in the journal: %s", path, lineno, why)
        return loaded.experiences

    MAIN = DEFAULT_BRANCH  # the branch every read defaults to

    def proposals(self) -> list[Proposal]:
        """The open proposals, by name."""
        from .review import list_proposals

        return list_proposals(self.store)

    def proposal(self, name: str) -> Proposal:
        """The open proposal ``name`` (:class:`ReviewError` when there is none)."""
        from .review import get_proposal

        return get_proposal(self.store, name)

    def readable_rules(self, rev: str | None = None) -> RuleSet:
        """The rules at ``rev`` (default main) that parse, and the files that do not."""
        from .rulefiles import read_rules

        return read_rules(self.store, self.store.resolve(rev or DEFAULT_BRANCH))

    def forget(self, ids: Sequence[str], *, why: str, person: Identity) -> evidence.Forgotten:
        """Erase experiences from this copy, for good: their lines on the evidence ref
        become tombstones (the date and ``why``) in every commit of it, the old objects
        and that ref's reflog go, and the journal loses them too; main's commits, and
        the ids its rationales cite, stay (:mod:`imlgit.evidence`). A later ``push``
        carries the erasure to the remote. ``why`` is committed, so it is screened
        like every rationale a person writes."""
        from .privacy import check_rationale

        ids = list(dict.fromkeys(ids))
        check_rationale(why, self.store.scan_allow(), what="the rationale of forget")
        journal = set(self._journal_ids())
        found = evidence.locate(self.store, ids)
        stored = [i for i in ids if found[i].state != "unknown" or i not in journal]
        if stored:  # refused as a whole before anything changes
            done = evidence.forget(self.store, stored, why=why, person=person)
        else:
            done = evidence.Forgotten((), self.store.head(evidence.EVIDENCE_REF) or "", 0, 0)
        self._forget(set(ids))
        waiting = tuple(i for i in ids if i in journal and i not in done.ids)
        return dataclasses.replace(done, ids=done.ids + waiting)

    def _journal_ids(self) -> list[str]:
        try:
            data = self.journal_path.read_bytes()
        except FileNotFoundError:
            return []
        return [i for line in data.split(b"\n") if (i := _line_id(line)) is not None]

    def _forget(self, ids: set[str]) -> None:
        """Remove learned experiences from the journal; lines added meanwhile stay."""
        path = self.journal_path
        with _journal_lock(path):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                return
            keep = [line + b"\n" for line in data.split(b"\n") if line.strip()]
            keep = [line for line in keep if _line_id(line) not in ids]
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, b"".join(keep))
            finally:
                os.close(fd)
            os.replace(tmp, path)

    # ------------------------------------------------------------------ a person's writes

    def add_rule(self, title: str, statement: str, *, why: str, person: Identity,
                 rule_id: str | None = None, scope: str = "general", evidence: str = "",
                 sources: Sequence[str] = (), tags: Sequence[str] = ()) -> Written:  # fmt: skip
        """Add a rule to main as ``person``, one commit (:func:`.authoring.add_rule`:
        refused when its id exists, it carries secrets, or it is active already)."""
        return authoring.add_rule(self.store, title=title, statement=statement, why=why,
                                  author=person, rule_id=rule_id, scope=scope,
                                  evidence=evidence, sources=sources, tags=tags)  # fmt: skip

    def edit_rule(self, rule_id: str, *, why: str, person: Identity, title: str | None = None,
                  statement: str | None = None, scope: str | None = None,
                  evidence: str | None = None, text: bytes | None = None,
                  source: str = "the rule file") -> Written:  # fmt: skip
        """Change a rule on main as ``person``, one commit: the fields given, or its
        whole file as ``text`` (``source`` names it in errors). The checks of
        :meth:`add_rule` (:func:`.authoring.edit_rule`)."""
        return authoring.edit_rule(self.store, rule_id, why=why, author=person, title=title,
                                   statement=statement, scope=scope, evidence=evidence,
                                   text=text, source=source)  # fmt: skip

    def retire_rule(self, rule_id: str, *, why: str, person: Identity) -> Written:
        """Retire a rule on main as ``person``, one commit; a rule retired already is
        left so, and the result's ``sha`` is None (:func:`.authoring.retire_rule`)."""
        return authoring.retire_rule(self.store, rule_id, why=why, author=person)

    def prune(self, *, max_rules: int | None = None, below: float | None = None,
              dry_run: bool = False, propose: str | None = None) -> Pruned:  # fmt: skip
        """Retire the least important active rules (:mod:`.hygiene`), one commit each,
        on proposal ``propose`` (default ``prune-<time>``), which the review policy
        then decides as it decides a learned one. ``max_rules`` defaults to ``[prune]
        max_rules``; ``dry_run`` (or nothing to retire) writes nothing."""
        from . import review as rv

        store = self.store
        if max_rules is None:
            max_rules = self.settings.get("prune", "max_rules") or None
        ranked = hygiene.ranked(store)
        plan = hygiene.plan_prune(ranked, max_rules=max_rules, below=below)
        if dry_run or not plan:
            return Pruned(plan, len(ranked), store.resolve(DEFAULT_BRANCH))
        name = propose or rv.new_proposal_name(store, "prune")
        created = store.head(rv.proposal_branch(name)) is None
        branch = rv.start_proposal(store, name)
        limit = f"The memory keeps at most {max_rules} active rules." if max_rules else ""
        floor = f"Rules scoring below {below} are retired." if below is not None else ""
        try:
            reason = f"{limit} {floor}".strip()
            commits = hygiene.commit_prune(store, plan, branch=branch, reason=reason)
        except BaseException:
            if created and store.head(branch) == store.head():
                store.delete_branch(branch)
            raise
        gate = rv.Gate.from_settings(self.settings.section("review"), self.settings.section("scan"))
        decision, approval = rv.conclude(store, name, self.settings.get("review", "policy"), gate)
        main = store.resolve(DEFAULT_BRANCH)
        head = approval.sha if approval else commits[-1] if commits else main
        return Pruned(plan, len(ranked), head, name, commits, decision, approval)

    def check(self, at: str | None = None) -> Checked:
        """The rule files' problems: without ``at`` the working tree and HEAD, else
        that revision; each file secret-scanned (:func:`.checking.check_memory`)."""
        return checking.check_memory(self.store, at)

    def check_move(self, old: str | None, new: str) -> Checked:
        """Whether main may move from ``old`` (None: main now) to ``new``: every commit
        imlgit wrote that it brings is inside an approval (:func:`.checking.check_move`)."""
        return checking.check_move(self.store, old, new)

    def check_history(self, rev: str = DEFAULT_BRANCH) -> Checked:
        """Whether every commit imlgit wrote in ``rev``'s history is inside an approval
        that counts (:func:`.checking.check_history`)."""
        return checking.check_history(self.store, rev)

    # ------------------------------------------------------------------ proposing

    def propose(
        self,
        statement: str,
        rationale: str,
        *,
        evidence: Sequence[str] = (),
        scope: str = "general",
        title: str | None = None,
        name: str | None = None,
        when: Any = None,
        then: str | None = None,
    ) -> str:
        """Propose one rule for review: a new proposal branch with one commit; never main.

        ``rationale`` says why the rule is right (required). ``evidence`` are the
        ids of the experiences behind it (``Imlgit-Evidence``). ``title`` defaults
        to the statement's beginning and makes the rule id; ``when``/``then`` make
        it checkable (the form of RULE-FORMAT.md; the statement must say the same).
        ``name`` names the proposal (default ``agent-<time>``; it must be new).
        A checkable rule is counted against the experiences stored on main, as the
        learner's are: its support and contradictions are what they show, and it is
        refused (:class:`VerificationError`) when they contradict it more than
        ``[learn] min_precision`` allows. The same rule proposed again while its
        proposal is open returns that proposal's name; nothing new is opened.

        Refused, with nothing written: a rule that is already active on main in
        the scope (same statement, or same checkable form), one that people
        rejected before, and text that looks like a secret or personal data (the
        ``[scan] allow`` patterns of imlgit.toml let some through). Returns the
        proposal's name; a person approves it with ``imlgit approve NAME``.
        """
        from .identity import duplicate_of, same_rule
        from .proposals import rejected_rules
        from .review import PREFIX, open_proposal, proposal_branch

        store = self.store
        rule, rationale, main, rules = authoring.proposed_rule(
            store, statement, rationale, evidence=evidence, scope=scope, title=title,
            when=when, then=then,
        )  # fmt: skip

        dup = duplicate_of(rule, rules)
        if dup is not None:
            raise ReviewError(f"the same rule is already in memory: {dup}")
        pending = self._pending_proposal(rule)
        if pending is not None:
            return pending  # proposed already: the same proposal, not a second one
        if rule.when is not None and rule.then is not None:
            least = float(self.settings.get("learn", "min_precision"))
            rule = authoring.verified(store, rule, main, min_precision=least)
        for r in rejected_rules(store, main):
            if not r.retired and same_rule(rule, r):
                raise ReviewError(f"people rejected this rule in proposal {r.proposal}: {r.why}")
        authoring.refuse_secret_fields(
            {"statement": rule.statement, "rationale": rationale, "title": rule.title},
            self.settings.get("scan", "allow") or (),
        )
        trailers = []
        if rule.sources:
            trailers.append(("Imlgit-Evidence", evidence_trailer(rule.sources)))
        msg = CommitMessage.make(
            "induce", f"add {rule.id}", rationale, rules=[rule.id], trailers=trailers
        )
        if name is None:  # a name of its own, made atomically (see review.open_proposal)
            branch = open_proposal(store, None, stem="agent")[0]
            if store.head(branch) != main:  # main moved since the checks above read it
                store.delete_branch(branch)
                raise ReviewError("main moved while the rule was proposed; propose it again")
        else:
            branch = proposal_branch(name)
            try:  # atomically, at the commit the checks above read
                store.create_branch(branch, main)
            except StoreError:
                raise ReviewError(
                    f"proposal {name!r} exists: propose under a new name"
                ) from None
        try:
            store.put_rule(rule, msg, author=LEARNER, branch=branch, expected_head=main)
        except BaseException:
            with suppress(ImlgitError, OSError):
                store.delete_branch(branch)  # the branch is this call's own: leave no trace
            raise
        return branch.removeprefix(PREFIX)

    def _pending_proposal(self, rule: Rule) -> str | None:
        """The open proposal that adds the same rule (same scope and form, or the same
        statement), if any."""
        from .identity import same_rule
        from .review import list_proposals

        for p in list_proposals(self.store):
            for rid in p.rules:
                try:
                    other = self.store.read_rule(rid, p.branch)
                except ImlgitError:
                    continue  # retired or unreadable there: not this rule
                if other.status == "active" and same_rule(rule, other):
                    return p.name
        return None

    # ------------------------------------------------------------------ learning

    def learn(
        self,
        experiences: Sequence[Experience] | None = None,
        *,
        batch: int | None = None,
        epochs: int = 1,
        learner: str | Learner | None = None,
        propose: str | None = None,
        branch: str | None = None,
        retrieval: bool | None = None,
        progress: Callable[[BatchResult], None] | None = None,
    ) -> Learned:
        """Learn from experiences: one commit per rule change, on a proposal.

        By default the changes go to a new proposal branch ``proposals/NAME``
        (``propose`` names it; an existing one is continued). Then the review
        policy of imlgit.toml acts: ``manual`` leaves it for a person; ``gated``
        approves it when every check holds; ``auto`` approves it. ``branch``
        learns straight into another branch instead; into ``main`` only under the
        ``auto`` policy, since anything else would skip the review.

        ``retrieval`` None searches the index for the rules relevant to each
        experience when the learner reads them (its ``uses_retrieval``, True unless
        it says otherwise: the no-model learner revises only the scope's checkable
        rules, which it is shown without a search); True always, False never.

        With ``experiences`` None, learns from the journal (:meth:`record`); once
        learning has committed, the experiences it learned leave the journal.

        Learners of the journal take turns (a lock the system releases if the
        process dies): two at once would each learn every experience in it.
        """
        journal_turn = (
            nullcontext()
            if experiences is not None
            else locking.exclusive(
                self.store.derived_dir / "locks" / "learn-journal.lock",
                "waiting for another learn of the journal",
            )
        )
        with journal_turn:
            from .proposals import rejected_rules
            from .review import PREFIX, Gate, conclude, get_proposal, open_proposal

            from_journal = experiences is None
            if experiences is None:
                experiences = self.journal()
                if not experiences:
                    raise LearnError("nothing to learn: the journal is empty")
            if not experiences:
                raise LearnError("no experiences to learn from")
            screened = self._screen(experiences)  # before anything is learned or written
            experiences = screened.experiences  # the same ids, in the same order
            choice = self.choose_learner(experiences, learner)
            chosen = choice.learner
            policy = self.settings.get("review", "policy")
            store = self.store
            proposal: str | None = None
            created = False
            if branch is not None:
                branch = store.branch_name(branch)
            if branch is not None and not branch.startswith(PREFIX):
                if branch == DEFAULT_BRANCH:
                    raise ReviewError(
                        f"{DEFAULT_BRANCH} takes learned changes only through an approval "
                        f"(policy = {policy!r} in imlgit.toml): learn into a proposal (the "
                        "default), which the gated or auto policy approves when it may"
                    )
                if store.head(branch) is None:
                    store.create_branch(branch, "main")
                target = branch
            else:
                target, created = open_proposal(store, propose or branch)
                proposal = target[len(PREFIX) :]
            opened_at = store.head(target)
            s = self.settings
            settings = LearnSettings(
                batch=batch or s.get("learn", "batch"),
                epochs=epochs,
                momentum=float(s.get("learn", "momentum")),
                min_precision=float(s.get("learn", "min_precision")),
                default_precision=float(s.get("learn", "default_precision")),
                min_coverage=s.get("learn", "min_coverage"),
                k=s.get("retrieval", "k"),
                store_experiences=("hashes" if s.get("privacy", "experiences") == "hashes"
                                   else s.get("learn", "store_experiences")),  # fmt: skip
                branch=target,
                scan_allow=tuple(s.get("scan", "allow")),
            )
            if retrieval is None:
                retrieval = bool(getattr(chosen, "uses_retrieval", True))
            retriever = _IndexRetriever(self, target) if retrieval else None
            engine = Learning(
                store,
                chosen,
                settings=settings,
                retriever=retriever,
                author=LEARNER,
                rejected=rejected_rules(store),
                refusals=_read_refusals(store.derived_dir / REFUSALS),
            )
            kept = len(engine.refusals)
            try:
                with store.deferred_worktree():
                    results = engine.learn(experiences, progress=progress)
            except BaseException:
                if created and proposal and store.head(target) == opened_at:
                    store.delete_branch(target)  # this learn's own, and still empty
                raise
            finally:
                _keep_refusals(store.derived_dir / REFUSALS, engine.refusals[kept:])
            out = Learned(results, target, proposal, choice=choice, redacted=screened.summary())
            if proposal is not None and opened_at is not None:
                from .proposals import fold

                out.folded = fold(store, target, opened_at)
            p = get_proposal(store, proposal) if proposal is not None else None
            if p is not None and created and not p.changes:
                # a proposal of this learn that changes no rule file is no proposal:
                # nothing to review; its experiences stay where they were (the
                # journal keeps them), so nothing is lost
                store.delete_branch(target)
                out.proposal = None
                out.branch = DEFAULT_BRANCH
                out.note = (
                    f"no rule changed: no proposal opened ({len(experiences)} experiences "
                    "learned, none stored)"
                )
                return out
            if from_journal:
                self._forget({e.id for e in experiences})
            if p is None or proposal is None:
                return out
            if not p.commits:
                if created:
                    store.delete_branch(target)
                out.proposal = None
                return out
            gate = Gate.from_settings(s.section("review"), s.section("scan"))
            out.decision, out.approval = conclude(store, proposal, policy, gate)
            return out


@dataclass
class Learned:
    """What :meth:`Memory.learn` did: the batches, where they went, what the policy decided."""

    batches: list[BatchResult]
    branch: str
    proposal: str | None = None
    decision: Decision | None = None
    approval: Approval | None = None
    choice: LearnerChoice | None = None  # which learner, and why
    note: str | None = None  # e.g. why no proposal was opened
    folded: Folded | None = None  # the proposal's bookkeeping folded (imlgit.proposals)
    redacted: str = ""  # what [privacy] redacted before learning ("3 email in 2 experiences")

    @property
    def head(self) -> str | None:
        """Where the branch is now: after a fold, not the last batch's head (a batch's
        head is kept in each BatchResult: its commit stays in the object store, off the
        branch)."""
        if self.folded is not None:
            return self.folded.head
        return self.batches[-1].head if self.batches else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "proposal": self.proposal,
            "redacted": self.redacted,
            "decision": self.decision.to_dict() if self.decision else None,
            "approval": self.approval.to_dict() if self.approval else None,
            "batches": [b.to_dict() for b in self.batches],
            "learner": self.choice.to_dict() if self.choice else None,
            "note": self.note,
            "head": self.head,
            "folded": self.folded.to_dict() if self.folded else None,
        }


class _IndexRetriever:
    """Retrieval for learning: the index, synced to the branch head before a search."""

    def __init__(self, memory: Memory, branch: str) -> None:
        self.memory = memory
        self.branch = branch
        self._synced: str | None = None
        self._index: RuleIndex | None = None

    def search(self, query: str, k: int, scope: str | None) -> list[str]:
        from .errors import EmbedderError, IndexError_

        try:
            head = self.memory.store.head(self.branch)
            if self._index is None or head != self._synced:
                self._index = self.memory.index(self.branch)
                self._synced = head
            return [h.rule_id for h in self._index.search(query, k, scope=scope)]
        except (IndexError_, EmbedderError) as exc:
            # The index is derived data, never a reason to refuse learning: this batch
            # is shown the scope's checkable rules (and, without retrieval, the rest).
            log.warning("learning without retrieval for this search: %s", exc)
            return []


# ---------------------------------------------------------------------- helpers


def _read_settings(
    store: Store,
    env: Mapping[str, str] | None,
    flags: Mapping[tuple[str, str], Any] | None,
) -> Settings:
    data = store.read_file(CONFIG_FILE, DEFAULT_BRANCH)
    text = data.decode("utf-8") if data else None
    return load_settings(text, env=env, flags=flags, where=f"{store.path}/{CONFIG_FILE}")


def _read_refusals(path: Path) -> list[str]:
    """The last refusals kept by earlier learns (derived data: a bad line is skipped)."""
    try:
        data = path.read_bytes()[-1_000_000:]
    except OSError:
        return []
    out = []
    for line in data.split(b"\n")[-_REFUSALS_KEPT:]:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, str) and len(value) <= 2_000:
            out.append(value)
    return out


def _keep_refusals(path: Path, new: Sequence[str]) -> None:
    """Append this learn's refusals and keep the last few (replaced atomically)."""
    if not new:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with _journal_lock(path):  # two learners finishing at once keep both's
            lines = [json.dumps(r) for r in [*_read_refusals(path), *new]]
            tmp.write_text("\n".join(lines[-_REFUSALS_KEPT:]) + "\n", encoding="utf-8")
            os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # derived data: losing it never fails a learn


def _journal_lock(journal: Path) -> AbstractContextManager[bool]:
    """An exclusive lock for the journal (or another derived file): on a separate
    file beside it, which is never replaced."""
    return locking.exclusive(journal.with_name(journal.name + ".lock"))


def _line_id(line: bytes) -> str | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def _journal_ids(path: Path) -> set[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    return {i for i in map(_line_id, data.split(b"\n")) if i is not None}
