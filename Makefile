# Redeye: `make demo` and `make test` work on a fresh Debian machine as root.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift

.PHONY: all deps build release package test demo demo-vm bench fuzz lint man clean

all: build

deps:
	@scripts/install-deps

build: deps
	$(SWIFT) build

# The Swift runtime linked in: hosts need no Swift installation, and every start costs about half.
release: deps
	$(SWIFT) build -c release --static-swift-stdlib

# The Debian package (.build/package/redeye_VERSION_ARCH.deb): lintian without errors, then installed with apt
# into a fresh Debian root (debootstrap) and run there.
package: deps
	@command -v lintian >/dev/null || apt-get install -y -qq --no-install-recommends lintian >/dev/null
	@deb=$$(scripts/package) && echo "$$deb" \
		&& lintian --fail-on error --suppress-tags-from-file scripts/lintian-overrides "$$deb" \
		&& scripts/package-check "$$deb"

test: deps
	scripts/run-tests

demo: deps
	$(SWIFT) build
	scripts/demo

# Blank QEMU VMs netboot the image `redeye image build` makes and deploy themselves (the VM test, on its own).
demo-vm: deps
	scripts/run-tests --filter VMBootTests

bench: deps
	scripts/bench

fuzz: deps
	scripts/fuzz $${FUZZ_SECONDS:-300}

# The man page, generated from the commands' own help (swift-argument-parser's generate-manual plugin); an
# empty line is not roff (groff warns on each), so paragraph breaks become .sp.
man: deps
	$(SWIFT) package --allow-writing-to-package-directory generate-manual --authors "the Redeye team" \
		--date "$$(git log -1 --format=%cs)"
	sed 's/^$$/.sp/' .build/plugins/GenerateManual/outputs/redeye/redeye.1 >docs/redeye.1

lint:
	$(SWIFT) format lint -r Sources Tests

clean:
	rm -rf .build .build-* /tmp/redeye-demo
