"""The bounds of what the language-model learner shows and accepts."""

MAX_RATIONALE = 500
MAX_TITLE = 120
MAX_ANSWER = 1_000  # characters: a grammar-bound answer then fits in 512 tokens
MAX_THEN = 200
MAX_VALUE_CHARS = 1_000  # a string (input, statement, rationale) as shown in a prompt
MAX_QUESTION_CHARS = 4_000
MAX_PROMPT_CHARS = 24_000  # a learning prompt, experiences cut to fit (about 6,000 tokens)
RECENT_SHOWN = 3  # rationales of a rule's last changes shown with it (momentum)
