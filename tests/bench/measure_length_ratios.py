"""Measure the length ratios synthesis uses: letters per English word (unspaced scripts) and the
generator's tokens per English word (every language), on real translations of the same text.

The text is Django's message catalogs (tests/support/real_text.py): each translated string is
paired with its English source, so "per English word" compares like with like. The tokenizer
is Qwen2.5's (the embedded generator), read from its GGUF. Prints a table and the two Python
dicts to paste into tasks/language/scripts.py (CHARS_PER_WORD) and tasks/synth/lengths.py
(TOKENS_PER_WORD).

    .venv/bin/python tests/bench/measure_length_ratios.py
"""

from __future__ import annotations

import platform
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

from tasks.common.shipped_models import ensure_gguf  # noqa: E402
from tasks.language.languages import language_script  # noqa: E402
from tasks.language.scripts import UNSPACED, in_script  # noqa: E402
from tests.support.real_text import REAL_TEXT_LANGUAGES, english_sentences, translation_pairs  # noqa: E402


def main() -> None:
    from transformers import AutoTokenizer

    gguf = ensure_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    count = lambda text: len(tokenizer.encode(text, add_special_tokens=False))  # noqa: E731
    started = time.perf_counter()
    rows = []
    english = english_sentences()
    rows.append(("en", sum(len(s.split()) for s in english), None, sum(map(count, english)) / sum(len(s.split()) for s in english)))
    for language in REAL_TEXT_LANGUAGES:
        if language == "en":
            continue
        pairs = translation_pairs(language)
        words = sum(len(source.split()) for source, _ in pairs)
        script = language_script(language)
        letters = sum(1 for _, text in pairs for ch in text if ch.isalpha() and in_script(ch, script))
        tokens = sum(count(text) for _, text in pairs)
        rows.append((language, words, letters / words, tokens / words))
    print(f"# Length ratios ({date.today()}, {platform.node()}, tokenizer {gguf.name}, {time.perf_counter() - started:.0f} s)\n")
    print("| language | English words | letters / word | tokens / word |\n|---|---:|---:|---:|")
    for language, words, letters, tokens in rows:
        print(f"| {language} | {words} | {'' if letters is None else f'{letters:.2f}'} | {tokens:.2f} |")
    print("\nCHARS_PER_WORD =", {lang: round(letters, 2) for lang, _, letters, _ in rows if lang in UNSPACED})
    print("TOKENS_PER_WORD =", {lang: round(tokens, 2) for lang, _, _, tokens in rows})


if __name__ == "__main__":
    main()
