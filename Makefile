# mediatasks: `make run` serves the whole platform on localhost; `make test`
# installs what the tests need and runs every test.

GO        ?= go
DATA      ?= ./data
ADDR      ?= 127.0.0.1:8080
FUZZTIME  ?= 20s
BENCHTIME ?= 3s

.PHONY: run test deps tools vet unit fuzz bench build clean

run: build
	./bin/mediatasks serve --addr $(ADDR) --data $(DATA) $(if $(CONFIG),--config $(CONFIG))

build:
	$(GO) build -o bin/mediatasks ./cmd/mediatasks

test: deps tools vet unit fuzz

deps:
	$(GO) mod download

# The npm programs the tests check against (tools/npm/package.json), with
# node 22 to run them; installed again only when the lock file changes.
tools: tools/npm/node_modules/.installed
tools/npm/node_modules/.installed: tools/npm/package-lock.json
	cd tools/npm && npm ci --no-audit --no-fund --loglevel=error
	touch $@

vet:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

# A short run of every fuzz target: no input may cause a 5xx or a panic.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSubmitDecoding$$' -fuzztime $(FUZZTIME) ./shared/api

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./shared/...

clean:
	rm -rf bin dist
