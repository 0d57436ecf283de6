"""``Memory``: the Python API agents use. Opens a memory repo, and wires the store,
the retrieval index, the learners and the chat model together.

>>> mem = Memory.open("memory")                     # doctest: +SKIP
>>> mem.recall("heavy parcel abroad", k=3)          # doctest: +SKIP
>>> mem.ask({"glimmer": "yes", "tansy": "no"}, scope="truth-table")  # doctest: +SKIP
>>> mem.learn(load_jsonl("experiences.jsonl").experiences)           # doctest: +SKIP

The agent-facing API has no approve path: approving a change is a person's act.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .commits import LEARNER
from .config import Settings, load_settings
from .errors import ConfigError, LearnError, ReviewError
from .experience import Experience
from .infer import Answer, answer, record_usage
from .learn import BatchResult, Learning, LearnSettings
from .rules import Rule
from .store import CONFIG_FILE, Store

if TYPE_CHECKING:
    from .embed import Embedder
    from .index import RuleIndex
    from .learners.base import Learner
    from .llm import ChatModel
    from .review import Approval, Decision

__all__ = ["Memory", "Recalled", "Learned"]


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
        data = store.read_file(CONFIG_FILE)
        text = data.decode("utf-8") if data else None
        settings = load_settings(text, env=env, flags=flags, where=f"{path}/{CONFIG_FILE}")
        return cls(store, settings, chat=chat, embedder=embedder)

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
        from .index import RuleIndex

        if self._index is None:
            self._index = RuleIndex.open(
                self.store.derived_dir / "index",
                self.embedder,
                hnsw_threshold=self.settings.get("retrieval", "hnsw_threshold"),
            )
        commit = self.store.resolve(rev)
        self._index.sync(commit, *self._index_inputs(commit))
        return self._index

    def _index_inputs(self, commit: str) -> tuple[dict[str, Any], Callable[..., Any]]:
        from .index import RuleDoc, RuleEntry

        entries = self.store.rule_entries(commit)

        def load(ids: list[str]) -> dict[str, RuleDoc]:
            out = {}
            for rid in ids:
                r = self.store.rule_from_blob(entries[rid].blob, entries[rid].path)
                out[rid] = RuleDoc(r.title, r.statement, r.scope, r.status, r.tags)
            return out

        return {rid: RuleEntry(e.blob) for rid, e in entries.items()}, load

    @property
    def chat(self) -> ChatModel:
        if self._chat is None:
            from .llm import chat_from

            self._chat = chat_from(self.settings.section("model"), None)
        return self._chat

    def model_configured(self) -> bool:
        return self._chat is not None or bool(self.settings.get("model", "base_url"))

    def learner(self, experiences: Sequence[Experience], name: str | None = None) -> Learner:
        """The learner for these experiences: ``auto`` picks the one that needs no model
        when no endpoint is configured and it can read the experiences."""
        from .learners.rulelearner import CoveringLearner

        name = name or self.settings.get("learn", "learner")
        if name == "covering" or (
            name == "auto" and not self.model_configured() and CoveringLearner.can_read(experiences)
        ):
            return CoveringLearner()
        if name in ("model", "auto"):
            from .learners.model import ModelLearner

            if self.chat.identity.startswith("embedded:"):
                # the embedded server answers in at most 512 tokens: ask for less
                return ModelLearner(self.chat, max_candidates=3, max_statement=200)
            return ModelLearner(self.chat)
        raise ConfigError(f"unknown learner {name!r}")

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
        commit = self.store.resolve(at)
        tag_filter = list(tags) if tags else None
        if at is None:
            hits = self.index().search(query, k, scope=scope, tags=tag_filter)
        else:
            view = self.index().at(commit, *self._index_inputs(commit))
            hits = view.search(query, k, scope=scope, tags=tag_filter)
        entries = self.store.rule_entries(commit)
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
    ) -> Answer:
        """Answer with the relevant rules; the answer names the rules and the commit."""
        commit = self.store.resolve(at)
        text = (
            question
            if isinstance(question, str)
            else ", ".join(f"{a} = {b}" for a, b in question.items())
        )
        retrieved = [r.rule for r in self.recall(text, k=k, scope=scope, at=at)]
        scope_rules = [
            r
            for r in self.store.read_rules(commit).values()
            if r.checkable and r.status == "active" and (scope is None or r.scope == scope)
        ]
        model = None
        if use_model:
            from .learners.model import answer_with_model

            def model(q: Any, rules: Sequence[Rule]) -> tuple[str, Sequence[str], int, int]:
                got = answer_with_model(self.chat, q, rules, scope=scope)
                return got.answer, got.cited, got.prompt_tokens, got.completion_tokens

        ans = answer(
            question,
            scope_rules=scope_rules,
            retrieved=retrieved,
            commit=commit,
            scope=scope,
            model=model,
        )
        record_usage(self.store.derived_dir, ans)
        return ans

    def learn(
        self,
        experiences: Sequence[Experience],
        *,
        batch: int | None = None,
        epochs: int = 1,
        learner: str | Learner | None = None,
        propose: str | None = None,
        branch: str | None = None,
        retrieval: bool = True,
        progress: Callable[[BatchResult], None] | None = None,
    ) -> Learned:
        """Learn from experiences: one commit per rule change, on a proposal.

        By default the changes go to a new proposal branch ``proposals/NAME``
        (``propose`` names it; an existing one is continued). Then the review
        policy of imlgit.toml acts: ``manual`` leaves it for a person; ``gated``
        approves it when every check holds; ``auto`` approves it. ``branch``
        learns straight into another branch instead; into ``main`` only under the
        ``auto`` policy, since anything else would skip the review.
        """
        from .review import (
            PREFIX,
            Gate,
            approve_by_policy,
            decide,
            get_proposal,
            proposal_branch,
            rejected_rules,
            start_proposal,
        )

        if not experiences:
            raise LearnError("no experiences to learn from")
        policy = self.settings.get("review", "policy")
        store = self.store
        proposal: str | None = None
        created = False
        if branch is not None and not branch.startswith(PREFIX):
            if branch == "main" and policy != "auto":
                raise ReviewError(
                    f"main takes learned changes only through review (policy = {policy!r} in "
                    "imlgit.toml): learn into a proposal (the default), or set policy = "
                    '"auto"'
                )
            if store.head(branch) is None:
                store.create_branch(branch, "main")
            target = branch
        else:
            name = propose or branch
            created = name is None or store.head(proposal_branch(name)) is None
            target = start_proposal(store, name)
            proposal = target[len(PREFIX) :]
        chosen = (
            learner
            if not isinstance(learner, (str, type(None)))
            else self.learner(experiences, learner)
        )
        s = self.settings
        settings = LearnSettings(
            batch=batch or s.get("learn", "batch"),
            epochs=epochs,
            momentum=float(s.get("learn", "momentum")),
            min_precision=float(s.get("learn", "min_precision")),
            min_coverage=s.get("learn", "min_coverage"),
            k=s.get("retrieval", "k"),
            store_experiences=s.get("learn", "store_experiences"),
            branch=target,
        )
        retriever = _IndexRetriever(self, target) if retrieval else None
        engine = Learning(
            store,
            chosen,
            settings=settings,
            retriever=retriever,
            author=LEARNER,
            rejected=rejected_rules(store),
        )
        try:
            with store.deferred_worktree():
                results = engine.learn(experiences, progress=progress)
        except BaseException:
            if created and proposal and store.head(target) == store.head("main"):
                store.delete_branch(target)
            raise
        out = Learned(results, target, proposal)
        if proposal is None:
            return out
        p = get_proposal(store, proposal)
        if not p.commits:
            if created:
                store.delete_branch(target)
            out.proposal = None
            return out
        gate = Gate.from_settings(s.section("review"), s.section("scan"))
        if policy != "manual":
            out.decision = decide(store, p, gate, policy)
            if out.decision.approve:
                out.approval = approve_by_policy(store, p, out.decision)
        return out


@dataclass
class Learned:
    """What :meth:`Memory.learn` did: the batches, where they went, what the policy decided."""

    batches: list[BatchResult]
    branch: str
    proposal: str | None = None
    decision: Decision | None = None
    approval: Approval | None = None

    @property
    def head(self) -> str | None:
        return self.batches[-1].head if self.batches else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "proposal": self.proposal,
            "decision": self.decision.to_dict() if self.decision else None,
            "approval": self.approval.to_dict() if self.approval else None,
            "batches": [b.to_dict() for b in self.batches],
        }


class _IndexRetriever:
    """Retrieval for learning: the index, synced to the branch head before a search."""

    def __init__(self, memory: Memory, branch: str) -> None:
        self.memory = memory
        self.branch = branch
        self._synced: str | None = None
        self._index: RuleIndex | None = None

    def search(self, query: str, k: int, scope: str | None) -> list[str]:
        head = self.memory.store.head(self.branch)
        if self._index is None or head != self._synced:
            self._index = self.memory.index(self.branch)
            self._synced = head
        return [h.rule_id for h in self._index.search(query, k, scope=scope)]
