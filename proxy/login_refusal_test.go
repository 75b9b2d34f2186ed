package proxy

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgwire/pgwiretest"
)

// TestDatabaseRefusalsAreNotFailedLogins: a login the database refuses
// because it is full (53300) or not accepting connections (57P03, as
// while it starts up after a restart) reaches the client as the
// database's own error and is counted under its own reason; a wrong
// password is a failed login.
func TestDatabaseRefusalsAreNotFailedLogins(t *testing.T) {
	for code, reason := range map[string]string{
		"53300": "backend_too_many",
		"57P03": "backend_not_accepting",
		"28P01": "auth_failed",
	} {
		t.Run(code, func(t *testing.T) {
			fb := startFakeBackend(t, func(c net.Conn) {
				readStartup(t, c)
				c.Write(pgwiretest.Encode(t, &pgproto3.ErrorResponse{Severity: "FATAL", Code: code, Message: "refused by the database"}))
			})
			p := startAdmissionProxy(t, fb.port(), nil, nil, nil)
			e, err := awaitError(dialStartup(t, p.addr), 5*time.Second)
			if err != nil || e == nil || e.Code != code {
				t.Fatalf("client got %+v, %v; want the database's %s", e, err, code)
			}
			// The metric is counted as the session ends, just after the
			// error is relayed.
			for deadline := time.Now().Add(5 * time.Second); p.metric(t, "phiguard_proxy_connections_refused_total", "reason", reason) != 1; {
				if time.Now().After(deadline) {
					t.Fatalf("refused{%s} never reached 1", reason)
				}
				time.Sleep(10 * time.Millisecond)
			}
			for _, other := range []string{"backend_too_many", "backend_not_accepting", "auth_failed"} {
				if got := p.metric(t, "phiguard_proxy_connections_refused_total", "reason", other); other != reason && got != 0 {
					t.Errorf("refused{%s} = %v, want 0", other, got)
				}
			}
		})
	}
}

// TestCatalogRefusalReachesClient: when the session's backend refuses
// phiguard's catalog query (a permission on schema phiguard missing, or
// the schema being rebuilt by `phiguard search install`), the client gets
// a FATAL error with the backend's SQLSTATE and words, not a connection
// closed in the middle of its login ("unexpected EOF" in the client).
func TestCatalogRefusalReachesClient(t *testing.T) {
	fb := startFakeBackend(t, func(c net.Conn) {
		greet(t, c, 7, []byte{1, 2, 3, 4})
		// phiguard's catalog read: extended-protocol messages up to a Sync
		// (guard/own_messages.go).
		for {
			typ, _, err := readMsg(c)
			if err != nil || typ == 'Q' || typ == 'X' {
				return
			}
			if typ == 'S' {
				break
			}
		}
		c.Write(pgwiretest.Encode(t,
			&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42501", Message: "permission denied for schema phiguard"},
			&pgproto3.ReadyForQuery{TxStatus: 'I'}))
	})
	_, addr := startProtectedProxy(t, fb.port(), nil)
	e, err := awaitError(dialStartup(t, addr), 5*time.Second)
	if err != nil || e == nil {
		t.Fatalf("client got %+v, %v; want the catalog's refusal", e, err)
	}
	if e.Severity != "FATAL" || e.Code != "42501" || !strings.Contains(e.Message, "catalog") || !strings.Contains(e.Message, "permission denied for schema phiguard") {
		t.Fatalf("client got %s %s %q", e.Severity, e.Code, e.Message)
	}
}
