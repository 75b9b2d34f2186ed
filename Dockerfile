# phiguard's container image. pg_query is cgo, so the build stage needs a C
# compiler; the result runs on a slim Debian as an unprivileged user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -o /out/phiguard ./cmd/phiguard

FROM debian:bookworm-slim
# locales: phiguard sorts encrypted text under the database's libc
# collation with this C library's locale (docs/search.md, "The collation
# rule"); add a line to /etc/locale.gen for each other locale your
# databases use.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates locales \
	&& echo "en_US.UTF-8 UTF-8" >> /etc/locale.gen && locale-gen && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/phiguard /usr/local/bin/phiguard
USER 65534:65534
EXPOSE 6432 9187
ENTRYPOINT ["/usr/local/bin/phiguard"]
CMD ["serve", "--config", "/etc/phiguard/phiguard.yml"]
