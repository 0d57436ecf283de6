"""The git layer: what speaks to git and its tools (see DESIGN.md, target layout).

Today it holds the signing of approvals (:mod:`imlgit.git.signing`); the store's
object, ref and worktree code moves here as those modules are touched.
"""
