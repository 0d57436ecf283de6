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

import logging
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import authoring, checking, evidence, hygiene, infer, retrieval
from . import journal as journal_file
from .authoring import Written
from .checking import Checked
from .commits import Identity
from .config import Settings, load_settings
from .errors import ExperienceError
from .experience import Experience
from .hygiene import Pruned
from .infer import MAX_ASK_MANY, Answer, Ask, CheckedRules
from .learn import BatchResult
from .learning_run import Learned
from .retrieval import Recalled
from .store import CONFIG_FILE, DEFAULT_BRANCH, INDEX_DIR, CommitInfo, Store

if TYPE_CHECKING:
    from .doctor import Report
    from .embed import Embedder
    from .index import RuleIndex
    from .learners.base import Learner
    from .learners.choice import LearnerChoice
    from .llm import ChatModel
    from .proposals import Proposal
    from .rulefiles import RuleSet
    from .rules import Rule

__all__ = ["Ask", "Memory", "Recalled", "Learned", "JOURNAL", "MAX_ASK_MANY"]

log = logging.getLogger("imlgit")

JOURNAL = journal_file.JOURNAL
"""The experience journal's file name, in the store's derived directory."""

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
        self._checked = CheckedRules(store, _CHECKED_KEPT)  # filed for checked answers
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
            self._index.sync(commit, *retrieval.index_inputs(self.store, commit))
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
        self._checked.get(self.store.resolve(DEFAULT_BRANCH), None)

    def diagnose(self, **options: Any) -> Report:
        """``imlgit doctor``'s report on main (:func:`imlgit.doctor.diagnose`, whose
        keyword options it takes), with this memory's index, embedder and chat model."""
        from .doctor import diagnose

        chat = (lambda: self.chat) if self.model_configured() else None
        return diagnose(self.store, index=self.index, embedder=self.embedder, chat=chat, **options)

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
        return retrieval.recall(self.store, self._index_at(main), main, commit, query, k,
                                scope=scope, tags=list(tags) if tags else None)  # fmt: skip

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
        batch = infer.questions_of(questions, scope=scope, action=action)
        commit = self.store.resolve(at or DEFAULT_BRANCH)
        return [self._ask_at(commit, q, s, k, use_model, a) for q, s, a in batch]

    def _ask_at(
        self,
        commit: str,
        question: str | Mapping[str, Any],
        scope: str | None,
        k: int | None,
        use_model: bool,
        action: str | None,
    ) -> Answer:
        return infer.ask(
            commit, question, scope=scope, k=k, use_model=use_model, action=action,
            rules=self._checked, chat=lambda: self.chat, usage_dir=self.store.derived_dir,
            recall=lambda text, k, scope, at: [r.rule for r in self.recall(text, k=k, scope=scope,
                                                                          at=at)],
        )  # fmt: skip

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
        journal_file.append(self.journal_path, exp)
        return exp

    def journal(self) -> list[Experience]:
        """The experiences recorded and not learned yet, oldest first."""
        return journal_file.read(self.journal_path)

    MAIN = DEFAULT_BRANCH  # the branch every read defaults to

    def proposals(self) -> list[Proposal]:
        """The open proposals, by name."""
        from .proposals import list_proposals

        return list_proposals(self.store)

    def proposal(self, name: str) -> Proposal:
        """The open proposal ``name`` (:class:`ReviewError` when there is none)."""
        from .proposals import get_proposal

        return get_proposal(self.store, name)

    def readable_rules(self, rev: str | None = None) -> RuleSet:
        """The rules at ``rev`` (default main) that parse, and the files that do not."""
        from .rulefiles import read_rules

        return read_rules(self.store, self.store.resolve(rev or DEFAULT_BRANCH))

    # ---- reads for the MCP server: what it shows of the repo, through Memory

    def resolve(self, rev: str) -> str:
        """The commit sha revision ``rev`` names (``Memory.MAIN``, ``HEAD``, a sha, ...)."""
        return self.store.resolve(rev)

    def locate(self, rule_id: str, rev: str = DEFAULT_BRANCH) -> str | None:
        """The path of rule ``rule_id``'s file at ``rev`` (default main), or None."""
        return self.store.locate(rule_id, rev)

    def read_file(self, path: str, rev: str = DEFAULT_BRANCH) -> bytes | None:
        """The bytes of file ``path`` at ``rev`` (default main), or None when it is not there."""
        return self.store.read_file(path, rev)

    def read_rule(self, rule_id: str, rev: str = DEFAULT_BRANCH) -> Rule:
        """Rule ``rule_id`` at ``rev`` (default main); :class:`RuleNotFound` when not there."""
        return self.store.read_rule(rule_id, rev)

    def history(
        self, rule_id: str, rev: str = DEFAULT_BRANCH, *, limit: int | None = None
    ) -> list[CommitInfo]:
        """The commits that changed rule ``rule_id`` up to ``rev`` (default main), newest first."""
        return self.store.history(rule_id, rev, limit=limit)

    # ---- end of the reads for the MCP server

    def forget(self, ids: Sequence[str], *, why: str, person: Identity) -> evidence.Forgotten:
        """Erase experiences from this copy, for good: their lines on the evidence ref
        become tombstones (the date and ``why``) in every commit of it, the old objects
        and that ref's reflog go, and the journal loses them too; main's commits, and
        the ids its rationales cite, stay (:mod:`imlgit.evidence`). A later ``push``
        carries the erasure to the remote. ``why`` is committed, so it is screened
        like every rationale a person writes."""
        return journal_file.forget(self.store, self.journal_path, ids, why=why, person=person)

    def _forget(self, ids: set[str]) -> None:
        """Remove learned experiences from the journal; lines added meanwhile stay."""
        journal_file.remove(self.journal_path, ids)

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
        from .proposing import propose

        return propose(
            self.store, statement, rationale, evidence=evidence, scope=scope, title=title,
            name=name, when=when, then=then,
            min_precision=float(self.settings.get("learn", "min_precision")),
            scan_allow=self.settings.get("scan", "allow") or (),
        )  # fmt: skip

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
        from .learning_run import learn

        return learn(
            self.store, self.settings, experiences, journal=self.journal_path,
            choose=lambda exps: self.choose_learner(exps, learner), index=self.index,
            batch=batch, epochs=epochs, propose=propose, branch=branch, retrieval=retrieval,
            progress=progress,
        )  # fmt: skip


# ---------------------------------------------------------------------- helpers


def _read_settings(
    store: Store,
    env: Mapping[str, str] | None,
    flags: Mapping[tuple[str, str], Any] | None,
) -> Settings:
    data = store.read_file(CONFIG_FILE, DEFAULT_BRANCH)
    text = data.decode("utf-8") if data else None
    return load_settings(text, env=env, flags=flags, where=f"{store.path}/{CONFIG_FILE}")
