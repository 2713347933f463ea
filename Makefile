# The Mesh. `make run` starts a node; `make test` runs every test.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
ARGS    ?=

.PHONY: build run test test-go test-ts test-web web npm fuzz bench bench-web vet clean

build: bin/mesh

# The web client is built into internal/webui/dist, which the binary embeds.
bin/mesh: web $(shell find . -name '*.go' -not -path './node_modules/*') go.mod go.sum
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/mesh ./cmd/mesh

# npm packages (the SDK, the web client and their tools), once.
npm: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json sdk/package.json web/package.json
	npm ci --no-audit --no-fund
	@touch $@

web: npm
	npm run build -w web

# Start a node on 127.0.0.1:3000 with data in ./mesh-data (ARGS adds flags).
run: build
	./bin/mesh up $(ARGS)

test: vet test-go test-ts test-web

# The TypeScript SDK: type check, conformance vectors, a real node.
test-ts: build
	npm test -w sdk

# The web client in Debian's chromium against a real node.
test-web: build
	npm test -w web

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test-go:
	$(GO) test -race -count=1 ./...

# Each fuzz target for a short while; FUZZTIME=5m for a long run.
FUZZTIME ?= 20000x
fuzz:
	$(GO) test -run XXX -fuzz '^FuzzDecodeClientFrame$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run XXX -fuzz '^FuzzForPrompt$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run XXX -fuzz '^FuzzDecodeStrict$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run XXX -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./internal/wsframe
	$(GO) test -run XXX -fuzz '^FuzzScanLog$$' -fuzztime $(FUZZTIME) ./internal/store/jsonl
	$(GO) test -run XXX -fuzz '^FuzzLineSeq$$' -fuzztime $(FUZZTIME) ./internal/store/jsonl
	$(GO) test -run XXX -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./internal/audit
	$(GO) test -run XXX -fuzz '^FuzzCapabilities$$' -fuzztime $(FUZZTIME) ./internal/governance
	$(GO) test -run XXX -fuzz '^FuzzCheckPath$$' -fuzztime $(FUZZTIME) ./internal/roomdata
	$(GO) test -run XXX -fuzz '^FuzzSanitize$$' -fuzztime $(FUZZTIME) ./internal/guard
	$(GO) test -run XXX -fuzz '^FuzzSealed$$' -fuzztime $(FUZZTIME) ./e2e
	$(GO) test -run XXX -fuzz '^FuzzScan$$' -fuzztime $(FUZZTIME) ./internal/guard
	$(GO) test -run XXX -fuzz '^FuzzScanMessage$$' -fuzztime $(FUZZTIME) ./internal/bench
	$(GO) test -run XXX -fuzz '^FuzzScanEnvelope$$' -fuzztime $(FUZZTIME) ./internal/bench
	$(GO) test -run XXX -fuzz '^FuzzReadMessage$$' -fuzztime $(FUZZTIME) ./internal/bench
	$(GO) test -run XXX -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./internal/inbox
	$(GO) test -run XXX -fuzz '^FuzzVerifyWebhook$$' -fuzztime $(FUZZTIME) ./agent
	$(GO) test -run XXX -fuzz '^FuzzParseRouted$$' -fuzztime $(FUZZTIME) ./internal/interchange
	$(GO) test -run XXX -fuzz '^FuzzValidPayload$$' -fuzztime $(FUZZTIME) ./internal/interchange
	$(GO) test -run XXX -fuzz '^FuzzQueueReplay$$' -fuzztime $(FUZZTIME) ./internal/federation
	$(GO) test -run XXX -fuzz '^FuzzOpChunks$$' -fuzztime $(FUZZTIME) ./internal/node

# Go micro-benchmarks; `bin/mesh bench` drives a real node.
bench:
	$(GO) test -run XXX -bench . -benchmem ./...

# The 3D client's frame rate, draw calls and load time in headless chromium.
bench-web: build
	npm run bench -w web

clean:
	rm -rf bin
