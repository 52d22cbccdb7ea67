"""The 93 languages of E5-mistral's synthetic data, their names, scripts and sampling weights.

The set is XLM-R's 100 pre-training languages minus the romanized and Zawgyi variants, with
Chinese counted once (REFERENCE.md §2). Default weights follow a public reproduction: English
0.431, thirteen high-resource languages 0.029 each, the rest share what remains equally.

>>> len(LANGUAGES)
93
>>> round(sum(default_weights().values()), 6)
1.0
>>> parse_languages("en, es")
['en', 'es']
"""

from __future__ import annotations

# code -> (English name, script). The script drives the cheap wrong-language check in
# tasks.synth.parsing: a text meant to be in Thai must be mostly Thai letters.
LANGUAGES: dict[str, tuple[str, str]] = {
    "af": ("Afrikaans", "Latin"), "am": ("Amharic", "Ethiopic"), "ar": ("Arabic", "Arabic"),
    "as": ("Assamese", "Bengali"), "az": ("Azerbaijani", "Latin"), "be": ("Belarusian", "Cyrillic"),
    "bg": ("Bulgarian", "Cyrillic"), "bn": ("Bengali", "Bengali"), "br": ("Breton", "Latin"),
    "bs": ("Bosnian", "Latin"), "ca": ("Catalan", "Latin"), "cs": ("Czech", "Latin"),
    "cy": ("Welsh", "Latin"), "da": ("Danish", "Latin"), "de": ("German", "Latin"),
    "el": ("Greek", "Greek"), "en": ("English", "Latin"), "eo": ("Esperanto", "Latin"),
    "es": ("Spanish", "Latin"), "et": ("Estonian", "Latin"), "eu": ("Basque", "Latin"),
    "fa": ("Persian", "Arabic"), "fi": ("Finnish", "Latin"), "fr": ("French", "Latin"),
    "fy": ("Western Frisian", "Latin"), "ga": ("Irish", "Latin"), "gd": ("Scottish Gaelic", "Latin"),
    "gl": ("Galician", "Latin"), "gu": ("Gujarati", "Gujarati"), "ha": ("Hausa", "Latin"),
    "he": ("Hebrew", "Hebrew"), "hi": ("Hindi", "Devanagari"), "hr": ("Croatian", "Latin"),
    "hu": ("Hungarian", "Latin"), "hy": ("Armenian", "Armenian"), "id": ("Indonesian", "Latin"),
    "is": ("Icelandic", "Latin"), "it": ("Italian", "Latin"), "ja": ("Japanese", "Japanese"),
    "jv": ("Javanese", "Latin"), "ka": ("Georgian", "Georgian"), "kk": ("Kazakh", "Cyrillic"),
    "km": ("Khmer", "Khmer"), "kn": ("Kannada", "Kannada"), "ko": ("Korean", "Hangul"),
    "ku": ("Kurdish", "Latin"), "ky": ("Kyrgyz", "Cyrillic"), "la": ("Latin", "Latin"),
    "lo": ("Lao", "Lao"), "lt": ("Lithuanian", "Latin"), "lv": ("Latvian", "Latin"),
    "mg": ("Malagasy", "Latin"), "mk": ("Macedonian", "Cyrillic"), "ml": ("Malayalam", "Malayalam"),
    "mn": ("Mongolian", "Cyrillic"), "mr": ("Marathi", "Devanagari"), "ms": ("Malay", "Latin"),
    "my": ("Burmese", "Myanmar"), "ne": ("Nepali", "Devanagari"), "nl": ("Dutch", "Latin"),
    "no": ("Norwegian", "Latin"), "om": ("Oromo", "Latin"), "or": ("Odia", "Oriya"),
    "pa": ("Punjabi", "Gurmukhi"), "pl": ("Polish", "Latin"), "ps": ("Pashto", "Arabic"),
    "pt": ("Portuguese", "Latin"), "ro": ("Romanian", "Latin"), "ru": ("Russian", "Cyrillic"),
    "sa": ("Sanskrit", "Devanagari"), "sd": ("Sindhi", "Arabic"), "si": ("Sinhala", "Sinhala"),
    "sk": ("Slovak", "Latin"), "sl": ("Slovenian", "Latin"), "so": ("Somali", "Latin"),
    "sq": ("Albanian", "Latin"), "sr": ("Serbian", "Cyrillic"), "su": ("Sundanese", "Latin"),
    "sv": ("Swedish", "Latin"), "sw": ("Swahili", "Latin"), "ta": ("Tamil", "Tamil"),
    "te": ("Telugu", "Telugu"), "th": ("Thai", "Thai"), "tl": ("Filipino", "Latin"),
    "tr": ("Turkish", "Latin"), "ug": ("Uyghur", "Arabic"), "uk": ("Ukrainian", "Cyrillic"),
    "ur": ("Urdu", "Arabic"), "uz": ("Uzbek", "Latin"), "vi": ("Vietnamese", "Latin"),
    "xh": ("Xhosa", "Latin"), "yi": ("Yiddish", "Hebrew"), "zh": ("Chinese", "Han"),
}

ENGLISH_WEIGHT = 0.431
HIGH_RESOURCE = ("de", "es", "fr", "ru", "ja", "zh", "pt", "it", "ar", "ko", "nl", "pl", "tr")
HIGH_RESOURCE_WEIGHT = 0.029


def language_name(code: str) -> str:
    """English name of a language code: ``language_name("es") == "Spanish"``."""
    return LANGUAGES[code][0]


def language_script(code: str) -> str:
    """Writing script of a language code (Serbian: Cyrillic, its official script)."""
    return LANGUAGES[code][1]


# Languages written in more than one script, whose prompts name the one tasks.synth.language_check
# enforces (the script of LANGUAGES). Naming it for every language confuses small generators
# ("The Latin alphabet contains many words..." for a Spanish prompt), so the others say nothing.
MULTI_SCRIPT = frozenset({"az", "bs", "ha", "jv", "kk", "ku", "ky", "mn", "ms", "pa", "sa", "sd", "sr", "su", "ug", "uz", "zh"})
_SCRIPT_PHRASES = {"Latin": "the Latin alphabet", "Han": "Simplified Chinese characters"}


def script_note(code: str) -> str:
    """What a prompt adds after a language's name: ``" (Cyrillic script)"`` for Serbian, ``""`` for Spanish.

    >>> script_note("sr"), script_note("uz"), script_note("es")
    (' (Cyrillic script)', ' (the Latin alphabet)', '')
    """
    if code not in MULTI_SCRIPT:
        return ""
    script = language_script(code)
    return f" ({_SCRIPT_PHRASES.get(script, f'{script} script')})"


def default_weights() -> dict[str, float]:
    """English-dominant weights over all 93 languages, summing to 1."""
    rest = [c for c in LANGUAGES if c != "en" and c not in HIGH_RESOURCE]
    rest_weight = (1.0 - ENGLISH_WEIGHT - HIGH_RESOURCE_WEIGHT * len(HIGH_RESOURCE)) / len(rest)
    weights = {c: rest_weight for c in rest}
    weights.update({c: HIGH_RESOURCE_WEIGHT for c in HIGH_RESOURCE})
    weights["en"] = ENGLISH_WEIGHT
    return {c: weights[c] for c in LANGUAGES}


def parse_languages(text: str) -> list[str]:
    """Parse ``"en,es"`` (or ``"all"``); raise ValueError naming every unknown code."""
    if text.strip() == "all":
        return list(LANGUAGES)
    codes = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in codes if c not in LANGUAGES]
    if unknown:
        raise ValueError(
            f"unknown language code(s): {', '.join(unknown)}; use ISO 639-1 codes from the "
            f"93 supported (e.g. en, es, zh) or 'all'"
        )
    if not codes:
        raise ValueError("no language given")
    return list(dict.fromkeys(codes))


def parse_weights(text: str) -> dict[str, float]:
    """Parse ``"en=0.5,es=0.5"`` into weights; unknown codes and negative values are errors."""
    weights: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        code, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"language weight {item!r} is not of the form code=weight")
        parse_languages(code)
        try:
            weights[code.strip()] = float(value)
        except ValueError:
            raise ValueError(f"language weight {item!r}: {value!r} is not a number") from None
        if weights[code.strip()] < 0:
            raise ValueError(f"language weight {item!r} is negative")
    return weights
