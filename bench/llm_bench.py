"""Load time and speed of the embedded model server.

    .venv/bin/python bench/llm_bench.py [--runs 3] [--max-tokens 128]

Starts imlgit's EmbeddedServer (SmolLM2-135M-Instruct, llama.cpp in-process,
2 threads), then asks a few completions through the openai client and prints
the load time, prompt and generation tokens/s (from llama.cpp's own timings)
and the wall-clock time of a small JSON answer.
"""

from __future__ import annotations

import statistics
import time

import click

from imlgit.llm import EmbeddedServer, LLMSettings, OpenAIChat

PROMPT = [{"role": "user", "content": "Write a short paragraph about version control."}]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
ASK = [{"role": "user", "content": 'What is the capital of France? Reply as {"answer": "..."}'}]


@click.command(help=__doc__.splitlines()[0])
@click.option("--runs", type=int, default=3, show_default=True)
@click.option("--max-tokens", type=int, default=128, show_default=True)
def main(runs: int, max_tokens: int) -> None:

    with EmbeddedServer() as server:
        print(f"load: {server.load_seconds:.2f} s  ({server.base_url})")
        from openai import OpenAI

        with OpenAI(base_url=server.base_url, api_key="no-key", max_retries=0) as client:
            prompt_rates, gen_rates = [], []
            for _ in range(runs):
                response = client.chat.completions.create(
                    model="local",
                    messages=PROMPT,  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=0,
                    extra_body={"cache_prompt": False},
                )
                timings = (response.model_extra or {}).get("timings", {})
                prompt_rates.append(timings.get("prompt_per_second", 0.0))
                gen_rates.append(timings.get("predicted_per_second", 0.0))
        print(f"prompt: {statistics.median(prompt_rates):.0f} tokens/s")
        print(f"generation: {statistics.median(gen_rates):.0f} tokens/s")

        settings = LLMSettings(base_url=server.base_url, model="local", max_tokens=64)
        with OpenAIChat(settings) as chat:
            chat.complete_json(ASK, SCHEMA, name="warmup")
            began = time.perf_counter()
            answer = chat.complete_json(ASK, SCHEMA, name="capital")
            elapsed = time.perf_counter() - began
        print(f"json answer: {elapsed:.2f} s, {answer.attempts} attempt(s): {answer.data}")


if __name__ == "__main__":
    main()
