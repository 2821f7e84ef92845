# Lifeboat — `make` lists the targets.

SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO       ?= go
BIN      := $(CURDIR)/bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
export GOTOOLCHAIN := local

# Pinned tools, built from the Go module proxy into ./bin. The temporal CLI, the Temporal server and its
# SQL schema tool come from one module (testsuite/cluster/server/go.mod), so they build from one
# module graph and share the build cache; their versions are read from there.
TEMPORAL_MOD          := testsuite/cluster/server
TEMPORAL_CLI_VERSION  := $(shell awk '$$1 == "github.com/temporalio/cli" {print $$2}' $(TEMPORAL_MOD)/go.mod)
TEMPORAL_SERVER_VERSION := $(shell awk '$$1 == "go.temporal.io/server" {print $$2}' $(TEMPORAL_MOD)/go.mod)
MINIO_VERSION         := v0.0.0-20260212201848-7aac2a2c5b7c
STATICCHECK_VERSION   := v0.8.2
WORKFLOWCHECK_VERSION := v0.6.0

CONFIG ?= examples/lifeboat.yaml

# Packages whose tests run under the race detector; the end-to-end suites under testsuite/ start
# real servers and run without it.
RACE_PKGS := ./activities/... ./integrations/... ./workflows/... ./worker/... ./starter/...
# Test binaries are linked without DWARF (a sixth of each link; stack traces keep their names), and
# the pinned tools without symbol tables either.
TEST_FLAGS := -count=1 -ldflags=-w
TOOL_LDFLAGS := -ldflags "-s -w"

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-13s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/lifeboat and bin/lifeboat-worker
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/lifeboat ./starter
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/lifeboat-worker ./worker

.PHONY: run
run: build $(BIN)/.temporal-$(TEMPORAL_CLI_VERSION) ## run the local stack: Temporal dev server + Web UI on :8233 + worker (Ctrl-C stops it)
	$(BIN)/lifeboat --config $(CONFIG) dev

.PHONY: test
test: build tools ## run every test: unit, scenario (-race), integration against real services, the Helm chart's, and the cluster tests
	$(MAKE) --no-print-directory -j2 --output-sync=target test-race test-suites
	$(MAKE) --no-print-directory test-cluster

# The two halves of make test before the cluster's, side by side: the race-detector run mostly
# compiles and computes, while the end-to-end suites mostly wait on the servers they start.
.PHONY: test-race test-suites
test-race:
	$(GO) test -race $(TEST_FLAGS) $(RACE_PKGS)

test-suites:
	$(GO) test $(TEST_FLAGS) $$($(GO) list ./testsuite/... | grep -v /testsuite/cluster)
	cd deploy && $(GO) test $(TEST_FLAGS) ./...

.PHONY: test-cluster
test-cluster: build tools ## Lifeboat on a Temporal cluster (separate frontend, history, matching, worker processes on PostgreSQL) with three workers: backups, a plan, a drill, workers killed and history restarted mid-work
	$(GO) test $(TEST_FLAGS) -timeout 20m ./testsuite/cluster/...

.PHONY: cluster
cluster: build tools ## run the local stack on a Temporal cluster: one process per Temporal service on PostgreSQL, 4 history shards, three Lifeboat workers (Ctrl-C stops it)
	$(BIN)/lifeboat --config $(CONFIG) dev --cluster

.PHONY: chart
chart: ## the Helm chart's tests alone (deploy/, a module of its own): rendered as helm install does, checked strictly
	cd deploy && $(GO) test -count=1 ./...

.PHONY: test-short
test-short: ## unit and scenario tests only, in about a minute and a half: go test -short skips every test that starts PostgreSQL, MinIO, fake-gcs-server, a Temporal server or another process
	$(GO) test -short -count=1 $(RACE_PKGS) ./testsuite/wait/ ./testsuite/repo/

.PHONY: chaos
chaos: tools ## the fault harness, full run (about an hour): kills, stalls, server restarts, crashes after every write, S3 faults; prints the table (CHAOS_FLAGS="-chaos.only=backup -chaos.seed=N")
	$(GO) test -count=1 -v -timeout 6h -run TestChaos ./testsuite/chaos -chaos.full $(CHAOS_FLAGS)

.PHONY: lint-tools
lint-tools: $(BIN)/.staticcheck-$(STATICCHECK_VERSION) $(BIN)/.workflowcheck-$(WORKFLOWCHECK_VERSION)

.PHONY: lint
lint: lint-tools ## gofmt, go vet (deploy/ too), staticcheck, workflowcheck (macOS builds are type-checked by make test: testsuite/layout)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd deploy && $(GO) vet ./...
	$(BIN)/staticcheck ./...
	$(BIN)/workflowcheck ./workflows/...

.PHONY: tools
tools: $(BIN)/.temporal-$(TEMPORAL_CLI_VERSION) $(BIN)/.temporal-server-$(TEMPORAL_SERVER_VERSION) $(BIN)/.minio-$(MINIO_VERSION) ## build the pinned Temporal CLI, Temporal server, its SQL tool and MinIO into ./bin

$(BIN)/.temporal-$(TEMPORAL_CLI_VERSION):
	@echo "building temporal CLI $(TEMPORAL_CLI_VERSION) into bin/ (several minutes the first time)"
	cd $(TEMPORAL_MOD) && $(GO) build $(TOOL_LDFLAGS) -o $(BIN)/temporal github.com/temporalio/cli/cmd/temporal
	@rm -f $(BIN)/.temporal-v* && touch $@

# Built after the CLI: most of the server's packages are already in the build cache by then.
$(BIN)/.temporal-server-$(TEMPORAL_SERVER_VERSION): $(BIN)/.temporal-$(TEMPORAL_CLI_VERSION)
	@echo "building Temporal server $(TEMPORAL_SERVER_VERSION) and temporal-sql-tool into bin/"
	cd $(TEMPORAL_MOD) && $(GO) build $(TOOL_LDFLAGS) -o $(BIN)/temporal-server go.temporal.io/server/cmd/server
	cd $(TEMPORAL_MOD) && $(GO) build $(TOOL_LDFLAGS) -o $(BIN)/temporal-sql-tool go.temporal.io/server/cmd/tools/sql
	@rm -f $(BIN)/.temporal-server-* && touch $@

$(BIN)/.minio-$(MINIO_VERSION):
	@echo "building MinIO $(MINIO_VERSION) into bin/ (a few minutes the first time)"
	GOBIN=$(BIN) $(GO) install $(TOOL_LDFLAGS) github.com/minio/minio@$(MINIO_VERSION)
	@rm -f $(BIN)/.minio-* && touch $@

$(BIN)/.staticcheck-$(STATICCHECK_VERSION):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@rm -f $(BIN)/.staticcheck-* && touch $@

$(BIN)/.workflowcheck-$(WORKFLOWCHECK_VERSION):
	GOBIN=$(BIN) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)
	@rm -f $(BIN)/.workflowcheck-* && touch $@

.PHONY: bench
bench: build tools ## restore vs Debian's restic (local, MinIO, fake-gcs-server) and the health probe; figures, not pass/fail
	@command -v restic >/dev/null || { echo "restic not found: apt-get install restic"; exit 1; }
	@# One process each: a tool's peak RSS counts its parent's at the moment it was started.
	$(GO) test -count=1 -run '^$$' -bench 'RestoreVsRestic' -benchtime 1x -timeout 90m ./testsuite/bench/
	$(GO) test -count=1 -run '^$$' -bench 'HealthProbe' -benchtime 1x -timeout 30m ./testsuite/bench/

.PHONY: bench-plans
bench-plans: build tools ## recovery plans on a dev server, then on a cluster (LIFEBOAT_BENCH_TEMPORAL_ADDRESS: another frontend instead): 1,000 at once against the bare ceiling, 50/s for a minute, one plan of 10,000 steps
	$(GO) test -count=1 -run '^$$' -bench 'RecoveryPlan' -benchtime 1x -timeout 60m ./testsuite/bench/
	@if [ -z "$$LIFEBOAT_BENCH_TEMPORAL_ADDRESS" ]; then \
	  echo "--- the same on a Temporal cluster (frontend, history, matching, worker on PostgreSQL)"; \
	  LIFEBOAT_BENCH_CLUSTER=1 $(GO) test -count=1 -run '^$$' -bench 'RecoveryPlan' -benchtime 1x -timeout 60m ./testsuite/bench/; \
	fi

.PHONY: bench-notify
bench-notify: build tools ## notification latency: recovery start to the message accepted by Slack, and falling back to SMS when Slack answers 500
	$(GO) test -count=1 -run '^$$' -bench 'NotificationLatency' -benchtime 1x -timeout 30m ./testsuite/bench/

.PHONY: bench-backup
bench-backup: build ## backup engine vs Debian's restic: ~1 GiB + 20,000 small files; throughput, RSS, size
	@command -v restic >/dev/null || { echo "restic not found: apt-get install restic"; exit 1; }
	$(GO) test -count=1 -run '^$$' -bench 'Backup' -benchtime 3x -timeout 60m ./testsuite/bench/

.PHONY: bench-restore
bench-restore: build tools ## restore engine vs Debian's restic from local disk, MinIO and fake-gcs-server: ~1.2 GiB + 20,000 files; time and peak RSS
	@command -v restic >/dev/null || { echo "restic not found: apt-get install restic"; exit 1; }
	$(GO) test -count=1 -run '^$$' -bench 'RestoreVsRestic' -benchtime 1x -timeout 90m ./testsuite/bench/

.PHONY: clean
clean: ## remove build output (keeps .data/, the local stack's state)
	rm -rf $(BIN)/lifeboat $(BIN)/lifeboat-worker

.PHONY: clean-data
clean-data: ## delete the local stack's state in .data/
	rm -rf .data
