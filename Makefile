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
