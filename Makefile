# Redeye: `make demo` and `make test` work on a fresh Debian machine as root.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift

.PHONY: all deps build release test demo bench fuzz lint man clean

all: build

deps:
	@scripts/install-deps

build: deps
	$(SWIFT) build

# The Swift runtime linked in: hosts need no Swift installation, and every start costs about half.
release: deps
	$(SWIFT) build -c release --static-swift-stdlib

test: deps
	scripts/run-tests

demo: deps
	$(SWIFT) build
	scripts/demo

bench: deps
	scripts/bench

fuzz: deps
	scripts/fuzz $${FUZZ_SECONDS:-300}

# The man page, generated from the commands' own help (swift-argument-parser's generate-manual plugin).
man: deps
	$(SWIFT) package --allow-writing-to-package-directory generate-manual --authors "the Redeye team" \
		--date "$$(git log -1 --format=%cs)"
	cp .build/plugins/GenerateManual/outputs/redeye/redeye.1 docs/redeye.1

lint:
	$(SWIFT) format lint -r Sources Tests

clean:
	rm -rf .build .build-* /tmp/redeye-demo
