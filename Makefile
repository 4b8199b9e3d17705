# chargegate — make help lists the targets.
SHELL := /bin/bash
GO ?= go
export PATH := $(PATH):/usr/local/go/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PROGRAMS := ./gateway/cmd/chargegate ./meter/cmd/metersim ./ledger/cmd/ledgernode ./ota/cmd/chargegate-bundle
DURATION ?=
FUZZTIME ?= 10s
TESTFLAGS ?=

.PHONY: help deps build test demo bench chaos fuzz cross lint image powercut vm vm-ota clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

deps: ## install Debian packages (as root) and Go modules the tests need
	@.ci/deps

build: ## build all programs into bin/
	@.ci/deps --demo
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ $(PROGRAMS)

test: deps lint ## run go vet and all tests (unit, integration, short chaos) with the race detector
	$(GO) test -race -timeout 14m $(TESTFLAGS) ./...

demo: build ## run meter simulator + ledger node + gateway and print (and open) the web UI's address; DURATION=30s runs headless and prints a summary; OCPP=1 adds the strict OCPP 1.6J CSMS (Node.js), OCPP=2.0.1 the same in OCPP 2.0.1; EVSES=2 runs two charging points under a site limit
	bin/chargegate demo --data var/demo --bin bin $(if $(DURATION),--duration $(DURATION)) $(if $(OCPP),--ocpp gateway/ocpp/testdata/csms $(if $(filter 2.0.1,$(OCPP)),--ocpp-version 2.0.1)) $(if $(EVSES),--evses $(EVSES))

bench: build ## print one benchmark report with comparisons and reproduce commands (var/bench/report.txt); QUICK=1 skips the 10^7 run
	$(GO) run ./.ci/benchreport -out var/bench/report.txt $(if $(QUICK),-quick)

chaos: ## the whole gateway under faults at full length (1,000 SIGKILLs, a week of broker outage, meter lies, disks filling mid-session, ...; ~30 min)
	CHARGEGATE_CHAOS=full $(GO) test -count=1 -timeout 3h -v $(TESTFLAGS) ./gateway/chaos/

# Fuzzing runs on Go 1.27, which the go command fetches from the module proxy: Go 1.26's fuzzing
# coordinator can fail a target with a bare "context deadline exceeded" when -fuzztime ends under
# load, with no failing input (golang/go#75804, fixed in 1.27).
FUZZGO ?= GOTOOLCHAIN=go1.27.3 $(GO)

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@set -e; n=0; for pkg in $$($(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(FUZZGO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; n=$$((n+1)); \
	  done; done; echo "fuzz: $$n targets, $(FUZZTIME) each"

cross: ## build linux/arm64 binaries into bin/linux-arm64/ (cgo via gcc-aarch64-linux-gnu)
	@.ci/deps
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
	  $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/linux-arm64/ $(PROGRAMS)

lint: ## check gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

SLOTS ?= files
image: ## build var/image/: arm64 app payload, rootfs overlay, boot config and a DEVELOPMENT-signed update bundle (SLOTS=files|tryboot)
	@.ci/deps
	VERSION=$(VERSION) SLOTS=$(SLOTS) GO=$(GO) images/build.sh

CUTS ?= 100
SEED ?= 0
LOSSY_ONCE ?=
powercut: ## cut the power of a VM running the gateway CUTS times (default 100; SEED=N repeats a run; LOSSY_ONCE=1: the first boot's fsync lies): prints cuts, entries acknowledged, lost, seqs reused, boot times
	@.ci/deps
	$(GO) test -count=1 -timeout 0 -run '^TestPowerCut$$' -v ./images/vm -args -cuts=$(CUTS) -seed=$(SEED) $(if $(LOSSY_ONCE),-lossyonce)

vm: ## boot the arm64 appliance (Debian kernel, our initramfs, sim board, metersim, data on a disk image) in qemu-system-aarch64 -M virt; prints the time to a running gateway
	@.ci/deps
	$(GO) test -count=1 -run '^TestBootArm64$$' -v ./images/vm

OTACUTS ?= 10
vm-ota: ## OTA in the arm64 VM: one round trip (MQTT + HTTP, slot B, real reboot, trial, commit), then OTACUTS updates (default 10) each cut by a power cut at a random moment
	@.ci/deps
	$(GO) test -count=1 -timeout 0 -run '^TestOTARoundTripArm64$$' -v ./images/vm -args -otacuts=$(OTACUTS) -seed=$(SEED)

clean: ## remove build output and demo data
	rm -rf bin var
