package integration

import (
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/internal/pgcluster"
)

// backendSSL reports whether PostgreSQL sees the session's own backend
// connection as TLS, i.e. whether phiguard's leg to the backend is TLS.
func backendSSL(t *testing.T, conn *pgx.Conn) bool {
	t.Helper()
	var ssl bool
	if err := conn.QueryRow(testContext(t), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	return ssl
}

func isTLS(conn *pgx.Conn) bool {
	_, ok := conn.PgConn().Conn().(*tls.Conn)
	return ok
}

func TestClientTLS(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{clientTLS: true})
	ctx := testContext(t)

	t.Run("verify-full", func(t *testing.T) {
		conn := p.app(t) // sslmode=verify-full against the cluster CA
		if !isTLS(conn) {
			t.Fatal("client connection is not TLS")
		}
		if backendSSL(t, conn) {
			t.Error("backend leg is TLS although backend.tls.mode is disable")
		}
		if n := queryInt(t, conn, "SELECT 1"); n != 1 {
			t.Fatal(n)
		}
	})

	t.Run("direct TLS negotiation", func(t *testing.T) {
		conn := p.app(t, "sslnegotiation", "direct")
		if !isTLS(conn) {
			t.Fatal("client connection is not TLS")
		}
		queryInt(t, conn, "SELECT 1")
	})

	t.Run("plaintext still allowed without tls.require", func(t *testing.T) {
		conn := p.app(t, "sslmode", "disable")
		if isTLS(conn) {
			t.Fatal("sslmode=disable gave TLS")
		}
		queryInt(t, conn, "SELECT 1")
	})

	t.Run("verify-full with another CA fails", func(t *testing.T) {
		other, err := pgcluster.NewCA("not phiguard's CA")
		if err != nil {
			t.Fatal(err)
		}
		caFile := filepath.Join(t.TempDir(), "other.crt")
		if err := other.WriteCAFile(caFile); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, p.url(appUser, appPassword, appDB, "sslrootcert", caFile))
		if err == nil {
			conn.Close(ctx)
			t.Fatal("connected although phiguard's certificate is not signed by the given CA")
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("failed for another reason: %v", err)
		}
	})

	t.Run("channel binding", func(t *testing.T) {
		// phiguard cannot offer SCRAM-SHA-256-PLUS (the client's TLS ends
		// at phiguard), so a client that prefers it falls back to plain
		// SCRAM, and one that requires it refuses to go on.
		queryInt(t, p.app(t, "channel_binding", "prefer"), "SELECT 1")
		conn, err := pgx.Connect(ctx, p.url(appUser, appPassword, appDB, "channel_binding", "require"))
		if err == nil {
			conn.Close(ctx)
			t.Fatal("channel_binding=require succeeded; it cannot hold across phiguard")
		}
	})
}

func TestClientCertificateRequired(t *testing.T) {
	t.Parallel()
	clientCA, err := pgcluster.NewCA("phiguard client CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := clientCA.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{clientCA: caFile})
	ctx := testContext(t)

	mustFail := func(t *testing.T, url string) error {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			conn.Close(ctx)
			t.Fatal("connected without a certificate from the client CA")
		}
		return err
	}

	t.Run("no certificate", func(t *testing.T) {
		err := mustFail(t, p.url(appUser, appPassword, appDB))
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("failed for another reason: %v", err)
		}
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		cert, key := writeCert(t, pg.CA, appUser)
		mustFail(t, p.url(appUser, appPassword, appDB, "sslcert", cert, "sslkey", key))
	})
	t.Run("plaintext", func(t *testing.T) {
		wantPgError(t, mustFail(t, p.url(appUser, appPassword, appDB, "sslmode", "disable")), "28000")
	})
	t.Run("certificate from the client CA", func(t *testing.T) {
		cert, key := writeCert(t, clientCA, appUser)
		conn := p.app(t, "sslcert", cert, "sslkey", key)
		if !isTLS(conn) {
			t.Fatal("not TLS")
		}
		queryInt(t, conn, "SELECT 1")
	})
	t.Run("the certificate does not replace the password", func(t *testing.T) {
		cert, key := writeCert(t, clientCA, appUser)
		err := mustFail(t, p.url(appUser, "wrong", appDB, "sslcert", cert, "sslkey", key))
		wantPgError(t, err, "28P01")
	})
}

func TestTLSRequire(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{requireTLS: true})
	ctx := testContext(t)

	conn, err := pgx.Connect(ctx, p.url(appUser, appPassword, appDB, "sslmode", "disable"))
	if err == nil {
		conn.Close(ctx)
		t.Fatal("a plaintext client was let in despite tls.require")
	}
	pgErr := wantPgError(t, err, "28000")
	if pgErr.Severity != "FATAL" {
		t.Errorf("severity %s, want FATAL", pgErr.Severity)
	}
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "tls_required"); got != 1 {
		t.Errorf("refused{tls_required} = %v, want 1", got)
	}
	// sslmode=prefer tries TLS first and gets it.
	if c := p.app(t, "sslmode", "prefer"); !isTLS(c) {
		t.Fatal("sslmode=prefer did not get TLS")
	}
}

func TestBackendTLS(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{config.BackendTLSRequire, config.BackendTLSVerifyFull} {
		t.Run(mode, func(t *testing.T) {
			p := startProxy(t, proxyOptions{backendTLS: mode})
			conn := p.app(t)
			if !backendSSL(t, conn) {
				t.Fatalf("backend leg is not TLS in mode %s", mode)
			}
			if n := queryInt(t, conn, "SELECT 1"); n != 1 {
				t.Fatal(n)
			}
			// Cancel requests also go to the backend over TLS.
			cancelSleep(t, p)
		})
	}

	refused := func(t *testing.T, p *phiguard) {
		t.Helper()
		ctx := testContext(t)
		conn, err := pgx.Connect(ctx, p.url(appUser, appPassword, appDB))
		if err == nil {
			conn.Close(ctx)
			t.Fatal("connected although the backend certificate does not verify")
		}
		wantPgError(t, err, "08006")
		if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "backend_unreachable"); got != 1 {
			t.Errorf("refused{backend_unreachable} = %v, want 1", got)
		}
	}
	t.Run("verify-full with another CA", func(t *testing.T) {
		other, err := pgcluster.NewCA("not the backend's CA")
		if err != nil {
			t.Fatal(err)
		}
		caFile := filepath.Join(t.TempDir(), "other.crt")
		if err := other.WriteCAFile(caFile); err != nil {
			t.Fatal(err)
		}
		refused(t, startProxy(t, proxyOptions{backendTLS: config.BackendTLSVerifyFull, backendCA: caFile}))
	})
	t.Run("verify-full with the wrong host name", func(t *testing.T) {
		refused(t, startProxy(t, proxyOptions{backendTLS: config.BackendTLSVerifyFull, configure: func(c *config.Config) {
			c.Backend.TLS.ServerName = "db.example.com"
		}}))
	})
}

// TestTLSOnBothLegs is the deployment the design asks for, TLS everywhere,
// with the default SCRAM authentication.
//
// Known bug: a client on TLS that is not offered SCRAM-SHA-256-PLUS (phiguard
// strips it) says so in its GS2 header ("y": "I support channel binding
// but think you do not"). PostgreSQL on a TLS connection does support it,
// takes the "y" for a downgrade attack and fails the login with "SCRAM
// channel binding negotiation error". The header is covered by the client's
// proof, so phiguard cannot rewrite it; passthrough SCRAM works over TLS to
// the backend only for clients with channel_binding=disable. A fix needs
// phiguard to terminate SCRAM itself (as PgBouncer does with the user's
// SCRAM secret) or to reject this configuration with a clear message.
func TestTLSOnBothLegs(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{clientTLS: true, backendTLS: config.BackendTLSVerifyFull})
	t.Run("channel_binding=disable", func(t *testing.T) {
		conn := p.app(t, "channel_binding", "disable")
		if !isTLS(conn) || !backendSSL(t, conn) {
			t.Fatal("not TLS on both legs")
		}
	})
	t.Run("default client settings, proxy certificate differs from the database's", func(t *testing.T) {
		// Channel binding cannot work here; phiguard must say why instead
		// of letting the backend answer a bare negotiation error.
		_, err := pgx.Connect(testContext(t), p.url(appUser, appPassword, appDB))
		pe := wantPgError(t, err, "28000")
		if !strings.Contains(pe.Message, "channel_binding=disable") || !strings.Contains(pe.Message, "tls.cert") {
			t.Fatalf("message does not say how to fix it: %q", pe.Message)
		}
	})
	t.Run("channel_binding=require with the database's own certificate", func(t *testing.T) {
		same := startProxy(t, proxyOptions{backendTLS: config.BackendTLSVerifyFull, configure: func(c *config.Config) {
			c.TLS.Cert, c.TLS.Key = pg.ServerCertFile, pg.ServerKeyFile
		}})
		for _, mode := range []string{"prefer", "require"} {
			conn := connect(t, same.url(appUser, appPassword, appDB, "channel_binding", mode))
			if !isTLS(conn) || !backendSSL(t, conn) {
				t.Fatal("not TLS on both legs")
			}
		}
	})
}
