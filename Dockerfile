# phiguard's container image. pg_query is cgo, so the build stage needs a C
# compiler; the result runs on a slim Debian as an unprivileged user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -o /out/phiguard ./cmd/phiguard

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/phiguard /usr/local/bin/phiguard
USER 65534:65534
EXPOSE 6432 9187
ENTRYPOINT ["/usr/local/bin/phiguard"]
CMD ["serve", "--config", "/etc/phiguard/phiguard.yml"]
