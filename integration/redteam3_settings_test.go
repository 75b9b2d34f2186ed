package integration

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestRedTeam3PipelinedSettingChange: for a role without rules the
// rewriter does not run, so `SET standard_conforming_strings = off` is
// forwarded and only the backstop (guard/settings.go
// checkReportedSetting, on the backend's ParameterStatus) ends the
// session. A Query pipelined right behind the SET has by then been read
// by phiguard with standard_conforming_strings on and forwarded, and
// PostgreSQL lexes it with the setting off: phiguard sees
//
//	UPDATE patients SET city = 'a\' || '<text>' WHERE id = '...'
//
// (no encrypted column), PostgreSQL sees `city = 'a” || ' , drivers =
// $$...$$ WHERE id = $$...$$ --...`, a plaintext write to the encrypted
// patients.drivers, committed.
func TestRedTeam3PipelinedSettingChange(t *testing.T) {
	// Not parallel: it writes to the shared fixture (restored at the end),
	// which the parallel suites read.
	ctx := testContext(t)
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	su := accessSuperuser(t)
	id := fx.aliceOnly
	var city, drivers *string
	if err := su.QueryRow(ctx, "SELECT city, drivers FROM patients WHERE id = $1", id).Scan(&city, &drivers); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := su.Exec(ctx, "UPDATE patients SET city = $2, drivers = $3 WHERE id = $1", id, city, drivers); err != nil {
			t.Errorf("restore: %v", err)
		}
	}()
	pc := p.as(t, "admin_ann").PgConn()
	fe := pc.Frontend()
	fe.Send(&pgproto3.Query{String: "SET standard_conforming_strings = off"})
	fe.Send(&pgproto3.Query{String: `UPDATE patients SET city = 'a\' || ' , drivers = $$RT3PLAIN$$ WHERE id = $$` + id + `$$ -- ' WHERE id = '` + id + `'`})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	// Until both Queries are answered (two ReadyForQuery), or the
	// session ends.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for ready := 0; ready < 2; {
		msg, err := pc.ReceiveMessage(rctx)
		if err != nil {
			break
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			t.Logf("%s %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			ready++
		}
	}
	time.Sleep(300 * time.Millisecond) // the backend may still be running it
	var n int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM patients WHERE id = $1 AND drivers = 'RT3PLAIN'", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a Query pipelined behind SET standard_conforming_strings = off wrote a plaintext patients.drivers (phiguard read another statement than PostgreSQL ran)")
	}
}
