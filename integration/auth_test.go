package integration

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/config"
)

// authUsers maps each user to the pg_hba.conf method that applies to it.
var authUsers = []struct {
	method, user, password string
}{
	{"scram-sha-256", appUser, appPassword},
	{"md5", md5User, authPassword},
	{"password", cleartextUser, authPassword},
	{"trust", trustUser, ""},
}

// TestAuthMethods logs in through phiguard with every method PostgreSQL
// uses over TCP, with a plaintext and a TLS client; the backend decides.
func TestAuthMethods(t *testing.T) {
	t.Parallel()
	plain := startProxy(t, proxyOptions{})
	tls := startProxy(t, proxyOptions{clientTLS: true})
	both := startProxy(t, proxyOptions{clientTLS: true, backendTLS: config.BackendTLSVerifyFull})
	for _, u := range authUsers {
		for name, p := range map[string]*phiguard{"plaintext": plain, "client TLS": tls, "TLS both legs": both} {
			t.Run(u.method+"/"+name, func(t *testing.T) {
				var extra []string
				if u.method == "scram-sha-256" && name == "TLS both legs" {
					// phiguard's certificate is not the database's here, so
					// channel binding cannot pass (see TestTLSOnBothLegs).
					extra = []string{"channel_binding", "disable"}
				}
				conn := connect(t, p.url(u.user, u.password, appDB, extra...))
				var user string
				if err := conn.QueryRow(testContext(t), "SELECT current_user").Scan(&user); err != nil || user != u.user {
					t.Fatalf("current_user = %q, %v", user, err)
				}
			})
		}
	}
}

func TestAuthFailures(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{})
	ctx := testContext(t)
	refuse := func(t *testing.T, url, code string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			conn.Close(ctx)
			t.Fatal("connected")
		}
		wantPgError(t, err, code)
	}
	failures := 0.0
	for _, u := range authUsers[:3] {
		t.Run("wrong password/"+u.method, func(t *testing.T) {
			refuse(t, p.url(u.user, "not-"+u.password, appDB), "28P01")
			refuse(t, directURL(u.user, "not-"+u.password, appDB), "28P01")
		})
		failures++
	}
	t.Run("unknown user", func(t *testing.T) {
		refuse(t, p.url("nobody_here", "pw", appDB), "28P01")
		refuse(t, directURL("nobody_here", "pw", appDB), "28P01")
		failures++
	})
	t.Run("unknown database", func(t *testing.T) {
		refuse(t, p.url(appUser, appPassword, "no_such_db"), "3D000")
		refuse(t, directURL(appUser, appPassword, "no_such_db"), "3D000")
		failures++
	})
	if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", "auth_failed"); got != failures {
		t.Errorf("refused{auth_failed} = %v, want %v", got, failures)
	}
	// Failed logins leave the proxy serving.
	queryInt(t, p.app(t), "SELECT 1")
	if got := p.metric(t, "phiguard_proxy_connections_active"); got != 1 {
		t.Errorf("active connections = %v, want 1", got)
	}
}
