# asyncsspi — build, test and measure.
#
#   make test    race-enabled tests of every package (real peers when installed;
#                .ci/run installs them and sets ASYNCSSPI_REQUIRE_PEERS=1), and
#                every benchmark run once, so that their fixtures' checks run
#                (legs, flags, statuses)
#   make bench   benchmarks in bench/, with allocations
#   make fuzz    every fuzz target in the tree for FUZZTIME each
#   make lint    gofmt, go vet, staticcheck
#   make demo    the sspi command's demonstration: NTLM, Kerberos and
#                Negotiate in process, needing only Go; also against a
#                throwaway MIT realm when its KDC programs are installed
#                (DEMOFLAGS: sspi demo's flags, e.g. -mit off)

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
TEST_TIMEOUT ?= 20m
FUZZTIME ?= 10s
DEMOFLAGS ?=
# staticcheck v0.8.2 (the newest release) builds and runs with Go 1.26.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all test bench fuzz lint demo

all: lint test

test:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -race -count=1 -run '^$$' -bench . -benchtime 1x ./bench/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./bench/

# Fuzz targets are found with grep, so new ones are picked up without
# editing this file. go test accepts -fuzz for one package and one target
# at a time.
fuzz:
	@set -e; \
	files=$$(grep -rlE --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]*\(' . | sort); \
	if [ -z "$$files" ]; then echo "no fuzz targets found"; exit 0; fi; \
	for f in $$files; do \
		dir=$$(dirname "$$f"); \
		for fn in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$$f"); do \
			echo "== $$dir $$fn ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) "$$dir"; \
		done; \
	done

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l reports:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

demo:
	$(GO) run ./cmd/sspi demo $(DEMOFLAGS)
