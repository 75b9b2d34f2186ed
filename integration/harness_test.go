package integration

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phiguard/phiguard/audit"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/internal/pgcluster"
	"github.com/phiguard/phiguard/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
)

// The users and database every test shares. The password users exist so
// that each authentication method PostgreSQL offers over TCP is relayed
// once: pg_hba.conf below maps each of them to its method.
const (
	appUser     = "app"
	appPassword = "app-s3cret'\\pw"
	appDB       = "appdb"

	md5User       = "md5user"
	cleartextUser = "pwuser"
	trustUser     = "trustuser"
	authPassword  = "auth-pw-42"
)

var testHBA = []string{
	"local all all trust",
	"host all " + md5User + " 127.0.0.1/32 md5",
	"host all " + cleartextUser + " 127.0.0.1/32 password",
	"host all " + trustUser + " 127.0.0.1/32 trust",
	"host all all 127.0.0.1/32 scram-sha-256",
}

// Package state, set up once by TestMain.
var (
	pg *pgcluster.Cluster
	// certDir holds phiguard's server certificate, issued by pg.CA for
	// localhost and 127.0.0.1, and the client certificates tests use.
	certDir string
	// proxyCert and proxyKey are phiguard's server certificate.
	proxyCert, proxyKey string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Anything still running from the harness itself at this point is not
	// a leak of the code under test.
	ignore := goleak.IgnoreCurrent()

	var err error
	// 400 connections rather than pgcluster's 200: the suite's parallel
	// tests each hold a fixture's sessions (direct, through phiguard,
	// another session's) until they end, and one CI run of stop 36 ran
	// out of slots (53300 in TestRedTeam7StaleDefaultShapes).
	pg, err = pgcluster.Start(ctx, pgcluster.Options{TLS: true, HBA: testHBA, Settings: map[string]string{"max_connections": "400"}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: cannot start PostgreSQL (the tests need it, so they fail rather than skip): %v\n", err)
		return 1
	}
	defer pg.Stop()
	if err := setup(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "integration: setup: %v\n", err)
		return 1
	}
	defer os.RemoveAll(certDir)

	code := m.Run()

	if err := pg.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: stopping PostgreSQL: %v\n", err)
		code = 1
	}
	if code == 0 {
		if err := checkLogsForPHI(); err != nil {
			fmt.Fprintf(os.Stderr, "integration: %v\n", err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(ignore); err != nil {
			fmt.Fprintf(os.Stderr, "integration: goroutines leaked: %v\n", err)
			code = 1
		}
	}
	return code
}

func setup(ctx context.Context) error {
	if err := pg.CreateUser(ctx, appUser, appPassword, false); err != nil {
		return err
	}
	if err := pg.CreateDatabase(ctx, appDB, appUser); err != nil {
		return err
	}
	// md5 only works with a password stored as an md5 hash; with a SCRAM
	// verifier PostgreSQL would silently upgrade the exchange to SCRAM.
	sum := md5.Sum([]byte(authPassword + md5User))
	stmts := fmt.Sprintf(`
		CREATE ROLE %s LOGIN PASSWORD 'md5%s';
		CREATE ROLE %s LOGIN PASSWORD '%s';
		CREATE ROLE %s LOGIN;`,
		md5User, hex.EncodeToString(sum[:]), cleartextUser, authPassword, trustUser)
	if err := pg.Exec(ctx, stmts); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "phiguard-integration-")
	if err != nil {
		return err
	}
	certDir = dir
	proxyCert, proxyKey, err = pg.CA.WriteFiles(dir, "phiguard", "localhost", []string{"localhost", "127.0.0.1"}, false)
	return err
}

// testContext bounds one test so that a hang fails it instead of the
// whole binary.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// proxyOptions select phiguard's TLS setup; the zero value is plaintext on
// both sides.
type proxyOptions struct {
	clientTLS  bool   // present proxyCert to clients
	requireTLS bool   // tls.require
	clientCA   string // tls.client_ca: PEM file; implies clientTLS
	backendTLS string // backend.tls.mode; "" is disable
	backendCA  string // backend.tls.root_ca; defaults to pg.CAFile when backendTLS is set
	// configure, when set, changes the configuration last.
	configure func(*config.Config)
	// protect, when set, makes phiguard encrypt per its policy and keyring.
	protect *guard.Protection
	// auditor, when set, receives phiguard's audit records.
	auditor *audit.Auditor
	// quiet logs only warnings and errors to the test's output (the
	// package-wide PHI check still sees everything).
	quiet bool
}

// phiguard is one proxy instance started by startProxy.
type phiguard struct {
	srv  *proxy.Server
	reg  *prometheus.Registry
	addr *net.TCPAddr
	tls  bool

	served   chan struct{} // closed when Serve returned
	serveErr error
}

// startProxy runs phiguard in this process in front of pg, with a config
// built the way a user's file would be and validated like one. It is shut
// down when the test ends; the test fails if Serve failed or did not stop.
func startProxy(t testing.TB, opts proxyOptions) *phiguard {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin = ""
	cfg.Backend.Host = "127.0.0.1"
	cfg.Backend.Port = pg.Port
	cfg.ShutdownTimeout = config.Duration(10 * time.Second)
	if opts.clientTLS || opts.requireTLS || opts.clientCA != "" {
		cfg.TLS.Cert, cfg.TLS.Key = proxyCert, proxyKey
	}
	cfg.TLS.Require = opts.requireTLS
	cfg.TLS.ClientCA = opts.clientCA
	if opts.backendTLS != "" {
		cfg.Backend.TLS.Mode = opts.backendTLS
		cfg.Backend.TLS.RootCA = opts.backendCA
		if cfg.Backend.TLS.RootCA == "" {
			cfg.Backend.TLS.RootCA = pg.CAFile
		}
	}
	if opts.configure != nil {
		opts.configure(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}

	level := zapcore.InfoLevel
	if opts.quiet {
		level = zapcore.WarnLevel
	}
	log := teeToProxyLogs(zaptest.NewLogger(t, zaptest.Level(level))).With(zap.String("test", t.Name()))
	reg := prometheus.NewRegistry()
	var popts []proxy.Option
	if opts.protect != nil {
		popts = append(popts, proxy.WithProtection(opts.protect))
	}
	if opts.auditor != nil {
		popts = append(popts, proxy.WithAuditor(opts.auditor))
	}
	srv, err := proxy.New(cfg, log, reg, popts...)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	p := &phiguard{srv: srv, reg: reg, addr: ln.Addr().(*net.TCPAddr), tls: cfg.TLS.Cert != "", served: make(chan struct{})}
	go func() {
		p.serveErr = srv.Serve(ln)
		close(p.served)
	}()
	t.Cleanup(func() {
		if err := p.shutdown(t, cfg.ShutdownTimeout.Std()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return p
}

// shutdown stops the proxy gracefully within grace and returns Shutdown's
// error. It checks that Serve returned cleanly. It may be called again.
func (p *phiguard) shutdown(t testing.TB, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	select {
	case <-p.served:
		if p.serveErr != nil {
			t.Errorf("Serve: %v", p.serveErr)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Serve did not return after Shutdown")
	}
	return err
}

// url returns a connection URL for phiguard. With TLS configured the client
// verifies phiguard's certificate fully, as a careful application would;
// extra parameters override the defaults.
func (p *phiguard) url(user, password, db string, extra ...string) string {
	q := url.Values{"connect_timeout": {"10"}}
	if p.tls {
		q.Set("sslmode", "verify-full")
		q.Set("sslrootcert", pg.CAFile)
	} else {
		q.Set("sslmode", "disable")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return buildURL(p.addr.String(), user, password, db, q)
}

// directURL is the same as url but for PostgreSQL itself, bypassing phiguard.
func directURL(user, password, db string, extra ...string) string {
	q := url.Values{"connect_timeout": {"10"}, "sslmode": {"disable"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return buildURL(pg.Addr(), user, password, db, q)
}

func buildURL(host, user, password, db string, q url.Values) string {
	u := url.URL{Scheme: "postgres", Host: host, Path: "/" + db, RawQuery: q.Encode()}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

// connect opens a pgx connection closed at the end of the test.
func connect(t testing.TB, connString string) *pgx.Conn {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// connectConfig is connect for a parsed and adjusted configuration.
func connectConfig(t testing.TB, cfg *pgx.ConnConfig) *pgx.Conn {
	t.Helper()
	conn, err := pgx.ConnectConfig(testContext(t), cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func parseConfig(t testing.TB, connString string) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		t.Fatalf("parse %s: %v", connString, err)
	}
	return cfg
}

// app connects to appdb through p as the application user.
func (p *phiguard) app(t testing.TB, extra ...string) *pgx.Conn {
	t.Helper()
	return connect(t, p.url(appUser, appPassword, appDB, extra...))
}

// direct connects to appdb as the application user without phiguard.
func direct(t testing.TB, extra ...string) *pgx.Conn {
	t.Helper()
	return connect(t, directURL(appUser, appPassword, appDB, extra...))
}

// superuser connects straight to appdb as PostgreSQL's superuser, the
// vantage point for checking what the backend really sees
// (pg_stat_activity) and for pg_terminate_backend.
func superuser(t testing.TB) *pgx.Conn {
	t.Helper()
	return connect(t, directURL(pg.Superuser, pg.Password, appDB))
}

// wantPgError fails unless err is a PostgreSQL error with SQLSTATE code.
func wantPgError(t testing.TB, err error, code string) *pgconn.PgError {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatalf("err = %v (%T), want a PostgreSQL error with SQLSTATE %s", err, err, code)
	}
	if pgErr.Code != code {
		t.Fatalf("SQLSTATE = %s (%s: %s), want %s", pgErr.Code, pgErr.Severity, pgErr.Message, code)
	}
	return pgErr
}

// queryInt runs a query that returns one integer.
func queryInt(t testing.TB, conn *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(testContext(t), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// uniqueName returns an identifier no other test uses, for tables and
// application names in the shared database.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%d", prefix, nameSeq.Add(1))
}

var nameSeq atomic.Int64

// metric returns the value of the counter or gauge name whose labels
// include labels, or 0 when there is none.
func (p *phiguard) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	families, err := p.reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

// writeCert issues a client certificate from ca into a test directory.
func writeCert(t testing.TB, ca *pgcluster.CA, cn string) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, err := ca.WriteFiles(dir, "client", cn, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func bigInt(n int64) *big.Int { return big.NewInt(n) }
