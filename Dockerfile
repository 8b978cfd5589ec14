# Builds the coordinator as a static binary (CGO_ENABLED=0) from a pinned Go image.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/coordinator ./cmd/coordinator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/coordinator /coordinator
EXPOSE 8080 4223
VOLUME ["/data"]
ENTRYPOINT ["/coordinator"]
CMD ["serve"]
