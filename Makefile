# Convenience targets; the README's two commands need none of them.
HIL_DATA_DIR ?= .hil
# AGENT_DIR is where the coordinator serves /downloads from (HIL_AGENT_DIR;
# by default <data dir>/agents). The Dockerfile's build stage runs
# `make agents AGENT_DIR=/out/agents`.
AGENT_DIR ?= $(HIL_DATA_DIR)/agents
# The platforms agents are built for; coordinator/internal/httpapi
# AgentTargets serves the same list (a test checks they agree).
AGENT_TARGETS := linux/amd64 linux/arm64 android/arm64 darwin/arm64 windows/amd64

.PHONY: agents test
# agents builds the device-agent for every platform, static (CGO_ENABLED=0),
# into AGENT_DIR. The coordinator only serves what is there: it never builds.
agents:
	@mkdir -p $(AGENT_DIR)
	@for t in $(AGENT_TARGETS); do \
	  os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "building $$t"; \
	  GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
	    -o $(AGENT_DIR)/device-agent-$$os-$$arch$$ext ./cmd/device-agent || exit 1; \
	done

test:
	bash .ci/run

.PHONY: clusterharness
# clusterharness is issue #16's "beyond one machine" run: three Debian
# nats-server nodes (R3 streams), two coordinator processes on one throwaway
# PostgreSQL database, stand-in agents; one node and one coordinator are
# SIGKILLed mid-search, then PostgreSQL is audited (docs/coordinator.md).
# Needs /usr/sbin/nats-server and PostgreSQL on 127.0.0.1:5432.
clusterharness:
	go test -tags clusterharness -run '^TestClusterHarness$$' -count=1 -v -timeout 20m ./coordinator/ $(if $(ARGS),-args $(ARGS))
