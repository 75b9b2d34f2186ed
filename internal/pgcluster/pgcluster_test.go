package pgcluster

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func start(t *testing.T, opts Options) *Cluster {
	t.Helper()
	c, err := Start(testCtx(t), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(testCtx(t), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestTLSCluster(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	c := start(t, Options{TLS: true, Log: &log})
	ctx := testCtx(t)

	t.Run("VerifyFull", func(t *testing.T) {
		conn := connect(t, c.TLSURL(c.Superuser, c.Password, "postgres"))
		if got := queryString(t, conn, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); got != "true" {
			t.Fatalf("pg_stat_ssl.ssl = %s, want true", got)
		}
	})

	t.Run("VerifyFullRejectsOtherCA", func(t *testing.T) {
		other, err := NewCA("other")
		if err != nil {
			t.Fatal(err)
		}
		path := t.TempDir() + "/other.crt"
		if err := other.WriteCAFile(path); err != nil {
			t.Fatal(err)
		}
		u := c.url(c.Superuser, c.Password, "postgres", url.Values{"sslmode": {"verify-full"}, "sslrootcert": {path}})
		conn, err := pgx.Connect(ctx, u)
		if err == nil {
			conn.Close(ctx)
			t.Fatal("connected with a CA that did not sign the server certificate")
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("failed for another reason than the certificate: %v", err)
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, c.URL(c.Superuser, "not-"+c.Password, "postgres"))
		if err == nil {
			conn.Close(ctx)
			t.Fatal("connected with a wrong password")
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
			t.Fatalf("err = %v, want SQLSTATE 28P01", err)
		}
	})

	t.Run("CreateUserAndDatabase", func(t *testing.T) {
		const user, password, db = "Alice O'Hara", "pa'ss\\word", "alice db"
		if err := c.CreateUser(ctx, user, password, false); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if err := c.CreateDatabase(ctx, db, user); err != nil {
			t.Fatalf("CreateDatabase: %v", err)
		}
		conn := connect(t, c.TLSURL(user, password, db))
		if got := queryString(t, conn, "SELECT current_user || '/' || current_database()"); got != user+"/"+db {
			t.Fatalf("session = %q", got)
		}
		// Owning the database means being able to create a schema in it.
		if _, err := conn.Exec(ctx, "CREATE SCHEMA s; CREATE TABLE s.t (x int)"); err != nil {
			t.Fatalf("owner cannot create objects: %v", err)
		}
		super := connect(t, c.URL(c.Superuser, c.Password, "postgres"))
		stored := queryString(t, super, "SELECT rolpassword FROM pg_authid WHERE rolname = 'Alice O''Hara'")
		if !strings.HasPrefix(stored, "SCRAM-SHA-256$4096:") {
			t.Fatalf("stored password %q is not a SCRAM verifier", stored)
		}
	})

	t.Run("CreateSuperuser", func(t *testing.T) {
		if err := c.CreateUser(ctx, "root2", "pw", true); err != nil {
			t.Fatal(err)
		}
		conn := connect(t, c.URL("root2", "pw", "postgres"))
		if got := queryString(t, conn, "SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user"); got != "true" {
			t.Fatalf("rolsuper = %s", got)
		}
	})

	t.Run("ExecSeveralStatements", func(t *testing.T) {
		if err := c.Exec(ctx, "CREATE TABLE multi (x int); INSERT INTO multi VALUES (1), (2)"); err != nil {
			t.Fatal(err)
		}
		conn := connect(t, c.URL(c.Superuser, c.Password, "postgres"))
		if got := queryString(t, conn, "SELECT count(*)::text FROM multi"); got != "2" {
			t.Fatalf("count = %s", got)
		}
		err := c.Exec(ctx, "SELECT 1; SELECT * FROM no_such_table")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
			t.Fatalf("err = %v, want SQLSTATE 42P01", err)
		}
	})

	t.Run("ClientCert", func(t *testing.T) {
		certPEM, keyPEM, err := c.CA.Issue("alice", nil, true)
		if err != nil {
			t.Fatal(err)
		}
		if blk, _ := pem.Decode(keyPEM); blk == nil || blk.Type != "PRIVATE KEY" {
			t.Fatalf("key PEM does not decode")
		}
		blk, _ := pem.Decode(certPEM)
		if blk == nil {
			t.Fatal("certificate PEM does not decode")
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != "alice" || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			t.Fatalf("CN %q, ExtKeyUsage %v", cert.Subject.CommonName, cert.ExtKeyUsage)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: c.CA.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatalf("client certificate does not verify against the CA: %v", err)
		}
	})

	t.Run("Log", func(t *testing.T) {
		if !strings.Contains(log.String(), "ready to accept connections") {
			t.Fatalf("Options.Log got no start-up message:\n%s", log.String())
		}
		b, err := os.ReadFile(c.LogFile)
		if err != nil || !strings.Contains(string(b), "ready to accept connections") {
			t.Fatalf("log file: %v\n%s", err, b)
		}
	})
}

// TestClientCertAuth checks that a caller-supplied pg_hba.conf is used and
// that the CA's client certificates are good enough for PostgreSQL's cert
// authentication, which the proxy's mTLS tests depend on.
func TestClientCertAuth(t *testing.T) {
	t.Parallel()
	c := start(t, Options{TLS: true, HBA: []string{
		"local all all trust",
		"hostssl all all 127.0.0.1/32 cert",
	}})
	ctx := testCtx(t)
	if err := c.CreateUser(ctx, "carol", "", false); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile, err := c.CA.WriteFiles(dir, "carol", "carol", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	conn := connect(t, c.url("carol", "", "postgres", url.Values{
		"sslmode": {"verify-full"}, "sslrootcert": {c.CAFile}, "sslcert": {certFile}, "sslkey": {keyFile},
	}))
	if got := queryString(t, conn, "SELECT current_user"); got != "carol" {
		t.Fatalf("current_user = %s", got)
	}
	if conn, err := pgx.Connect(ctx, c.TLSURL("carol", "", "postgres")); err == nil {
		conn.Close(ctx)
		t.Fatal("connected without a client certificate")
	}
}

func TestStopRemovesDirAndFreesPort(t *testing.T) {
	t.Parallel()
	c, err := Start(testCtx(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Fatalf("Dir %s still there after Stop (stat: %v)", c.Dir, err)
	}
	l, err := net.Listen("tcp", c.Addr())
	if err != nil {
		t.Fatalf("port still taken after Stop: %v", err)
	}
	l.Close()
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestTwoClusters(t *testing.T) {
	t.Parallel()
	// The second uses a caller-owned Dir (0700, under a 0700 parent, as
	// t.TempDir makes them), an explicit password and an extra setting.
	dir := t.TempDir()
	optss := []Options{
		{},
		{Dir: dir, Password: "secret", Settings: map[string]string{"work_mem": "7MB"}},
	}
	clusters := make([]*Cluster, len(optss))
	errs := make([]error, len(optss))
	var wg sync.WaitGroup
	for i, o := range optss {
		wg.Go(func() { clusters[i], errs[i] = Start(testCtx(t), o) })
	}
	wg.Wait()
	for i, c := range clusters {
		if errs[i] != nil {
			t.Fatalf("Start #%d: %v", i, errs[i])
		}
		t.Cleanup(func() { c.Stop() })
	}
	a, b := clusters[0], clusters[1]
	if a.Port == b.Port {
		t.Fatalf("both clusters on port %d", a.Port)
	}
	if b.Dir != dir || b.Password != "secret" {
		t.Fatalf("Dir %s, Password %s", b.Dir, b.Password)
	}
	ca := connect(t, a.URL(a.Superuser, a.Password, "postgres"))
	cb := connect(t, b.URL(b.Superuser, "secret", "postgres"))
	ctx := testCtx(t)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, cb, "SELECT (to_regclass('only_in_a') IS NULL)::text"); got != "true" {
		t.Fatalf("table created in one cluster visible in the other")
	}
	if got := queryString(t, cb, "SHOW work_mem"); got != "7MB" {
		t.Fatalf("work_mem = %s, want 7MB from Options.Settings", got)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("Stop removed a Dir the caller gave: %v", err)
	}
	// a is unaffected by b's shutdown.
	if got := queryString(t, ca, "SELECT 'alive'"); got != "alive" {
		t.Fatal(got)
	}
}

// TestPortConflictRetry makes the first port Start tries one that is
// already taken, as when another process grabs it between freePort and
// postgres binding it; Start must move on to another port.
func TestPortConflictRetry(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	var picks int
	opts := Options{pickPort: func() (int, error) {
		picks++
		if picks == 1 {
			return takenPort, nil
		}
		return freePort()
	}}
	c := start(t, opts)
	if picks != 2 || c.Port == takenPort {
		t.Fatalf("picks = %d, port = %d (taken %d)", picks, c.Port, takenPort)
	}
	conn := connect(t, c.URL(c.Superuser, c.Password, "postgres"))
	if got := queryString(t, conn, "SELECT 'ok'"); got != "ok" {
		t.Fatal(got)
	}
}

func TestStartFailureShowsServerLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Start(testCtx(t), Options{Dir: dir, Settings: map[string]string{"no_such_setting": "1"}})
	if err == nil {
		t.Fatal("Start succeeded with an invalid setting")
	}
	if !strings.Contains(err.Error(), `unrecognized configuration parameter "no_such_setting"`) {
		t.Fatalf("error lacks the server's reason: %v", err)
	}
}

func TestBadBinDir(t *testing.T) {
	t.Parallel()
	_, err := Start(testCtx(t), Options{BinDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no PostgreSQL server binaries") {
		t.Fatalf("err = %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the log-copying goroutine and the
// test to use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestReuse starts a cluster in a caller's Dir, writes a table, stops it,
// and starts the same Dir with Reuse: the table is there, and the
// settings pgcluster adds are in postgresql.conf once, not twice. Without
// Reuse the same Dir is refused (its data directory exists).
func TestReuse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := testCtx(t)
	a := start(t, Options{Dir: dir, Password: "kept", Reuse: true})
	ca := connect(t, a.URL(a.Superuser, "kept", "postgres"))
	if _, err := ca.Exec(ctx, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	ca.Close(ctx)
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, Options{Dir: dir, Password: "kept"}); err == nil {
		t.Fatal("Start without Reuse accepted a Dir that holds a data directory")
	}
	b := start(t, Options{Dir: dir, Password: "kept", Reuse: true})
	cb := connect(t, b.URL(b.Superuser, "kept", "postgres"))
	if got := queryString(t, cb, "SELECT x::text FROM kept"); got != "7" {
		t.Fatalf("reused cluster reads %q from the kept table, want 7", got)
	}
	conf, err := os.ReadFile(filepath.Join(b.DataDir, "postgresql.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(conf), strings.TrimSpace(addedMark)); n != 1 {
		t.Fatalf("postgresql.conf holds pgcluster's settings %d times, want 1", n)
	}
}
