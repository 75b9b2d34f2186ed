package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/internal/pgcluster"
	"go.uber.org/zap"
)

// The --plain demo's application login. Its password (and the demo users'
// password) is random per run and shown only in the banner on stdout, never
// in a log line.
const (
	demoUser     = "ehr_app"
	demoDatabase = "ehr"
)

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:6432", "address phiguard listens on")
	adminAddr := fs.String("admin", "127.0.0.1:9187", "admin HTTP address (/metrics, /healthz, /readyz)")
	smoke := fs.Bool("smoke", false, "run sample queries and checks through phiguard, print them and exit; non-zero on any failure (for CI)")
	plain := fs.Bool("plain", false, "the forward-only proxy: no policy, keys or audit trail (phiguard without a policy_file)")
	logLevel := fs.String("log-level", "warn", "phiguard's log level")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard demo: %v\n", err)
		return 2
	}
	defer log.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	run := demoProtected
	if *plain {
		run = demo
	}
	if err := run(ctx, *listen, *adminAddr, *smoke, stdout, log); err != nil {
		fmt.Fprintf(stderr, "phiguard demo: %v\n", err)
		return 1
	}
	return 0
}

// demo is the --plain demo: phiguard without a policy, forwarding only,
// in front of the demo EHR owned by an application login.
func demo(ctx context.Context, listen, adminAddr string, smoke bool, out io.Writer, log *zap.Logger) error {
	fmt.Fprintln(out, "Starting a throwaway PostgreSQL 15 ...")
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cluster, err := pgcluster.Start(startCtx, pgcluster.Options{})
	if err != nil {
		return err
	}
	defer cluster.Stop()

	password := randomPassword()
	if err := cluster.CreateUser(startCtx, demoUser, password, false); err != nil {
		return err
	}
	if err := cluster.CreateDatabase(startCtx, demoDatabase, demoUser); err != nil {
		return err
	}
	conn, err := pgx.Connect(startCtx, cluster.URL(demoUser, password, demoDatabase))
	if err != nil {
		return err
	}
	counts, err := ehrdemo.Load(startCtx, conn)
	conn.Close(context.Background())
	if err != nil {
		return fmt.Errorf("load demo EHR: %w", err)
	}
	fmt.Fprintf(out, "Loaded the Synthea sample: %d patients, %d encounters, %d conditions, %d medications.\n",
		counts["patients"], counts["encounters"], counts["conditions"], counts["medications"])

	cfg := config.Default()
	cfg.Listen, cfg.Admin = listen, adminAddr
	host, port, _ := net.SplitHostPort(cluster.Addr())
	cfg.Backend.Host = host
	fmt.Sscan(port, &cfg.Backend.Port)
	cfg.ShutdownTimeout = config.Duration(5 * time.Second)
	if err := cfg.Validate(); err != nil {
		return err
	}

	srv, err := startDemoServe(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.stop()
	addr := srv.addr
	proxyHost, proxyPort, _ := net.SplitHostPort(addr.String())

	fmt.Fprintf(out, `
phiguard is listening on %s in front of PostgreSQL at %s.
Connect through it with:

    PGPASSWORD=%s psql -h %s -p %s -U %s %s

Metrics: http://%s/metrics    Readiness: http://%s/readyz
`, addr, cluster.Addr(), password, proxyHost, proxyPort, demoUser, demoDatabase, adminAddr, adminAddr)

	if smoke {
		err := demoQueries(ctx, out, fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", demoUser, password, addr, demoDatabase))
		if serveErr := srv.stop(); err == nil {
			err = serveErr
		}
		return err
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop; everything is removed on exit.")
	return srv.wait()
}

// demoServe is phiguard serving in the background of a demo.
type demoServe struct {
	addr   net.Addr
	cancel context.CancelFunc
	served chan error
	err    error
	done   bool
}

// startDemoServe runs serve with cfg until ctx ends or stop is called, and
// returns once phiguard accepts connections.
func startDemoServe(ctx context.Context, cfg config.Config, log *zap.Logger) (*demoServe, error) {
	serveCtx, cancel := context.WithCancel(ctx)
	s := &demoServe{cancel: cancel, served: make(chan error, 1)}
	ready := make(chan net.Addr, 1)
	go func() { s.served <- serve(serveCtx, cfg, log, ready) }()
	select {
	case s.addr = <-ready:
		return s, nil
	case err := <-s.served:
		cancel()
		return nil, err
	}
}

// wait blocks until phiguard stops (Ctrl-C) and returns its error.
func (s *demoServe) wait() error {
	if !s.done {
		s.err, s.done = <-s.served, true
	}
	return s.err
}

// stop shuts phiguard down (the audit trail gets its audit_stop record)
// and returns serve's error. Calling it again returns the same error.
func (s *demoServe) stop() error {
	s.cancel()
	return s.wait()
}

// demoQueries shows a few EHR queries answered through phiguard.
func demoQueries(ctx context.Context, out io.Writer, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect through phiguard: %w", err)
	}
	defer conn.Close(context.Background())
	var patients, encounters int
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM encounters)").Scan(&patients, &encounters); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThrough phiguard: %d patients, %d encounters.\n", patients, encounters)
	rows, err := conn.Query(ctx, `SELECT p.last, count(e.id) FROM patients p JOIN encounters e ON e.patient = p.id
		GROUP BY p.last ORDER BY count(e.id) DESC, p.last LIMIT 3`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var last string
		var n int
		if err := rows.Scan(&last, &n); err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-20s %d encounters\n", last, n)
	}
	return rows.Err()
}

func randomPassword() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
