package integration

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedTeam40AccessEdits: the shapes red team 40 made the access
// rewriter edit in the client's text instead of writing the tree whole
// (a word of the client's glued to the edit, TABLE, INSERT without a
// column list, UPDATE ... SET (a, b) = (SELECT ...)) run on PostgreSQL
// with the rules: dr_alice reads and writes exactly her care team's
// notes, and a new note on a hidden patient is refused. Each statement
// runs in a transaction rolled back.
func TestRedTeam40AccessEdits(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startProxy(t, accessProxyOptions(t, fx))
	su := accessSuperuser(t)
	ctx := testContext(t)
	var mine int
	var maxNote string
	if err := su.QueryRow(ctx, "SELECT count(*), max(note) FROM clinical_notes WHERE patient IN "+aliceSees).Scan(&mine, &maxNote); err != nil {
		t.Fatal(err)
	}
	var all int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM clinical_notes").Scan(&all); err != nil || mine == 0 || all == mine {
		t.Fatalf("fixture: dr_alice's notes %d of %d (%v): the test needs some of each", mine, all, err)
	}
	conn := p.as(t, "dr_alice")
	// rows runs sql in a rolled-back transaction: its rows' first
	// columns, or its error.
	rows := func(sql string, args ...any) ([]string, error) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // nothing to keep
		r, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return nil, err
		}
		var out []string
		for r.Next() {
			v, err := r.Values()
			if err != nil {
				return nil, err
			}
			out = append(out, fmt.Sprint(v[0]))
		}
		return out, r.Err()
	}
	for _, sql := range []string{
		"UPDATE clinical_notes SET note = 'x' WHERE(id = id) RETURNING id",
		"DELETE FROM clinical_notes WHERE(true) RETURNING id",
		`UPDATE clinical_notes SET note = 'x' WHERE"id" = "id" RETURNING id`,
		`SELECT id FROM"clinical_notes"WHERE true`,
		"TABLE clinical_notes",
	} {
		got, err := rows(sql)
		if err != nil || len(got) != mine {
			t.Errorf("%s: %d rows, %v; want dr_alice's %d notes", sql, len(got), err, mine)
		}
	}
	got, err := rows("UPDATE clinical_notes SET (note, author) = (SELECT max(note), 'dr_alice' FROM clinical_notes) RETURNING note")
	if err != nil || len(got) != mine {
		t.Errorf("SET (a, b) = (SELECT ...): %d rows, %v; want %d", len(got), err, mine)
	}
	for _, note := range got {
		if note != maxNote {
			t.Errorf("SET (a, b) = (SELECT max(note) ...): %q, want %q (the greatest of dr_alice's notes)", note, maxNote)
			break
		}
	}
	if got, err := rows("INSERT INTO clinical_notes VALUES (DEFAULT, $1::uuid, NULL, 'dr_alice', 'rt40') RETURNING note", fx.aliceOnly); err != nil || len(got) != 1 {
		t.Errorf("INSERT without a column list, dr_alice's patient: %v %v", got, err)
	}
	_, err = rows("INSERT INTO clinical_notes VALUES (DEFAULT, $1::uuid, NULL, 'dr_alice', 'rt40') RETURNING note", fx.hidden)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("INSERT without a column list, a hidden patient: %v, want 42501", err)
	}
}
