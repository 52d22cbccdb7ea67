"""Answers built from our own prompts: the JSON keys a prompt asks for, each in its language, as long as asked.

The keys are the task types' output keys (:data:`tasks.synth.task_types.TASK_SPECS`); a key's
language is the one its part of the prompt names, and its text is real text in that language
(Django's translations, :mod:`tests.support.real_text`) or filler words in its script.

>>> field_languages('Return "S1": a sentence in Hindi, "S2": its translation in Spanish.')
{'S1': 'hi', 'S2': 'es'}
>>> json.loads(valid_answer('Brainstorm. Answer {"tasks": [...]}', 3))["tasks"][0]
'Given a topic number 3-0, retrieve passages about it.'
"""

from __future__ import annotations

import functools
import json
import random
import re

from tasks.language.languages import LANGUAGES, language_script
from tasks.language.scripts import CHARS_PER_WORD, UNSPACED, in_script, word_count
from tasks.runs.schema import TaskType
from tasks.synth.language_id import check_identified
from tasks.synth.lengths import asked_words
from tasks.synth.rejects import Rejected
from tasks.synth.task_types import TASK_SPECS
from tests.support.fake_openai.filter_answers import is_judge, is_relabel, judge_answer, relabel_answer
from tests.support.real_text import sentences

# Every JSON key an example prompt may ask for: the task types' output keys, once each.
KEYS = tuple(dict.fromkeys(key for spec in TASK_SPECS.values() for key in spec.output_keys))
# Words per field when the prompt asks for no length: labels are short, texts a sentence or two.
_CLASSIFICATION = TASK_SPECS[TaskType.CLASSIFICATION]
FIELD_WORDS = {_CLASSIFICATION.positive_key: 2, _CLASSIFICATION.negative_key: 2}
DEFAULT_FIELD_WORDS = 14
_LENGTH_PHRASE = re.compile(r"(?:about|at least|less than)\s+\d+(?:\s+words)?|\d+\s+to\s+\d+\s+words")
_QUERY_LENGTH = re.compile(r"less than \d+ words|\d+ to \d+ words|at least \d+ words")
_ABOUT = re.compile(r"about (\d+) words")
_QUERY_KEY = TASK_SPECS[TaskType.RETRIEVAL].query_key  # the retrieval query: its length is asked apart

# Ten everyday words per script that tasks.language.languages uses: parsing's wrong-language check
# counts letters by script, so an answer in these passes for every language of that script.
FILLER: dict[str, list[str]] = {script: words.split() for script, words in {
    "Latin": "river garden window silver market winter letter bridge candle forest",
    "Cyrillic": "река сад окно серебро рынок зима письмо мост свеча лес",
    "Greek": "ποτάμι κήπος παράθυρο ασήμι αγορά χειμώνας γράμμα γέφυρα κερί δάσος",
    "Arabic": "نهر حديقة نافذة فضة سوق شتاء رسالة جسر شمعة غابة",
    "Hebrew": "נהר גן חלון כסף שוק חורף מכתב גשר נר יער",
    "Devanagari": "नदी बगीचा खिड़की चाँदी बाज़ार सर्दी पत्र पुल मोमबत्ती जंगल",
    "Bengali": "নদী বাগান জানালা রুপা বাজার শীত চিঠি সেতু মোমবাতি বন",
    "Gujarati": "નદી બગીચો બારી ચાંદી બજાર શિયાળો પત્ર પુલ મીણબત્તી જંગલ",
    "Gurmukhi": "ਨਦੀ ਬਾਗ ਖਿੜਕੀ ਚਾਂਦੀ ਬਾਜ਼ਾਰ ਸਰਦੀ ਚਿੱਠੀ ਪੁਲ ਮੋਮਬੱਤੀ ਜੰਗਲ",
    "Oriya": "ନଦୀ ବଗିଚା ଝରକା ରୂପା ବଜାର ଶୀତ ଚିଠି ପୋଲ ମହମବତୀ ଜଙ୍ଗଲ",
    "Tamil": "நதி தோட்டம் சன்னல் வெள்ளி சந்தை குளிர் கடிதம் பாலம் மெழுகுவர்த்தி காடு",
    "Telugu": "నది తోట కిటికీ వెండి సంత చలికాలం ఉత్తరం వంతెన కొవ్వొత్తి అడవి",
    "Kannada": "ನದಿ ತೋಟ ಕಿಟಕಿ ಬೆಳ್ಳಿ ಸಂತೆ ಚಳಿಗಾಲ ಪತ್ರ ಸೇತುವೆ ಮೇಣದಬತ್ತಿ ಕಾಡು",
    "Malayalam": "നദി തോട്ടം ജനൽ വെള്ളി ചന്ത ശൈത്യം കത്ത് പാലം മെഴുകുതിരി കാട്",
    "Sinhala": "ගඟ වත්ත ජනේලය රිදී වෙළඳපොළ ශීතය ලිපිය පාලම ඉටිපන්දම වනය",
    "Thai": "แม่น้ำ สวน หน้าต่าง เงิน ตลาด ฤดูหนาว จดหมาย สะพาน เทียน ป่า",
    "Lao": "ແມ່ນ້ຳ ສວນ ປ່ອງຢ້ຽມ ເງິນ ຕະຫຼາດ ລະດູໜາວ ຈົດໝາຍ ຂົວ ທຽນ ປ່າ",
    "Khmer": "ទន្លេ សួន បង្អួច ប្រាក់ ផ្សារ រដូវរងា សំបុត្រ ស្ពាន ទៀន ព្រៃ",
    "Myanmar": "မြစ် ဥယျာဉ် ပြတင်းပေါက် ငွေ ဈေး ဆောင်းရာသီ စာ တံတား ဖယောင်းတိုင် တော",
    "Georgian": "მდინარე ბაღი ფანჯარა ვერცხლი ბაზარი ზამთარი წერილი ხიდი სანთელი ტყე",
    "Armenian": "գետ այգի պատուհան արծաթ շուկա ձմեռ նամակ կամուրջ մոմ անտառ",
    "Ethiopic": "ወንዝ የአትክልት መስኮት ብር ገበያ ክረምት ደብዳቤ ድልድይ ሻማ ጫካ",
    "Hangul": "강 정원 창문 은 시장 겨울 편지 다리 양초 숲",
    "Han": "河流 花园 窗户 白银 市场 冬天 信件 桥梁 蜡烛 森林",
    "Japanese": "川 にわ マド ぎん 市場 ふゆ テガミ はし ロウソク 森",  # kanji, hiragana and katakana mixed
}.items()}

# Prompts name languages in English ("written in Hindi", bitext: '"S1": a sentence in Hindi').
_CODE_OF_NAME = {name: code for code, (name, _) in LANGUAGES.items()}
_NAMES = "|".join(sorted(map(re.escape, _CODE_OF_NAME), key=len, reverse=True))  # "Malayalam" before "Malay"
_IN_LANGUAGE, _ANY_LANGUAGE = re.compile(rf"\bin ({_NAMES})\b"), re.compile(rf"\b({_NAMES})\b")


def _named_language(text: str, default: str) -> str:
    match = _IN_LANGUAGE.search(text) or _ANY_LANGUAGE.search(text)
    return _CODE_OF_NAME[match.group(1)] if match else default


def field_segments(prompt: str) -> dict[str, tuple[str, str]]:
    """The keys a prompt asks for, in prompt order, each with its language code and its part of the prompt.

    A key takes the language named in its own part of the prompt (bitext names one per key),
    else the prompt's language, else English.
    """
    starts = sorted((prompt.find(f'"{key}"'), key) for key in KEYS if f'"{key}"' in prompt)
    overall = _named_language(prompt, "en")
    ends = [start for start, _ in starts[1:]] + [len(prompt)]
    return {key: (_named_language(prompt[start:end], overall), prompt[start:end])
            for (start, key), end in zip(starts, ends)}


def field_languages(prompt: str) -> dict[str, str]:
    """The keys a prompt asks for, in prompt order, each with the language code it must be in."""
    return {key: code for key, (code, _) in field_segments(prompt).items()}


def filler_text(script: str, n: int, field_index: int, words: int) -> str:
    """``words`` filler words in ``script``, led by a number marker (digits are not letters, so
    the script check ignores it) that makes each answer and each field distinct."""
    vocabulary = FILLER[script]
    body = (vocabulary[(n + field_index + i) % len(vocabulary)] for i in range(words - 1))
    return " ".join([f"{n}.{field_index}", *body])


def _target(lo: int | None, hi: int | None) -> int:
    """A length inside what was asked: the middle of a range, a little over a minimum, under a maximum."""
    if lo and hi:
        return (lo + hi) // 2
    if lo:
        return lo + max(2, lo // 10)
    return max(1, (hi or DEFAULT_FIELD_WORDS) - 1)


def field_words(key: str, segment: str, prompt: str) -> int:
    """How many words the prompt asks of ``key``: a length phrase in the key's own part of the
    prompt, else the query length or document length stated elsewhere, else a default."""
    if key in FIELD_WORDS:
        return FIELD_WORDS[key]
    if key == _QUERY_KEY and (match := _QUERY_LENGTH.search(prompt)):
        return _target(*asked_words(match.group(0)))
    if key.endswith("_document") and (match := _ABOUT.search(prompt)):  # retrieval: "about N words" each
        return int(match.group(1))
    if match := _LENGTH_PHRASE.search(segment):
        return _target(*asked_words(match.group(0)))
    return DEFAULT_FIELD_WORDS


def _identifiable(text: str, language: str) -> bool:
    try:
        check_identified(text, language)
    except Rejected:
        return False
    return True


@functools.cache
def identifiable_sentences(language: str) -> tuple[str, ...]:
    """The real sentences of ``language`` that language identification places in it (~99.7 %)."""
    return tuple(s for s in sentences(language) if _identifiable(s, language))


def real_text(language: str, words: int, n: int, field_index: int) -> str:
    """About ``words`` words (word equivalents) of real text in ``language`` (Django's translations),
    led by a number marker that makes every answer and field distinct; filler words in the
    language's script where there is no real text (tests then check only its script).

    A text that language identification would misplace (a cut-off Frisian fragment read as
    English) is drawn again: this server answers in the right language, recognisably.
    """
    try:
        pool = identifiable_sentences(language)
    except KeyError:
        return filler_text(language_script(language), n, field_index, words)
    for attempt in range(20):
        text = _draw(pool, language, words, random.Random(f"{n}/{field_index}/{attempt}"))
        if _identifiable(text, language):
            break
    return f"{n}.{field_index} {text}"


def _draw(pool: tuple[str, ...], language: str, words: int, rng: random.Random) -> str:
    """``words`` words of running text from random sentences, starting at a random word: answers
    to many requests share sentences but not whole stretches of text (no false near-duplicates)."""
    parts: list[str] = []
    slack = max(4, words // 2)
    while word_count(" ".join(parts), language) < words + slack:
        parts.append(rng.choice(pool))
    text = (" " if language not in UNSPACED else "").join(parts)
    if language in UNSPACED:  # cut to the length asked for, counted as word_count counts it
        start = rng.randrange(max(1, len(text) // 3))
        return _cut_letters(text[start:], language, max(2, round(words * CHARS_PER_WORD[language])))
    tokens = text.split()
    start = rng.randrange(max(1, len(tokens) - words))
    return " ".join(tokens[start : start + max(1, words - 1)])


def _cut_letters(text: str, language: str, letters: int) -> str:
    """``text`` up to its ``letters``-th letter of the language's script."""
    script, seen = language_script(language), 0
    for i, ch in enumerate(text):
        if ch.isalpha() and in_script(ch, script):
            seen += 1
            if seen == letters:
                return text[: i + 1]
    return text


def valid_answer(prompt: str, n: int, language: str | None = None) -> str:
    """A valid JSON answer for whatever the prompt asks: a brainstorm task list, one example, or a cleaning
    question (:mod:`.filter_answers`).

    Each field is real text in its language (``language`` overrides what the prompt asks), as
    long as the prompt asks, and carries ``n``, so answers to one prompt differ by request number.
    """
    if is_judge(prompt):  # the cleaning stage's questions (their prompts hold row texts: asked first)
        return judge_answer(5)
    if is_relabel(prompt):
        return relabel_answer(prompt)
    if '"tasks"' in prompt:
        return json.dumps({"tasks": [f"Given a topic number {n}-{i}, retrieve passages about it." for i in range(20)]})
    fields = {
        key: real_text(language or code, field_words(key, segment, prompt), n, i)
        for i, (key, (code, segment)) in enumerate(field_segments(prompt).items())
    }
    return json.dumps(fields, ensure_ascii=False)


def malformed_answer() -> str:
    """Truncated JSON: an answer cut off inside its first field."""
    return json.dumps({_QUERY_KEY: "unterminated"})[:-2]


def wrong_keys_answer() -> str:
    """Valid JSON without any key a task type asks for."""
    return json.dumps({"something": "else"})
