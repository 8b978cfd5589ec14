# Builds the coordinator as a static binary (CGO_ENABLED=0) from a pinned Go
# image, and the device agent for every platform (make agents), which the
# coordinator serves under /downloads from HIL_AGENT_DIR. The coordinator
# never builds an agent at run time (the image has no Go toolchain).
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/coordinator ./cmd/coordinator
RUN make agents AGENT_DIR=/out/agents
# Empty volume mount points owned by the image's nonroot user: Docker gives
# a new named volume the ownership of the directory it is mounted on.
RUN mkdir -p /out/mnt/data /out/mnt/nats-conf

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/coordinator /coordinator
COPY --from=build /out/agents /agents
ENV HIL_AGENT_DIR=/agents
COPY --from=build --chown=65532:65532 /out/mnt/data /data
COPY --from=build --chown=65532:65532 /out/mnt/nats-conf /nats-conf
EXPOSE 8080 4223
VOLUME ["/data"]
ENTRYPOINT ["/coordinator"]
CMD ["serve"]
