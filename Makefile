# mediatasks: `make run` serves the whole platform on localhost; `make test`
# installs what the tests need and runs every test.

GO        ?= go
DATA      ?= ./data
ADDR      ?= 127.0.0.1:8080
FUZZTIME  ?= 20s
BENCHTIME ?= 3s

.PHONY: run test deps vet unit fuzz bench build clean

run: build
	./bin/mediatasks serve --addr $(ADDR) --data $(DATA) $(if $(CONFIG),--config $(CONFIG))

build:
	$(GO) build -o bin/mediatasks ./cmd/mediatasks

test: deps vet unit fuzz

deps:
	$(GO) mod download

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
