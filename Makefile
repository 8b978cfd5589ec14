# Convenience targets; the README's two commands need none of them.
HIL_DATA_DIR ?= .hil
AGENT_TARGETS := linux/amd64 linux/arm64 android/arm64 darwin/arm64 windows/amd64

.PHONY: agents test
# agents builds the device-agent for every platform into the directory the
# coordinator serves /downloads from.
agents:
	@mkdir -p $(HIL_DATA_DIR)/agents
	@for t in $(AGENT_TARGETS); do \
	  os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "building $$t"; \
	  GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
	    -o $(HIL_DATA_DIR)/agents/device-agent-$$os-$$arch$$ext ./cmd/device-agent || exit 1; \
	done

test:
	bash .ci/run
