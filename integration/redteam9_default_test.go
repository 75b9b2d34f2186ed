package integration

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam9DefaultSetElsewhereUnguardedShapes: the shapes the default
// guard puts no check in (INSERT ... SELECT, DEFAULT VALUES, several
// statements in one Query) are checked by the session's catalog alone.
// Another session gives the encrypted column a plaintext default after
// this session's catalog read: nothing may be stored in clear, for a
// role with INSERT on every column and for one with INSERT on some.
func TestRedTeam9DefaultSetElsewhereUnguardedShapes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	for _, priv := range []bool{false, true} {
		var tw *twin
		if priv {
			tw = privTwin(t, "rt9defp")
		} else {
			tw = newTwin(t, "rt9def", twinColumn{"id", "int", ""}, twinColumn{"note", "text", ""}, twinColumn{"x", "int", ""},
				twinColumn{"ssn", "text", "{mode: deterministic, key: rt9def-k, type: text}"})
		}
		// Log in after the GRANTs, so the catalog knows the privileges.
		tw.via = func() *pgx.Conn {
			for attempt := 1; attempt <= 3; attempt++ {
				if _, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) VALUES (0, 'a')", pgx.QueryExecModeSimpleProtocol); err == nil {
					break
				}
			}
			return tw.via
		}()
		if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+tw.enc+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
			t.Fatal(err)
		}
		// Extended protocol: the Parse comes after the default.
		if _, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) SELECT $1, 'ext'", pgx.QueryExecModeCacheStatement, 9); err == nil {
			t.Errorf("extended INSERT ... SELECT after a default set elsewhere ran")
		}
		for i, q := range []string{
			"INSERT INTO " + tw.enc + " (id, note) SELECT 10, 'sel'",
			"INSERT INTO " + tw.enc + " (id) SELECT g FROM generate_series(11, 12) g",
			"INSERT INTO " + tw.enc + " DEFAULT VALUES",
			"INSERT INTO " + tw.enc + " (id, note) VALUES (13, 'm'); SELECT 1",
			"SELECT 1; INSERT INTO " + tw.enc + " (id, note) VALUES (14, 'm')",
			"WITH w AS (SELECT 15 AS id) INSERT INTO " + tw.enc + " (id, note) SELECT id, 'cte' FROM w",
			"INSERT INTO " + tw.enc + " (id, note) VALUES (16, 'v') RETURNING id",
		} {
			_, err := tw.via.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol)
			var leaked int
			if err := superuser(t).QueryRow(ctx, "WITH d AS (DELETE FROM "+tw.enc+" e WHERE e::text LIKE '%"+rt5SSN+"%' RETURNING 1) SELECT count(*) FROM d").Scan(&leaked); err != nil {
				t.Fatal(err)
			}
			if leaked > 0 {
				t.Errorf("role with INSERT on some columns only %v, %d: %s (%v): %d row(s) with the default stored in clear", priv, i, q, err, leaked)
			}
		}
	}
}

// TestRedTeam9DefaultAfterParseUnguardedShape: a named INSERT ... SELECT
// Parsed before another session gives the encrypted column a default,
// and Bound after it: phiguard reads its catalog before each Bind of such
// a named statement too, and refuses it (0A000). Left: DDL landing
// between that read and the statement.
func TestRedTeam9DefaultAfterParseUnguardedShape(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt9defb", twinColumn{"id", "int", ""}, twinColumn{"note", "text", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt9defb-k, type: text}"})
	if _, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) SELECT $1::int, 'p'", pgx.QueryExecModeCacheStatement, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+tw.enc+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
		t.Fatal(err)
	}
	_, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) SELECT $1::int, 'p'", pgx.QueryExecModeCacheStatement, 2)
	wantCode(t, err, "0A000", "has a default value")
	rt5NoPlain(t, tw)
	// Once the default is gone, the same prepared statement runs again.
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+tw.enc+" ALTER COLUMN ssn DROP DEFAULT"); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) SELECT $1::int, 'p'", pgx.QueryExecModeCacheStatement, 3); err != nil {
		t.Fatalf("after the default was dropped: %v", err)
	}
}
