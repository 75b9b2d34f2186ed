package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestEncryptedTypesKeepTheirType stores protected date, integer, numeric
// and boolean columns as text cells, and checks clients still see (and
// bind) the original types, in text and binary.
func TestEncryptedTypesKeepTheirType(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table := uniqueName("typed")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(
		"CREATE TABLE %s (id int PRIMARY KEY, born text, visits text, score text, smoker text); GRANT ALL ON %s TO %s",
		table, table, appUser)); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      born:   {mode: randomized,    key: typed-pii, type: date}
      visits: {mode: deterministic, key: typed-visits, type: integer}
      score:  {mode: deterministic, key: typed-score, type: "numeric(5,1)"}
      smoker: {mode: randomized,    key: typed-pii, type: boolean}
`, table))})
	conn := p.app(t)

	born := time.Date(1984, 2, 29, 0, 0, 0, 0, time.UTC)
	// Extended protocol, binary parameters where pgx uses them.
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, born, visits, score, smoker) VALUES ($1, $2, $3, $4, $5)",
		1, born, 12, pgtype.Numeric{Int: bigInt(75), Exp: -1, Valid: true}, true); err != nil {
		t.Fatalf("insert with parameters: %v", err)
	}
	// Simple protocol, literals in other spellings of equal values.
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, born, visits, score, smoker) VALUES (2, '1990-1-5', ' 12', '7.50', 'no')",
		pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("insert with literals: %v", err)
	}

	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		rows, err := conn.Query(ctx, "SELECT id, born, visits, score, smoker FROM "+table+" WHERE visits = 12 AND score = 7.5 ORDER BY id", mode)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		var got []string
		for rows.Next() {
			var id, visits int
			var b time.Time
			var score pgtype.Numeric
			var smoker bool
			if err := rows.Scan(&id, &b, &visits, &score, &smoker); err != nil {
				t.Fatalf("%v: scan into the original types: %v", mode, err)
			}
			f, _ := score.Float64Value()
			got = append(got, fmt.Sprintf("%d %s %d %.1f %v", id, b.Format("2006-01-02"), visits, f.Float64, smoker))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		want := fmt.Sprint([]string{"1 1984-02-29 12 7.5 true", "2 1990-01-05 12 7.5 false"})
		if fmt.Sprint(got) != want {
			t.Fatalf("%v: got %v, want %v", mode, got, want)
		}
	}
	// The description shows the original types.
	rows, _ := conn.Query(ctx, "SELECT born, visits, score, smoker FROM "+table+" LIMIT 0")
	rows.Close()
	var oids []uint32
	for _, f := range rows.FieldDescriptions() {
		oids = append(oids, f.DataTypeOID)
	}
	if fmt.Sprint(oids) != fmt.Sprint([]uint32{1082, 23, 1700, 16}) {
		t.Fatalf("RowDescription types %v, want date, int4, numeric, bool", oids)
	}
	// A value phiguard cannot read is refused, not stored: words in a
	// date (month names, ...) are input PostgreSQL may accept, so the
	// refusal is 0A000, not a guess at PostgreSQL's error.
	_, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, born) VALUES (3, 'not a date')", pgx.QueryExecModeSimpleProtocol)
	wantPgError(t, err, "0A000")
	_, err = conn.Exec(ctx, "INSERT INTO "+table+" (id, visits) VALUES (3, '12x')", pgx.QueryExecModeSimpleProtocol)
	wantPgError(t, err, "22P02")
	_, err = conn.Exec(ctx, "INSERT INTO "+table+" (id, visits) VALUES (3, 99999999999)", pgx.QueryExecModeSimpleProtocol)
	wantPgError(t, err, "22003") // PostgreSQL's own code for an integer out of range
	var plain int
	if err := superuser(t).QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE born NOT LIKE '~phg~%' OR visits NOT LIKE '~phg~%'").Scan(&plain); err != nil || plain != 0 {
		t.Fatalf("%d plaintext cells (%v)", plain, err)
	}
}
