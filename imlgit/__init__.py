"""imlgit: In-Memory Learning with a git repository as the memory."""
