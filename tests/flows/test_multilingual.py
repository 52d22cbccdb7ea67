"""93 languages for real: a run over a dozen languages of every kind of script, against a server
that answers with real human-written text in each (Django's translations), keeps what it should
and rejects wrong-language answers with their own reason, on both sides of a bitext pair."""

from __future__ import annotations

import subprocess

from tasks.runs.manifest import ShardStatus, load_manifest
from tasks.runs.parts import scan_run
from tasks.storage.store import open_store
from tests.support.fake_openai import FakeOpenAI
from tests.support.synthembed_cli import NO_TEACHER, SYNTHEMBED, assert_rows_are_valid

# Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Han, Japanese, Hangul, Thai, Georgian, Khmer.
LANGUAGES = ["es", "sw", "de", "ru", "el", "ar", "he", "hi", "zh", "ja", "ko", "th", "ka", "km"]
LATIN = {"es", "sw", "de"}


def _synthesize(server: FakeOpenAI, store: str, run_id: str, task_types: str) -> subprocess.CompletedProcess:
    argv = [SYNTHEMBED, "synthesize", "--store", store, "--llm-base-url", server.base_url, "--llm-model", server.model,
            "--languages", ",".join(LANGUAGES), "--task-types", task_types, "--examples-per-shard", "2",
            "--run-id", run_id, "--max-tries-per-example", "1", "--shard-retries", "0", *NO_TEACHER]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


def test_real_text_in_every_script_is_kept_with_lengths_counted_per_script(prefect_api, tmp_path):
    store_url = f"file://{tmp_path}/store"
    with FakeOpenAI(latency_s=0) as server:
        done = _synthesize(server, store_url, "multi", "long_long,bitext,sts")
    assert done.returncode == 0, done.stderr
    store = open_store(store_url)
    manifest = load_manifest(store, "multi")
    assert all(e.status is ShardStatus.COMPLETE and e.rows == 2 for e in manifest.shards.values()), \
        {k: (e.rows, e.rejects) for k, e in manifest.shards.items()}
    frame = scan_run(store, "multi", filtered=False).collect()
    assert set(frame["language"]) == set(LANGUAGES)
    # the run ends with its filters over every committed row; readers leave out what they drop
    assert set(manifest.filters) == {"near_duplicates", "contamination"}
    assert all(entry.rows_checked == frame.height for entry in manifest.filters.values())
    dropped = sum(sum(e.counts.values()) for e in manifest.filters.values() if e.action == "drop")
    assert frame.height - dropped <= scan_run(store, "multi").collect().height <= frame.height
    long_unspaced = frame.filter((frame["task_type"] == "long_long") & frame["language"].is_in(["zh", "ja", "th", "km"]))
    assert long_unspaced.height == 8  # whitespace word counts used to reject every one of these
    assert_rows_are_valid(frame)


def test_wrong_language_answers_are_rejected_with_their_own_reason_and_flagged_as_low_yield(prefect_api, tmp_path):
    store_url = f"file://{tmp_path}/store"
    with FakeOpenAI(policy=lambda n, prompt: "wrong_language", latency_s=0) as server:
        english = _synthesize(server, store_url, "english", "long_long")
    assert english.returncode == 3, english.stderr  # complete, but nothing kept: low yield
    assert "kept under 50%" in english.stderr and "long_long/sw" in english.stderr
    manifest = load_manifest(open_store(store_url), "english")
    for key, entry in manifest.shards.items():
        assert entry.rows == 0, key
        expected = "wrong_language" if entry.language in LATIN else "wrong_script"
        assert entry.rejects.get(expected) == 2, (key, entry.rejects)
    status = subprocess.run([SYNTHEMBED, "status", "--run-id", "english", "--store", store_url],
                            capture_output=True, text=True, timeout=60, check=False)
    assert status.returncode == 0 and "0% LOW" in status.stdout  # the yield column of the shard table

    with FakeOpenAI(policy=lambda n, prompt: "one_language", latency_s=0) as server:
        untranslated = _synthesize(server, store_url, "untranslated", "bitext")
    assert untranslated.returncode == 3, untranslated.stderr
    manifest = load_manifest(open_store(store_url), "untranslated")
    rejects = {k: e.rejects for k, e in manifest.shards.items()}
    assert all(e.rows == 0 for e in manifest.shards.values()), rejects
    # English on one side, Spanish or Swahili on the other: only language identification can tell
    assert rejects["bitext/es"].get("wrong_language") == 2 and rejects["bitext/sw"].get("wrong_language") == 2
    assert rejects["bitext/ru"].get("wrong_script") == 2
