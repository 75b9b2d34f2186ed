package integration

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam2Probe is exploratory: it logs what phiguard makes of each
// attempt (refusal code, or row count and a value-free preview). Run with
// RT2_PROBE=1.
func TestRedTeam2Probe(t *testing.T) {
	if os.Getenv("RT2_PROBE") == "" {
		t.Skip("exploratory; set RT2_PROBE=1")
	}
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	ctx := testContext(t)
	probes := []struct{ user, sql string }{}
	for _, line := range strings.Split(os.Getenv("RT2_PROBE_FILE_CONTENT"), "\n") {
		if u, s, ok := strings.Cut(line, "|"); ok && !strings.HasPrefix(line, "#") {
			s = strings.ReplaceAll(s, "HIDDEN", fx.hidden)
			s = strings.ReplaceAll(s, "ALICEONLY", fx.aliceOnly)
			probes = append(probes, struct{ user, sql string }{u, s})
		}
	}
	for _, pr := range probes {
		for _, mode := range []string{simpleMode, extendedMode} {
			conn := p.as(t, pr.user)
			conn.Exec(ctx, "BEGIN")
			var rows [][]string
			var err error
			if strings.Contains(pr.sql, ";") && mode == simpleMode {
				rows, err = multiRows(ctx, conn, pr.sql)
			} else if strings.Contains(pr.sql, ";") {
				continue
			} else {
				rows, err = queryRows(ctx, conn, mode, pr.sql)
			}
			var pe *pgconn.PgError
			switch {
			case errors.As(err, &pe):
				by := "phiguard"
				if pe.Routine != "" {
					by = "pg:" + pe.Routine
				}
				t.Logf("%-10s %-8s %s\n    -> ERR %s (%s) %.160s", pr.user, mode, pr.sql, pe.Code, by, pe.Message)
			case err != nil:
				t.Logf("%-10s %-8s %s\n    -> ERR %v", pr.user, mode, pr.sql, err)
			default:
				t.Logf("%-10s %-8s %s\n    -> %d rows %s", pr.user, mode, pr.sql, len(rows), preview(rows))
			}
			conn.Exec(ctx, "ROLLBACK")
			conn.Close(ctx)
		}
	}
}
