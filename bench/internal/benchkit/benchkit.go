// Package benchkit holds what the benchmark commands (bench/phi,
// bench/search) share: reading their settings from the environment and
// running phiguard in-process in front of a throwaway PostgreSQL cluster.
package benchkit

import (
	"net"
	"os"
	"strconv"

	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/internal/pgcluster"
	"github.com/phiguard/phiguard/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// EnvInt is the positive integer in the environment variable name, or def.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// StartProxy serves phiguard with opts on a free local port in front of
// pg, with its defaults otherwise (no admin listener, no logging), and
// returns its address. It runs until the process ends.
func StartProxy(pg *pgcluster.Cluster, opts ...proxy.Option) (string, error) {
	return StartProxyMetrics(pg, prometheus.NewRegistry(), opts...)
}

// StartProxyMetrics is StartProxy registering phiguard's metrics on reg,
// for a benchmark that reads them (bench/search: the search rounds).
func StartProxyMetrics(pg *pgcluster.Cluster, reg prometheus.Registerer, opts ...proxy.Option) (string, error) {
	cfg := config.Default()
	cfg.Listen, cfg.Admin = "127.0.0.1:0", ""
	host, port, _ := net.SplitHostPort(pg.Addr())
	cfg.Backend.Host = host
	cfg.Backend.Port, _ = strconv.Atoi(port)
	srv, err := proxy.New(cfg, zap.NewNop(), reg, opts...)
	if err != nil {
		return "", err
	}
	ln, err := srv.Listen()
	if err != nil {
		return "", err
	}
	go srv.Serve(ln)
	return ln.Addr().String(), nil
}
