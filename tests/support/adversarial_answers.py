"""LLM answers built to hurt a parser: past the recursion limit, megabytes long, escaped lone surrogates.

The parser fuzz (tests/synth/test_parsing_fuzz.py) proves each is kept or rejected, never raised;
the parsing benchmark (tests/bench/bench_parsing.py) times them against :data:`PARSE_LIMIT_S`.
"""

from __future__ import annotations

PARSE_LIMIT_S = 0.5  # one answer, parsed as an example and as a task list, on the development machine

ADVERSARIAL_ANSWERS = [
    "[" * 100_000 + "]" * 100_000,  # nesting past the recursion limit
    '{"S1": ' * 50_000 + "1" + "}" * 50_000,
    '{"S1": "' + "a" * 5_000_000 + '"}',  # a 5 MB field
    "```json\n" + " \n" * 200_000 + "x",  # fence-shaped, whitespace-heavy, unterminated
    '{"S1": "\\ud800\\udfff\\ud800", "S2": "\\u0000", "S3": "x"}',  # escaped lone surrogates and NUL
    '{"S1": "a", "S1": "b", "S2": "c", "S3": "d"}',  # duplicate keys
    "NaN", "-Infinity", "1e999999", '"' + "\\" * 10_001 + '"',
]
