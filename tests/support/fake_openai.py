"""A scripted OpenAI-compatible server for tests and benchmarks: real HTTP on 127.0.0.1.

It serves ``/v1/models``, ``/v1/chat/completions``, the Batch API (``/v1/files``,
``/v1/batches``) and ``/stats`` from an aiohttp event loop in one background thread, so hundreds
of concurrent keep-alive requests with simulated latency cost no thread each.

A *policy* ``(n, prompt) -> kind`` decides each chat request (``n``: 0-based over all chat
requests, online and batch items; ``prompt``: the last message's content):

    ok              a valid answer for whatever the prompt asks, in the requested language's script
    429 / 500       rate limited (with Retry-After) / internal error
    stall           wait ``stall_s`` (past the client's timeout), then answer
    malformed       truncated JSON
    wrong_keys      JSON without the keys asked for
    wrong_language  valid JSON, but in English whatever language was asked
    one_language    valid JSON, every field in the first field's language (bitext: no translation)
    no_json_mode    400 if ``response_format`` is sent (a server without JSON mode), else ok
    expire          a batch item left unanswered, so its batch expires (online: like stall)

Everything is recorded for assertions: ``requests`` (time, kind), ``bodies`` (each request's
JSON), ``batch_requests``, ``batch_bodies``, ``files``, ``batches``.

    with FakeOpenAI(policy=lambda n, prompt: "500" if n == 0 else "ok", latency_s=0.2, max_concurrent=4) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x")
        client.chat.completions.create(model=server.model, messages=[...], temperature=0.7)
    assert server.bodies[-1]["temperature"] == 0.7 and server.count("500") == 1

As a separate process (a throughput benchmark must not share the client's GIL); it prints its
base URL, then serves until SIGTERM or SIGINT::

    python -m tests.support.fake_openai --port 8999 --latency-s 0.5 --max-concurrent 64
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import random
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from tasks.language.languages import LANGUAGES, language_script
from tasks.synth.language_id import check_identified
from tasks.synth.lengths import asked_words
from tasks.synth.rejects import Rejected
from tasks.language.scripts import CHARS_PER_WORD, UNSPACED, in_script, word_count
from tests.support.real_text import sentences

MODEL = "fake-model"
CHAT_ENDPOINT = "/v1/chat/completions"
KEYS = ("user_query", "positive_document", "hard_negative_document", "input_text", "misleading_label",
        "label", "input", "S1", "S2", "S3")
# Words per field when the prompt asks for no length: labels are short, texts a sentence or two.
FIELD_WORDS = {"label": 2, "misleading_label": 2}
DEFAULT_FIELD_WORDS = 14
_LENGTH_PHRASE = re.compile(r"(?:about|at least|less than)\s+\d+(?:\s+words)?|\d+\s+to\s+\d+\s+words")
_QUERY_LENGTH = re.compile(r"less than \d+ words|\d+ to \d+ words|at least \d+ words")
_ABOUT = re.compile(r"about (\d+) words")

Policy = Callable[[int, str], str]
RateLimitHeaders = dict[str, str] | Callable[[int], dict[str, str]]

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
    if key == "user_query" and (match := _QUERY_LENGTH.search(prompt)):
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
    """A valid JSON answer for whatever the prompt asks: a brainstorm task list or one example.

    Each field is real text in its language (``language`` overrides what the prompt asks), as
    long as the prompt asks, and carries ``n``, so answers to one prompt differ by request number.
    """
    if '"tasks"' in prompt:
        return json.dumps({"tasks": [f"Given a topic number {n}-{i}, retrieve passages about it." for i in range(20)]})
    fields = {
        key: real_text(language or code, field_words(key, segment, prompt), n, i)
        for i, (key, (code, segment)) in enumerate(field_segments(prompt).items())
    }
    return json.dumps(fields, ensure_ascii=False)


@dataclass
class Reply:
    """One chat answer before it is sent (online) or written to a batch output line."""

    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)
    completion_tokens: int = 0


def _error(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _found(obj: dict | None, what: str) -> web.Response:
    return web.json_response(obj) if obj else web.json_response(_error(f"No such {what}"), status=404)


def _last_message(body: dict) -> str:
    content = (body.get("messages") or [{}])[-1].get("content", "")
    return content if isinstance(content, str) else json.dumps(content)


def _answer_language(kind: str, prompt: str) -> str | None:
    """The one language a misbehaving answer is written in (None: each field in its own)."""
    if kind == "wrong_language":
        return "en"
    if kind == "one_language":
        return next(iter(field_languages(prompt).values()), None)
    return None


def chat_reply(kind: str, n: int, prompt: str, body: dict, retry_after_s: float) -> Reply:
    """What the policy's ``kind`` answers to one chat request (shared by online and batch)."""
    if kind == "429":
        return Reply(429, _error("rate limited", "rate_limit_exceeded"), {"Retry-After": str(retry_after_s)})
    if kind == "500":
        return Reply(500, _error("internal error", "server_error"))
    if kind == "no_json_mode" and "response_format" in body:
        return Reply(400, _error("response_format is not supported"))
    content = {
        "malformed": '{"user_query": "unterminated',
        "wrong_keys": json.dumps({"something": "else"}),
    }.get(kind) or valid_answer(prompt, n, _answer_language(kind, prompt))
    # Token counts are word counts; max_tokens cuts the answer like a real server would.
    words, limit, finish = content.split(), body.get("max_completion_tokens") or body.get("max_tokens"), "stop"
    if limit and len(words) > limit:
        words, finish = words[:limit], "length"
        content = " ".join(words)
    prompt_tokens = len(prompt.split())
    return Reply(200, {
        "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()), "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                  "total_tokens": prompt_tokens + len(words)},
    }, completion_tokens=len(words))


def parse_batch_input(content: bytes, endpoint: str) -> tuple[list[dict], list[dict]]:
    """A batch input file's request lines, and an OpenAI-style error per invalid line."""
    items, errors, seen = [], [], set()

    def reject(code: str, message: str, line: int | None) -> None:
        errors.append({"code": code, "message": message, "param": None, "line": line})

    for number, line in enumerate(content.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            reject("invalid_json_line", f"line {number} is not valid JSON: {exc}", number)
            continue
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
            reject("missing_custom_id", f"line {number} has no string custom_id", number)
        elif item["custom_id"] in seen:
            reject("duplicate_custom_id", f"line {number} repeats custom_id {item['custom_id']!r}", number)
        elif item.get("method") != "POST" or item.get("url") != endpoint:
            reject("invalid_request", f"line {number} is not a POST to {endpoint}", number)
        elif not isinstance(item.get("body"), dict):
            reject("invalid_body", f"line {number} has no JSON object body", number)
        else:
            seen.add(item["custom_id"])
            items.append(item)
    if not items and not errors:
        reject("empty_file", "the input file has no requests", None)
    return items, errors


# Batch object fields that stay null until the batch gets that far.
_BATCH_LATER = ("output_file_id", "error_file_id", "in_progress_at", "finalizing_at", "completed_at", "failed_at",
                "expired_at", "cancelling_at", "cancelled_at", "model", "usage")


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


class FakeOpenAI:
    """The scripted server; a context manager that serves while inside ``with``.

    Args:
        policy: ``(n, prompt) -> kind`` (see the module docstring); default always "ok".
        stall_s: how long "stall" (and online "expire") waits before answering.
        retry_after_s: the Retry-After header of a 429.
        latency_s: simulated answer time per answered request.
        per_token_s: further answer time per completion token.
        max_concurrent: requests answered at once; the rest queue for a slot before their latency.
        rate_limit_headers: headers added to every chat response, or ``n -> headers``.
        batch_delay_s: how long a batch takes (half validating, half in progress).
        port: 0 picks a free port.
    """

    def __init__(self, policy: Policy | None = None, stall_s: float = 2.0, retry_after_s: float = 0.3, *,
                 latency_s: float = 0.01, per_token_s: float = 0.0, max_concurrent: int | None = None,
                 rate_limit_headers: RateLimitHeaders | None = None, batch_delay_s: float = 0.2, port: int = 0):
        self.policy: Policy = policy or (lambda n, prompt: "ok")
        self.stall_s, self.retry_after_s = stall_s, retry_after_s
        self.latency_s, self.per_token_s, self.max_concurrent = latency_s, per_token_s, max_concurrent
        self.rate_limit_headers, self.batch_delay_s = rate_limit_headers, batch_delay_s
        self.model = MODEL
        self.requests: list[tuple[float, str]] = []  # online chat requests: (monotonic time, kind)
        self.bodies: list[dict] = []  # online chat request bodies, in arrival order
        self.batch_requests: list[tuple[str, str]] = []  # batch items: (custom_id, kind)
        self.batch_bodies: list[dict] = []
        self.files: dict[str, dict] = {}  # id -> file object
        self.file_contents: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}  # id -> batch object, updated as it runs
        self.authorizations: set[str] = set()
        self.in_flight = self.max_in_flight = self.completion_tokens_sent = 0
        self._chat_count = 0  # numbers online and batch requests alike, so answers never repeat
        self._lock = threading.Lock()  # the policy and the counters are shared with the test's thread
        # Bound now, as before, so base_url is known before the server starts.
        self._sock = socket.create_server(("127.0.0.1", port), backlog=1024)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch_tasks: set[asyncio.Task] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def count(self, kind: str) -> int:
        return sum(1 for _, k in self.requests if k == kind)

    def _decide(self, prompt: str) -> tuple[int, str]:
        """Number the request and ask the policy what to do; the caller holds the lock."""
        n, self._chat_count = self._chat_count, self._chat_count + 1
        return n, self.policy(n, prompt)

    # --- online chat -------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response(_error("the body is not a JSON object"), status=400)
        prompt = _last_message(body)
        with self._lock:
            self.authorizations.add(request.headers.get("Authorization", ""))
            n, kind = self._decide(prompt)
            self.requests.append((time.monotonic(), kind))
            self.bodies.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if kind in ("stall", "expire"):
                await asyncio.sleep(self.stall_s)
            reply = chat_reply(kind, n, prompt, body, self.retry_after_s)
            if reply.status == 200:
                async with self._slots or contextlib.nullcontext():
                    await asyncio.sleep(self.latency_s + self.per_token_s * reply.completion_tokens)
                with self._lock:
                    self.completion_tokens_sent += reply.completion_tokens
            extra = self.rate_limit_headers(n) if callable(self.rate_limit_headers) else self.rate_limit_headers
            headers = {**{k: str(v) for k, v in (extra or {}).items()}, **reply.headers}
            return web.json_response(reply.body, status=reply.status, headers=headers)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})

    async def _stats(self, request: web.Request) -> web.Response:
        with self._lock:
            arrivals = [t for t, _ in self.requests]
            return web.json_response({
                "requests": len(self.requests), "in_flight": self.in_flight, "max_in_flight": self.max_in_flight,
                "completion_tokens": self.completion_tokens_sent, "batch_requests": len(self.batch_requests),
                # the benchmark's clock: first and last arrival (monotonic seconds of this process)
                "first_arrival_s": arrivals[0] if arrivals else None, "last_arrival_s": arrivals[-1] if arrivals else None})

    async def _reset_stats(self, request: web.Request) -> web.Response:
        """Forget recorded requests (a long benchmark reuses one server); answers stay distinct."""
        with self._lock:
            self.requests.clear()
            self.bodies.clear()
            self.max_in_flight = self.in_flight
        return web.json_response({"ok": True})

    # --- files -------------------------------------------------------------------------------

    def _add_file(self, content: bytes, filename: str, purpose: str) -> dict:
        file = {"id": _new_id("file-"), "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed", "status_details": None}
        self.files[file["id"]], self.file_contents[file["id"]] = file, content
        return file

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField) or form.get("purpose") != "batch":
            return web.json_response(_error("expected multipart fields purpose=batch and file"), status=400)
        return web.json_response(self._add_file(upload.file.read(), upload.filename, "batch"))

    async def _get_file(self, request: web.Request) -> web.Response:
        return _found(self.files.get(request.match_info["id"]), "file")

    async def _file_content(self, request: web.Request) -> web.Response:
        content = self.file_contents.get(request.match_info["id"])
        if content is None:
            return _found(None, "file")
        return web.Response(body=content, content_type="application/octet-stream")

    # --- batches -----------------------------------------------------------------------------

    async def _create_batch(self, request: web.Request) -> web.Response:
        spec = await request.json()
        if spec.get("input_file_id") not in self.file_contents:
            return web.json_response(_error(f"input file {spec.get('input_file_id')!r} not found"), status=400)
        if spec.get("endpoint") != CHAT_ENDPOINT or spec.get("completion_window") != "24h":
            return web.json_response(_error(f"only endpoint {CHAT_ENDPOINT} with completion_window 24h"), status=400)
        now = int(time.time())
        batch = {"id": _new_id("batch_"), "object": "batch", "endpoint": CHAT_ENDPOINT, "errors": None,
                 "input_file_id": spec["input_file_id"], "completion_window": "24h", "status": "validating",
                 "created_at": now, "expires_at": now + 24 * 3600, "metadata": spec.get("metadata"),
                 "request_counts": {"total": 0, "completed": 0, "failed": 0}, **dict.fromkeys(_BATCH_LATER)}
        self.batches[batch["id"]] = batch
        task = asyncio.create_task(self._run_batch(batch))
        self._batch_tasks.add(task)  # a reference, so the task is not garbage-collected mid-run
        task.add_done_callback(self._batch_tasks.discard)
        return web.json_response(batch)

    async def _get_batch(self, request: web.Request) -> web.Response:
        return _found(self.batches.get(request.match_info["id"]), "batch")

    async def _cancel_batch(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return _found(None, "batch")
        if batch["status"] not in ("validating", "in_progress"):
            return web.json_response(_error(f"cannot cancel a batch that is {batch['status']}"), status=409)
        batch.update(status="cancelling", cancelling_at=int(time.time()))  # the runner finishes the cancel
        return web.json_response(batch)

    @staticmethod
    def _finish(batch: dict, status: str) -> None:
        batch.update({"status": status, f"{status}_at": int(time.time())})

    async def _run_batch(self, batch: dict) -> None:
        """validating -> in_progress -> completed (expired if an item expired; failed on bad input)."""
        await asyncio.sleep(self.batch_delay_s / 2)
        if batch["status"] == "cancelling":
            return self._finish(batch, "cancelled")
        items, errors = parse_batch_input(self.file_contents[batch["input_file_id"]], batch["endpoint"])
        if errors:
            batch["errors"] = {"object": "list", "data": errors}
            return self._finish(batch, "failed")
        batch.update(status="in_progress", in_progress_at=int(time.time()), model=items[0]["body"].get("model"))
        batch["request_counts"]["total"] = len(items)
        await asyncio.sleep(self.batch_delay_s / 2)
        if batch["status"] == "cancelling":
            return self._finish(batch, "cancelled")
        batch.update(status="finalizing", finalizing_at=int(time.time()))
        lines = [self._answer_batch_item(item) for item in items]
        answered, failed = [], []
        for line in lines:
            (answered if line["response"] and line["response"]["status_code"] == 200 else failed).append(line)
        batch["request_counts"].update(completed=len(answered), failed=len(failed))
        for key, part, purpose in (("output_file_id", answered, "output"), ("error_file_id", failed, "error")):
            if part:
                content = "".join(json.dumps(line) + "\n" for line in part).encode()
                batch[key] = self._add_file(content, f"{batch['id']}_{purpose}.jsonl", "batch_output")["id"]
        expired = any(line["error"] and line["error"]["code"] == "batch_expired" for line in lines)
        self._finish(batch, "expired" if expired else "completed")

    def _answer_batch_item(self, item: dict) -> dict:
        """One output (or error) line, answered through the policy like an online request."""
        body, prompt = item["body"], _last_message(item["body"])
        line = {"id": _new_id("batch_req_"), "custom_id": item["custom_id"], "response": None, "error": None}
        with self._lock:
            n, kind = self._decide(prompt)
            self.batch_requests.append((item["custom_id"], kind))
            self.batch_bodies.append(body)
        if kind == "expire":
            line["error"] = {"code": "batch_expired",
                             "message": "This request could not be executed before the completion window expired."}
            return line
        reply = chat_reply(kind, n, prompt, body, self.retry_after_s)
        with self._lock:
            self.completion_tokens_sent += reply.completion_tokens
        line["response"] = {"status_code": reply.status, "request_id": uuid.uuid4().hex, "body": reply.body}
        return line

    # --- lifecycle ---------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=1024**3)  # batch input files can be large
        app.add_routes([
            web.get("/v1/models", self._models), web.post(CHAT_ENDPOINT, self._chat), web.get("/stats", self._stats), web.post("/stats/reset", self._reset_stats),
            web.post("/v1/files", self._upload), web.get("/v1/files/{id}", self._get_file),
            web.get("/v1/files/{id}/content", self._file_content), web.post("/v1/batches", self._create_batch),
            web.get("/v1/batches/{id}", self._get_batch), web.post("/v1/batches/{id}/cancel", self._cancel_batch),
        ])
        return app

    async def _start(self) -> None:
        self._slots = asyncio.Semaphore(self.max_concurrent) if self.max_concurrent else None
        # handler_cancellation: a request whose client gave up (timeout) stops counting as in flight;
        # a short shutdown_timeout: leaving ``with`` never waits for stalled requests.
        self._runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock, backlog=1024).start()

    async def _stop(self) -> None:
        for task in list(self._batch_tasks):
            task.cancel()
        await self._runner.cleanup()

    def _serve(self, started: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to __enter__ in the caller's thread
            failure.append(exc)
        started.set()
        if not failure:
            loop.run_forever()
        loop.close()

    def __enter__(self) -> FakeOpenAI:
        started, failure = threading.Event(), []
        self._thread = threading.Thread(target=self._serve, args=(started, failure), name="fake-openai", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._sock.close()


def main(argv: list[str] | None = None) -> None:
    """Serve in the foreground until SIGTERM or SIGINT; print the base URL first."""
    parser = argparse.ArgumentParser(description="A scripted OpenAI-compatible server that always answers validly.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-s", type=float, default=0.01, help="answer time per request")
    parser.add_argument("--per-token-s", type=float, default=0.0, help="further answer time per completion token")
    parser.add_argument("--max-concurrent", type=int, default=None, help="requests answered at once (default: all)")
    parser.add_argument("--batch-delay-s", type=float, default=0.2, help="how long a batch takes")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with FakeOpenAI(latency_s=args.latency_s, per_token_s=args.per_token_s, max_concurrent=args.max_concurrent,
                    batch_delay_s=args.batch_delay_s, port=args.port) as server:
        print(server.base_url, flush=True)
        while not stop.wait(0.5):
            pass


if __name__ == "__main__":
    main()
