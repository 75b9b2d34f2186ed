package integration

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// rt4PipelinedWrite sends setter and, pipelined right behind it in the
// same connection, an UPDATE that phiguard (reading with
// standard_conforming_strings on) sees as writing only the plain city
// column, while PostgreSQL with standard_conforming_strings off sees a
// plaintext write to the encrypted patients.drivers. It reports whether
// the plaintext reached the table.
func rt4PipelinedWrite(t *testing.T, user string, setter []pgproto3.FrontendMessage, extended bool) bool {
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
	pc := p.as(t, user).PgConn()
	fe := pc.Frontend()
	for _, m := range setter {
		fe.Send(m)
	}
	evil := `UPDATE patients SET city = 'a\' || ' , drivers = $$RT4PLAIN$$ WHERE id = $$` + id + `$$ -- ' WHERE id = '` + id + `'`
	want := 2
	if extended {
		fe.Send(&pgproto3.Parse{Query: evil})
		fe.Send(&pgproto3.Bind{})
		fe.Send(&pgproto3.Execute{})
		fe.Send(&pgproto3.Sync{})
		want = 1
	} else {
		fe.Send(&pgproto3.Query{String: evil})
	}
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for ready := 0; ready < want; {
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
	time.Sleep(300 * time.Millisecond)
	var n int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM patients WHERE id = $1 AND drivers = 'RT4PLAIN'", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n != 0
}

// TestRedTeam4PgSettingsUpdate: UPDATE pg_settings is SET by another
// name (the view's rule calls set_config), so it must be refused like
// SET standard_conforming_strings = off.
func TestRedTeam4PgSettingsUpdate(t *testing.T) {
	for _, user := range []string{"admin_ann", "dr_alice"} {
		for _, extended := range []bool{false, true} {
			q := "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'"
			var setter []pgproto3.FrontendMessage
			if extended {
				setter = []pgproto3.FrontendMessage{&pgproto3.Parse{Query: q}, &pgproto3.Bind{}, &pgproto3.Execute{}}
			} else {
				setter = []pgproto3.FrontendMessage{&pgproto3.Query{String: q}}
			}
			if rt4PipelinedWrite(t, user, setter, extended) {
				t.Errorf("%s (extended %v): a statement behind UPDATE pg_settings ... standard_conforming_strings wrote a plaintext patients.drivers", user, extended)
			}
		}
	}
}
