"""Real human-written text in 74 of our 93 languages, read offline from Django's translations.

Why: tests and benchmarks that judge "is this text in language X?" (language identification,
script checks, tokenizer sanity) need text a person wrote in X, not text we generated. Django
(a pinned test dependency) ships volunteer translations of its ~1,000 user-facing strings for
about 100 locales as compiled gettext catalogs, ``django/**/locale/<locale>/LC_MESSAGES/*.mo``.
They are read here with the standard library's ``gettext.GNUTranslations`` (whose ``_catalog``
maps each English msgid to its translation); nothing is downloaded and Django is never set up.

What is kept of a catalog: translations of non-empty msgids (the first plural form), minus
strings left untranslated (equal to the English) and strings with a format placeholder
(``%(name)s``, ``%s``, ``{0}``: cutting it out would leave a gap), with HTML tags and entities
removed and whitespace collapsed; then only strings of at least 8 characters and (in languages
that space words) 3 words, whose letters are at least 80% in the language's script (as listed
in ``tasks.language.languages``), deduplicated, in sorted order: 17 (fy) to 285 (gl) strings.

The text is UI text: short imperative or descriptive sentences about users, passwords, dates
and forms ("Enter a valid email address."). It is real and idiomatic but narrow in topic;
judge a language detector on it, not a language model.

Codes are ours (ISO 639-1, as in ``tasks.language.languages.LANGUAGES``), mapped to Django's
locale names in ``DJANGO_LOCALES`` (``no`` -> ``nb``, ``zh`` -> ``zh_Hans``; ``sr`` is Serbian
in Cyrillic). ``VARIANTS`` adds a few non-default spellings for confusion tests: ``sr-Latn``
(Serbian in Latin script), ``zh-Hant`` (Traditional Chinese) and ``nn`` (Norwegian Nynorsk).

    from tests.support.real_text import REAL_TEXT_LANGUAGES, passage, sentences
    sentences("ru")[:2]                 # real Russian UI strings
    passage("zh", min_chars=400)        # >= 400 characters, same text for the same seed
    english_sentences()                 # the English source strings (msgids)

Django is imported lazily, so importing this module is free; calling it without Django
installed raises ``ModuleNotFoundError``.
"""

from __future__ import annotations

import functools
import gettext
import random
import re
from pathlib import Path

from tasks.language.languages import language_script
from tasks.language.scripts import UNSPACED as SCRIPT_UNSPACED
from tasks.language.scripts import script_share

# Our code -> Django locale directory name. Of our 93, Django 5.2 has no catalog for as gu ha
# jv la lo mg om or ps sa sd si so su tl xh yi; and its ckb is Central Kurdish in Arabic
# script, while our ku is Kurmanji in Latin script, so ku is left out too.
DJANGO_LOCALES: dict[str, str] = {
    "af": "af", "am": "am", "ar": "ar", "az": "az", "be": "be", "bg": "bg", "bn": "bn", "br": "br",
    "bs": "bs", "ca": "ca", "cs": "cs", "cy": "cy", "da": "da", "de": "de", "el": "el", "eo": "eo",
    "es": "es", "et": "et", "eu": "eu", "fa": "fa", "fi": "fi", "fr": "fr", "fy": "fy", "ga": "ga",
    "gd": "gd", "gl": "gl", "he": "he", "hi": "hi", "hr": "hr", "hu": "hu", "hy": "hy", "id": "id",
    "is": "is", "it": "it", "ja": "ja", "ka": "ka", "kk": "kk", "km": "km", "kn": "kn", "ko": "ko",
    "ky": "ky", "lt": "lt", "lv": "lv", "mk": "mk", "ml": "ml", "mn": "mn", "mr": "mr", "ms": "ms",
    "my": "my", "ne": "ne", "nl": "nl", "no": "nb", "pa": "pa", "pl": "pl", "pt": "pt", "ro": "ro",
    "ru": "ru", "sk": "sk", "sl": "sl", "sq": "sq", "sr": "sr", "sv": "sv", "sw": "sw", "ta": "ta",
    "te": "te", "th": "th", "tr": "tr", "ug": "ug", "uk": "uk", "ur": "ur", "uz": "uz", "vi": "vi",
    "zh": "zh_Hans",
}
# Our codes with at least MIN_SENTENCES usable strings in Django 5.2 (checked by a test):
# English (the msgids) and every language in DJANGO_LOCALES. Fewest: fy 17, am 21, ta 44.
REAL_TEXT_LANGUAGES: tuple[str, ...] = tuple(sorted({"en", *DJANGO_LOCALES}))
# Extra spellings, not among our 93 codes: (Django locale, script).
VARIANTS: dict[str, tuple[str, str]] = {
    "sr-Latn": ("sr_Latn", "Latin"), "zh-Hant": ("zh_Hant", "Han"), "nn": ("nn", "Latin"),
}
# Languages written without spaces between words: passages are joined with no separator.
UNSPACED = SCRIPT_UNSPACED | {"zh-Hant"}

MIN_CHARS = 8
MIN_WORDS = 3
MIN_SCRIPT_SHARE = 0.8
MIN_SENTENCES = 10

# A string with a format placeholder is dropped whole: cutting "%(name)s" out leaves a gap.
_FORMAT = re.compile(
    r"%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]"  # %(name)s, %(count)d
    r"|%[-#0 +]*\d*(?:\.\d+)?[sdifrxX]"  # %s, %d, %.2f
    r"|\{[^{}]*\}"  # {0}, {name}
)
_MARKUP = re.compile(r"<[^>]*>|&[a-zA-Z]+;|&#\d+;")  # HTML tags and entities: removed, text kept
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,:;!?。、，：；！？»)\]])")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|“\s*”|«\s*»|„\s*“|\"\s*\"|'\s*'|「\s*」")

# Our code for a language (or variant) -> (Django locale, script).
_SOURCES: dict[str, tuple[str, str]] = {
    **{code: (locale, language_script(code)) for code, locale in DJANGO_LOCALES.items()}, **VARIANTS,
}


def _django_root() -> Path:
    import django  # lazy: a test dependency, absent from the runtime install

    return Path(django.__file__).resolve().parent


@functools.cache
def _catalogs(locale: str) -> tuple[dict, ...]:
    """Every compiled catalog of ``locale`` (core and contrib apps, django and djangojs domains)."""
    root = _django_root()
    files = sorted(root.glob(f"conf/locale/{locale}/LC_MESSAGES/*.mo"))
    files += sorted(root.glob(f"contrib/*/locale/{locale}/LC_MESSAGES/*.mo"))
    catalogs = []
    for path in files:
        with path.open("rb") as handle:
            catalogs.append(gettext.GNUTranslations(handle)._catalog)
    return tuple(catalogs)


def _clean(text: str) -> str:
    text = _MARKUP.sub(" ", text)
    text = _EMPTY_BRACKETS.sub(" ", text)
    text = " ".join(text.split())
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return text.strip(" -–—:,;")


def _usable(text: str, language: str, script: str) -> bool:
    if len(text) < MIN_CHARS:
        return False
    if language not in UNSPACED and len(text.split()) < MIN_WORDS:
        return False
    return any(ch.isalpha() for ch in text) and script_share(text, script) >= MIN_SCRIPT_SHARE


def _msgid(key: str | tuple) -> str:
    msgid = key[0] if isinstance(key, tuple) else key
    return msgid.rpartition("\x04")[2]  # drop a msgctxt prefix ("context\x04msgid")


@functools.cache
def _pairs(language: str) -> tuple[tuple[str, str], ...]:
    """(English source, translation) of every usable string of ``language``, cleaned."""
    if language not in _SOURCES:
        raise KeyError(f"no Django translations for {language!r}; have: {', '.join(sorted(_SOURCES))}")
    locale, script = _SOURCES[language]
    kept: dict[str, str] = {}
    for catalog in _catalogs(locale):
        for key, translation in catalog.items():
            if isinstance(key, tuple) and key[1] != 0:
                continue  # first plural form only: the others repeat it
            msgid = _msgid(key)
            if not msgid or translation == msgid or _FORMAT.search(msgid) or _FORMAT.search(translation):
                continue
            text, source = _clean(translation), _clean(msgid)
            if text != source and _usable(text, language, script):
                kept.setdefault(text, source)
    return tuple(sorted((source, text) for text, source in kept.items()))


@functools.cache
def _sentences(language: str) -> tuple[str, ...]:
    return tuple(sorted(text for _, text in _pairs(language)))


def translation_pairs(language: str) -> list[tuple[str, str]]:
    """(English source string, its translation) for every string :func:`sentences` keeps.

    What length ratios are measured on: the same text in English and in ``language``.
    """
    return list(_pairs(language))


@functools.cache
def _english() -> tuple[str, ...]:
    kept: set[str] = set()
    for locale in ("de", "fr", "ru", "es", "pl"):  # well-translated: together they hold every msgid
        for catalog in _catalogs(locale):
            for key in catalog:
                msgid = _msgid(key)
                if _FORMAT.search(msgid):
                    continue
                text = _clean(msgid)
                if _usable(text, "en", "Latin"):
                    kept.add(text)
    return tuple(sorted(kept))


def sentences(language: str) -> list[str]:
    """The usable translated strings for ``language`` (our code, or one of ``VARIANTS``), sorted.

    ``"en"`` gives the English source strings. Cached: the first call per language parses ~12
    small catalogs (tens of milliseconds). Raises ``KeyError`` for a language without a catalog.
    """
    if language == "en":
        return list(_english())
    return list(_sentences(language))


def english_sentences() -> list[str]:
    """The English source strings (msgids) of Django's catalogs, cleaned like the translations."""
    return list(_english())


def passage(language: str, min_chars: int, seed: int = 0) -> str:
    """At least ``min_chars`` characters of real text, joined from shuffled ``sentences``.

    Deterministic for (language, min_chars, seed). Sentences are joined with a space, or with
    nothing in languages that do not space words (zh, ja, th, lo, km, my). Each sentence is used
    at most once; raises ``ValueError`` when the language has too little text for ``min_chars``.
    """
    pool = sentences(language)
    separator = "" if language in UNSPACED else " "
    random.Random(f"{language}/{seed}").shuffle(pool)
    parts: list[str] = []
    length = 0
    for sentence in pool:
        parts.append(sentence)
        length += len(sentence) + (len(separator) if len(parts) > 1 else 0)
        if length >= min_chars:
            return separator.join(parts)
    raise ValueError(f"{language} has only {length} characters of text; asked for {min_chars}")


