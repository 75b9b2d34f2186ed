package integration

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/config"
)

// Red team 27: plaintext ORDER BY keys sent as their values ("native
// keys", docs/search.md; sqlrewrite/sort_native.go, guard/sort_native.go)
// and the date fast path (internal/pgvalue/date_quick.go).

// rt27Outcome is what rt27Same found for one statement.
type rt27Outcome struct{ same, refused, bothFailed int }

// add counts x's executions too.
func (o *rt27Outcome) add(x rt27Outcome) {
	o.same += x.same
	o.refused += x.refused
	o.bothFailed += x.bothFailed
}

// rt27Same runs q (a format for the people and addresses tables) on via
// and directly, in the simple protocol and in the extended one with text
// and binary results: the plaintext's answer, a refusal (0A000), or, when
// the statement fails directly, a failure with the same SQLSTATE. Any
// other outcome is reported.
func rt27Same(t *testing.T, f *sortFixture, via *pgx.Conn, q string, args ...any) rt27Outcome {
	t.Helper()
	var o rt27Outcome
	for _, mode := range bothModes {
		for _, format := range []int16{pgx.TextFormatCode, pgx.BinaryFormatCode} {
			if mode == pgx.QueryExecModeSimpleProtocol && format == pgx.BinaryFormatCode {
				continue
			}
			want, werr := rowsRaw(t, f.dir, f.sql(q, 0), mode, format, args...)
			got, gerr := rowsRaw(t, via, f.sql(q, 1), mode, format, args...)
			var wpe, gpe *pgconn.PgError
			switch {
			case werr != nil && errors.As(werr, &wpe) && errors.As(gerr, &gpe) && (gpe.Code == wpe.Code || gpe.Code == "0A000"):
				o.bothFailed++
			case werr != nil:
				t.Errorf("%s (%v, format %d): directly %v, through phiguard %v\n%s", q, mode, format, werr, gerr, got)
			case gerr != nil && errors.As(gerr, &gpe) && gpe.Code == "0A000":
				o.refused++
			case gerr != nil:
				t.Errorf("%s (%v, format %d): through phiguard %v, directly\n%s", q, mode, format, gerr, want)
			case got != want:
				t.Errorf("%s (%v, format %d): through phiguard\n%s\ndirectly\n%s", q, mode, format, got, want)
			default:
				o.same++
			}
		}
	}
	return o
}

// rt27Exec runs DDL on both tables of a side pair: stmt's %[1]s is the
// people table, %[2]s the addresses table.
func rt27Exec(t *testing.T, f *sortFixture, stmt string) {
	t.Helper()
	ctx := testContext(t)
	for side := range 2 {
		if _, err := superuser(t).Exec(ctx, f.sql(stmt, side)); err != nil {
			t.Fatal(err)
		}
	}
}

// newRT27Fixture is the sort fixture with phiguard reaching PostgreSQL
// through a byteRelay, to count the keys sent as their values.
func newRT27Fixture(t *testing.T, n int) (*sortFixture, *byteRelay) {
	t.Helper()
	relay := startByteRelay(t)
	f := newSortFixture(t, n, func(c *config.Config) {
		c.Backend.Port = relay.port
		c.Backend.TLS.Mode = config.BackendTLSDisable
	})
	relay.take()
	return f, relay
}

// nativeSent counts the keys sent as values in what phiguard sent since
// the last take.
func nativeSent(relay *byteRelay) (ints, uuids int) {
	sent := relay.take()
	return bytes.Count(sent, []byte("THEN pg_catalog.textcat('n'")), bytes.Count(sent, []byte("THEN pg_catalog.textcat('u'"))
}

// TestRedTeam27NativeNames: ORDER BY names that are, or look like, an
// integer column of the protected table, but are something else to
// PostgreSQL (an output name, a derived relation's column, a merged
// JOIN USING column), or are that column under another qualification.
func TestRedTeam27NativeNames(t *testing.T) {
	t.Parallel()
	f, relay := newRT27Fixture(t, 80)
	// Columns named like functions and types, so that an unnamed
	// select-list entry's output name is also an input column's name.
	rt27Exec(t, f, `ALTER TABLE %[1]s ADD COLUMN abs int, ADD COLUMN int8 int, ADD COLUMN "case" int, ADD COLUMN "coalesce" int, ADD COLUMN textcat int;
UPDATE %[1]s SET abs = 100 - id, int8 = id %% 7, "case" = -id, "coalesce" = id %% 3, textcat = id %% 4`)
	via := f.p.app(t) // a catalog with the new columns
	var total rt27Outcome
	for _, q := range []string{
		// Output names that are input columns too.
		`SELECT name, grp AS id FROM %[1]s ORDER BY name, id`,
		`SELECT name, id AS grp, grp AS id FROM %[1]s ORDER BY name, grp, born, id`,
		`SELECT name, id::text FROM %[1]s ORDER BY name, id`,
		`SELECT name, CAST(id AS text) FROM %[1]s ORDER BY name, id`,
		`SELECT name, -id AS id FROM %[1]s ORDER BY name, id`,
		`SELECT name, CASE WHEN grp > 2 THEN -id ELSE id END FROM %[1]s ORDER BY name, id`,
		`SELECT name, abs(grp - 2) FROM %[1]s ORDER BY name, abs, born, id`,
		`SELECT name, (grp * 3)::int8 FROM %[1]s ORDER BY name, int8, born, id`,
		`SELECT name, coalesce(-grp, 0) FROM %[1]s ORDER BY name, "coalesce", born, id`,
		`SELECT name, (SELECT -p2.grp AS id FROM %[1]s p2 WHERE p2.id = p.id) FROM %[1]s p ORDER BY name, id`,
		`SELECT name, ARRAY[-id] AS grp FROM %[1]s ORDER BY name, grp, born, id`,
		`SELECT name, (-id) grp FROM %[1]s ORDER BY name, grp, born, id`,
		`SELECT name, "case" FROM %[1]s ORDER BY name, "case"`,
		`SELECT name, CASE WHEN grp > 2 THEN 1 ELSE 2 END FROM %[1]s ORDER BY name, "case", born, id`,
		`SELECT name, textcat('a', tag) FROM %[1]s ORDER BY name, textcat, born, id`,
		`SELECT name, textcat FROM %[1]s ORDER BY name, textcat, born, id`,
		// A * beside an output name: PostgreSQL's error (ambiguous),
		// answered by phiguard before red team 27's fix, refused now.
		`SELECT *, -id AS id FROM %[1]s ORDER BY name, id`,
		`SELECT *, grp AS id FROM %[1]s ORDER BY name, id`,
		`SELECT p.*, -p.grp AS grp FROM %[1]s p ORDER BY p.name, grp, p.born, p.id`,
		`SELECT *, id FROM %[1]s ORDER BY name, id`,                // the *'s own id: answered
		`SELECT *, grp AS g FROM %[1]s ORDER BY name, g, born, id`, // no g in the *, but phiguard cannot tell: refused
		// Qualified names.
		`SELECT name, id FROM public.%[1]s ORDER BY name, public.%[1]s.id DESC`,
		`SELECT name, id FROM public.%[1]s ORDER BY name, %[1]s.id DESC`,
		`SELECT name, id FROM %[1]s p ORDER BY name, %[1]s.id`,
		`SELECT name, id FROM %[1]s p ORDER BY name, public.p.id`,
		`SELECT p.name, p.id FROM %[1]s p ORDER BY p.name, p.id DESC NULLS LAST`,
		// Derived relations named like the table.
		`SELECT name, id FROM (SELECT name, -id AS id FROM %[1]s) %[1]s ORDER BY name, %[1]s.id`,
		`WITH %[1]s AS (SELECT name, -id AS id FROM public.%[1]s) SELECT name, id FROM %[1]s ORDER BY name, id`,
		`WITH %[1]s AS (SELECT name, -id AS id FROM public.%[1]s) SELECT name, id FROM %[1]s ORDER BY name, %[1]s.id`,
		`WITH %[1]s AS (SELECT name, (-id)::text AS id FROM public.%[1]s) SELECT name, id FROM %[1]s ORDER BY name, id`,
		`WITH x AS (SELECT name, -id AS id FROM %[1]s) SELECT name, id FROM x ORDER BY name, id`,
		// Joins: USING merges the columns; a FULL join's merged column
		// is COALESCE of both.
		`SELECT p.name, id FROM %[1]s p JOIN %[2]s a USING (id) ORDER BY p.name, id DESC`,
		`SELECT p.name, id FROM %[1]s p FULL JOIN %[2]s a USING (id) ORDER BY p.name, id DESC`,
		`SELECT p.name, p.id, a.id FROM %[1]s p FULL JOIN %[2]s a USING (id) ORDER BY p.name, p.id DESC, a.city, a.id`,
		`SELECT p.name, p.id, a.id FROM %[1]s p RIGHT JOIN %[2]s a ON a.person = p.id ORDER BY p.name, p.id DESC, a.city, a.id`,
		`SELECT name, id FROM %[1]s NATURAL JOIN %[2]s ORDER BY name, id`,
		`SELECT name, id FROM %[2]s NATURAL RIGHT JOIN %[1]s ORDER BY name, id DESC`,
		// LATERAL and functions in FROM.
		`SELECT p.name, x.id FROM %[1]s p, LATERAL (SELECT -p.id AS id) x ORDER BY p.name, x.id`,
		`SELECT p.name, g FROM %[1]s p, generate_series(1, 2) g ORDER BY p.name, g DESC, p.born, p.id`,
		`SELECT p.name, g.x FROM %[1]s p, generate_series(-3, -2) AS g(x) ORDER BY p.name, x, p.born, p.id`,
		`SELECT p.name FROM %[1]s p, generate_series(1, 2) AS grp ORDER BY p.name, grp, p.born, p.id`,
		`SELECT p.name, u FROM %[1]s p, unnest(ARRAY[-p.id, p.id]) AS u ORDER BY p.name, u`,
		`SELECT p.name, id FROM %[1]s p, unnest(ARRAY[-p.grp]) AS id ORDER BY p.name, id, p.born, p.id`,
		`SELECT p.name, id FROM %[1]s p, ROWS FROM (generate_series(-2, -1)) AS r(id) ORDER BY p.name, id`,
		// Whole rows and a column named like its relation.
		`SELECT name, id FROM %[1]s grp ORDER BY name, grp, born, id`,
		`SELECT name, id FROM %[1]s id ORDER BY name, id`,
		// USING, COLLATE.
		`SELECT name, id FROM %[1]s ORDER BY name, id USING >`,
		`SELECT name, id FROM %[1]s ORDER BY name, id COLLATE "C"`,
		// Positions.
		`SELECT name, id FROM %[1]s ORDER BY 1, 2 DESC`,
		`SELECT name, -id FROM %[1]s ORDER BY 1, 2 DESC, born, id`,
	} {
		total.add(rt27Same(t, f, via, q))
	}
	ints, uuids := nativeSent(relay)
	t.Logf("executions: %d the plaintext's answer, %d refused, %d failing as directly; %d integer keys sent as values, %d uuid", total.same, total.refused, total.bothFailed, ints, uuids)
	if ints < 20 {
		t.Errorf("only %d integer keys sent as their values", ints)
	}
}

// TestRedTeam27NativeTypes: integer keys at their limits (int2, int8
// min and max, which ^n and the key's text must order right in both
// directions), with NULLs; and columns that must stay ranked (a domain
// over int, oid above 2^31, arrays, bigint generated columns).
func TestRedTeam27NativeTypes(t *testing.T) {
	t.Parallel()
	f, relay := newRT27Fixture(t, 90)
	rt27Exec(t, f, `DO $$ BEGIN CREATE DOMAIN rt27_posint AS int CHECK (VALUE > -1000); EXCEPTION WHEN duplicate_object THEN NULL; END $$;
ALTER TABLE %[1]s ADD COLUMN big int8, ADD COLUMN small int2, ADD COLUMN o oid, ADD COLUMN dom rt27_posint, ADD COLUMN arr int[],
  ADD COLUMN gen int8 GENERATED ALWAYS AS (id * -3) STORED, ADD COLUMN idn int8 GENERATED BY DEFAULT AS IDENTITY;
UPDATE %[1]s SET
  big = (ARRAY[-9223372036854775808, 9223372036854775807, -1, 0, 1, NULL, -9223372036854775807, 9223372036854775806])[1 + id %% 8],
  small = (ARRAY[-32768, 32767, -1, 0, NULL, 1])[1 + id %% 6],
  o = (ARRAY[0, 4294967295, 2147483648, 2147483647, 1, NULL]::oid[])[1 + id %% 6],
  dom = (ARRAY[-999, 5, NULL, 0, 999])[1 + id %% 5],
  arr = CASE id %% 5 WHEN 0 THEN '{1,2}'::int[] WHEN 1 THEN '{1}' WHEN 2 THEN '{-1,5}' WHEN 3 THEN NULL ELSE '{}' END`)
	via := f.p.app(t)
	var total rt27Outcome
	for _, col := range []string{"big", "small", "o", "dom", "arr", "gen", "idn", "p.big", "-big"} {
		for _, dir := range []string{"", " DESC", " NULLS FIRST", " DESC NULLS LAST", " USING <", " USING >"} {
			if col == "-big" && dir != "" {
				continue // bigint out of range, as directly
			}
			for _, q := range []string{
				`SELECT p.id, p.name, p.big, p.small FROM %%[1]s p ORDER BY p.name, %s%s, p.born, p.id`,
				`SELECT p.id FROM %%[1]s p ORDER BY p.born DESC, %s%s, p.tag, p.id LIMIT 30 OFFSET 2`,
				`SELECT p.id, p.small FROM %%[1]s p WHERE p.name <> 'Smith' ORDER BY %s%s, p.score, p.id`,
			} {
				total.add(rt27Same(t, f, via, fmt.Sprintf(q, col, dir)))
			}
		}
	}
	ints, uuids := nativeSent(relay)
	t.Logf("executions: %d the plaintext's answer, %d refused, %d failing as directly; %d integer keys sent as values, %d uuid", total.same, total.refused, total.bothFailed, ints, uuids)
	if ints < 100 {
		t.Errorf("only %d integer keys sent as their values", ints)
	}
}

// TestRedTeam27NativeStaleImplicitCast: another session changes an
// integer key's column to a type of its own with an implicit cast to
// bigint (an enum here, whose order is its labels', not the cast's).
// The session's catalog still says integer. Sent as int8pl(grp, 0), as
// first built, PostgreSQL read the key through the cast: another order
// (3 of 3 executions differed). The pg_typeof guard (docs/search.md,
// Native keys) now refuses the statement and the catalog is read again.
func TestRedTeam27NativeStaleImplicitCast(t *testing.T) {
	t.Parallel()
	f, relay := newRT27Fixture(t, 60)
	ctx := testContext(t)
	const q = `SELECT id, name FROM %[1]s ORDER BY name, grp, born, id`
	rt27Same(t, f, f.via, q) // the session reads its catalog: grp is an integer
	if ints, _ := nativeSent(relay); ints == 0 {
		t.Fatal("grp was not sent as its value")
	}
	enum := uniqueName("rt27_level")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE TYPE %[1]s AS ENUM ('high', 'mid', 'low');
CREATE FUNCTION %[1]s_rank(%[1]s) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT CASE $1::text WHEN 'high' THEN 3 WHEN 'mid' THEN 2 ELSE 1 END::bigint $$;
CREATE CAST (%[1]s AS bigint) WITH FUNCTION %[1]s_rank(%[1]s) AS IMPLICIT`, enum)); err != nil {
		t.Fatal(err)
	}
	for _, table := range f.people {
		if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN grp TYPE %s USING (ARRAY['high', 'mid', 'low'])[1 + grp %% 3]::%s`, table, enum, enum)); err != nil {
			t.Fatal(err)
		}
	}
	failed := 0
	for _, mode := range bothModes {
		want, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, 0)
		switch {
		case err != nil:
			failed++
			t.Logf("%v: %v", mode, err)
		case got != want:
			t.Errorf("%v: ordered by the cast: through phiguard\n%s\ndirectly\n%s", mode, got, want)
		}
	}
	t.Logf("after the change: %d of 2 executions failed, the others gave the plaintext's answer", failed)
}

// TestRedTeam27NativeStaleTypes: another session changes an integer or
// uuid key's column to another type after this session read its catalog;
// statements prepared before and after, and simple ones: the plaintext's
// answer, or an error (never another order). What errors is logged.
func TestRedTeam27NativeStaleTypes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ from, to, using string }{
		{"int", "bigint", "grp"},
		{"int", "smallint", "grp"},
		{"int", "numeric", "grp * 1.5 - 2"},
		{"int", "float8", "grp * -1.5"},
		{"int", "text", "(grp * 7)::text"},
		{"int", "oid", "(grp::int8 * 1000000000)::oid"},
		{"int", "bool", "grp > 2"},
		{"uuid", "text", "ref::text"},
		{"uuid", "bytea", "uuid_send(ref)"},
	} {
		t.Run(c.from+"_"+c.to, func(t *testing.T) {
			t.Parallel()
			f, relay := newRT27Fixture(t, 60)
			ctx := testContext(t)
			col := "grp"
			if c.from == "uuid" {
				col = "ref"
				rt27Exec(t, f, `ALTER TABLE %[1]s ADD COLUMN ref uuid; UPDATE %[1]s SET ref = md5((id %% 13)::text)::uuid WHERE id %% 7 <> 0`)
			}
			via := f.p.app(t)
			queries := []string{
				`SELECT id, name FROM %[1]s ORDER BY name, ` + col + ` DESC, born, id`,
				`SELECT id, name FROM %[1]s WHERE name <> 'Smith' ORDER BY born, ` + col + `, score, id LIMIT 20`,
			}
			for _, q := range queries {
				rt27Same(t, f, via, q) // prepared, and the catalog read
			}
			if ints, uuids := nativeSent(relay); ints+uuids == 0 {
				t.Fatalf("%s was not sent as its value", col)
			}
			for _, table := range f.people {
				if _, err := superuser(t).Exec(ctx, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s", table, col, c.to, c.using)); err != nil {
					t.Fatal(err)
				}
			}
			var errs []string
			for _, q := range queries {
				for _, mode := range bothModes {
					want, werr := rowsRaw(t, f.dir, f.sql(q, 0), mode, 0)
					got, gerr := rowsRaw(t, via, f.sql(q, 1), mode, 0)
					switch {
					case werr != nil || gerr != nil:
						errs = append(errs, fmt.Sprintf("%v: directly %v, through phiguard %v", mode, werr, gerr))
					case got != want:
						t.Errorf("%s (%v) after %s -> %s: through phiguard\n%s\ndirectly\n%s", q, mode, c.from, c.to, got, want)
					}
				}
			}
			t.Logf("%s -> %s: %d errors: %s", c.from, c.to, len(errs), strings.Join(errs, "; "))
		})
	}
}

// TestRedTeam27NativeRounds: ordered rounds (ORDER BY an order-term
// column, then plaintext keys, LIMIT) whose plaintext keys are sent as
// their values: a uuid and an int8 at its limits with ties and NULLs,
// before and after the term key, in every direction, where the first 240
// names fail the statement's proxy-side predicate (so a second and third
// round run), read whole and in portions of 3 rows.
func TestRedTeam27NativeRounds(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 400, 240)
	ctx := testContext(t)
	for _, table := range []string{f.plain, f.enc} {
		if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`ALTER TABLE %[1]s ADD COLUMN ref uuid, ADD COLUMN big int8;
UPDATE %[1]s SET ref = CASE WHEN id %% 11 = 0 THEN NULL ELSE md5((id %% 23)::text)::uuid END,
  big = (ARRAY[-9223372036854775808, 9223372036854775807, -1, 0, NULL, 7])[1 + id %% 6]`, table)); err != nil {
			t.Fatal(err)
		}
	}
	f.via = f.p.app(t) // a catalog with ref and big
	f.relay.take()
	statements, differ := 0, 0
	for _, key := range []string{"ref", "big"} {
		for _, dir := range []string{"", " DESC", " NULLS FIRST", " DESC NULLS LAST"} {
			for _, shape := range []string{
				"SELECT id, name FROM %%s WHERE name NOT LIKE '%%%%Fail' ORDER BY name, %[1]s%[2]s, born, id LIMIT 12",
				"SELECT id, name, %[1]s FROM %%s WHERE name NOT LIKE '%%%%Fail' ORDER BY %[1]s%[2]s, name DESC, id LIMIT 9 OFFSET 4",
				"SELECT id, born FROM %%s WHERE name NOT LIKE '%%%%Fail' ORDER BY born DESC, %[1]s%[2]s, name, id OFFSET 2 ROWS FETCH FIRST 15 ROWS ONLY",
			} {
				q := fmt.Sprintf(shape, key, dir)
				for _, mode := range bothModes {
					statements++
					if !f.sameRaw(t, q, mode) {
						differ++
					}
				}
				// In portions: Execute with a row limit of 3.
				var got [2]string
				for side, url := range []string{directURL(appUser, appPassword, appDB), f.p.url(appUser, appPassword, appDB)} {
					c := &portionConn{rawConn: dialRaw(t, url)}
					table := []string{f.plain, f.enc}[side]
					got[side] = fmt.Sprint(c.exchange(t, untilReadyMsg, parse("s", fmt.Sprintf(q, table)), bind("p", "s"), execute("p", 3), execute("p", 3), execute("p", 0), sync))
				}
				if got[0] != got[1] {
					differ++
					t.Errorf("%s in portions: through phiguard\n%s\ndirectly\n%s", q, got[1], got[0])
				}
			}
		}
	}
	sent := f.relay.take()
	ints, uuids := bytes.Count(sent, []byte("THEN pg_catalog.textcat('n'")), bytes.Count(sent, []byte("THEN pg_catalog.textcat('u'"))
	t.Logf("%d executions and 24 in portions: %d differ; %d integer and %d uuid keys sent as values; %d statements sent WITH TIES; %v further rounds",
		statements, differ, ints, uuids, bytes.Count(sent, []byte("ROWS WITH TIES")), f.p.metric(t, "phiguard_proxy_search_rounds_total"))
	if ints == 0 || uuids == 0 {
		t.Error("the keys were not sent as their values")
	}
	if f.p.metric(t, "phiguard_proxy_search_rounds_total") == 0 {
		t.Error("no statement took a second round")
	}
}

// TestRedTeam27NativeShapes: native keys in the other shapes phiguard
// sorts: GROUP BY and aggregates it computes, DISTINCT it removes, a
// proxy-side filter without LIMIT, keys written twice, a key that is
// also a select-list entry in binary; under session settings that could
// change the text of an integer or a uuid (bytea_output, search_path
// with a schema of its own textcat/encode/int8pl, extra_float_digits).
func TestRedTeam27NativeShapes(t *testing.T) {
	t.Parallel()
	f, relay := newRT27Fixture(t, 90)
	ctx := testContext(t)
	rt27Exec(t, f, `ALTER TABLE %[1]s ADD COLUMN ref uuid, ADD COLUMN big int8;
UPDATE %[1]s SET ref = CASE WHEN id %% 9 = 0 THEN NULL ELSE md5((id %% 17)::text)::uuid END,
  big = (ARRAY[-9223372036854775808, 9223372036854775807, -1, 0, NULL, 7])[1 + id %% 6]`)
	schema := uniqueName("rt27shadow")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.textcat(text, text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'x' $$;
CREATE FUNCTION %[1]s.int8pl(bigint, bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT -$1 $$;
CREATE FUNCTION %[1]s.encode(bytea, text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'x' $$;
CREATE FUNCTION %[1]s.coalesce(bigint, bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT 1::bigint $$`, schema)); err != nil {
		t.Fatal(err)
	}
	var total rt27Outcome
	queries := []string{
		`SELECT grp, count(*) FROM %[1]s WHERE name <> 'Smith' GROUP BY grp ORDER BY grp DESC`,
		`SELECT big, min(name) FROM %[1]s GROUP BY big ORDER BY big DESC NULLS LAST`,
		`SELECT ref, count(*), max(born) FROM %[1]s GROUP BY ref ORDER BY max(born), ref NULLS FIRST`,
		`SELECT DISTINCT name, big FROM %[1]s ORDER BY name, big DESC`,
		`SELECT DISTINCT ref, tag FROM %[1]s ORDER BY tag, ref`,
		`SELECT id, big FROM %[1]s WHERE name >= 'S' ORDER BY big DESC, id`,
		`SELECT id, ref FROM %[1]s WHERE score > 0 ORDER BY ref NULLS FIRST, id DESC`,
		`SELECT id, big, name FROM %[1]s ORDER BY big, name, big DESC, born, id`,
		`SELECT big, ref, name FROM %[1]s ORDER BY name, 1, tag, 2 DESC, id`,
		`SELECT id FROM %[1]s ORDER BY name, ref, born, big DESC NULLS LAST, score, id LIMIT 40 OFFSET 5`,
	}
	for _, setting := range []string{"", "SET bytea_output = escape", "SET extra_float_digits = 3",
		"SET search_path = " + schema + ", public", "SET search_path = public, " + schema + ", pg_catalog"} {
		via := f.p.app(t)
		for _, conn := range []*pgx.Conn{f.dir, via} {
			if _, err := conn.Exec(ctx, "RESET ALL"); err != nil {
				t.Fatal(err)
			}
			if setting != "" {
				if _, err := conn.Exec(ctx, setting); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, q := range queries {
			total.add(rt27Same(t, f, via, q))
		}
	}
	ints, uuids := nativeSent(relay)
	t.Logf("executions: %d the plaintext's answer, %d refused, %d failing as directly; %d integer keys sent as values, %d uuid", total.same, total.refused, total.bothFailed, ints, uuids)
	if ints == 0 || uuids == 0 {
		t.Error("the keys were not sent as their values")
	}
}

// TestRedTeam27NativeShadowedTable: a schema before public in
// search_path holds a table of the protected table's name whose id and
// grp are text: an unqualified name means that table to PostgreSQL, the
// protected one to the planner (by its name). Never text ordered as
// numbers: the plaintext's answer, a refusal, or an error.
func TestRedTeam27NativeShadowedTable(t *testing.T) {
	t.Parallel()
	f, via := rt27ShadowedTable(t)
	var got [4]int // same, refused, failed otherwise
	for _, q := range rt27ShadowedQueries {
		for _, mode := range bothModes {
			want, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, 0)
			if err != nil {
				t.Fatal(err)
			}
			out, err := rowsRaw(t, via, f.sql(q, 1), mode, 0)
			var pe *pgconn.PgError
			switch {
			case err != nil && errors.As(err, &pe) && pe.Code == "0A000":
				got[1]++
			case err != nil:
				got[2]++
			case out != want:
				t.Errorf("%s (%v): through phiguard\n%s\ndirectly\n%s", q, mode, out, want)
			default:
				got[0]++
			}
		}
	}
	t.Logf("%d the plaintext's answer, %d refused (0A000), %d failed with another error", got[0], got[1], got[2])
}

// TestRedTeam27NativeShadowedTableRefused: the statements of
// TestRedTeam27NativeShadowedTable are refused (0A000). They failed
// with PostgreSQL's error about phiguard's hidden text (42883 from
// int8pl, 42804 from red team 27's first COALESCE: 10 of 10), where
// before native keys (90a1318^) all 15 executions (both protocols,
// text and binary results) were refused: the planner takes an
// unqualified name for the protected table whatever search_path says,
// and the catalog's integer type for its column, and the database
// failed the key at parse analysis. The key's guard now checks its
// type as the statement runs (sqlrewrite/sort_native.go).
func TestRedTeam27NativeShadowedTableRefused(t *testing.T) {
	t.Parallel()
	f, via := rt27ShadowedTable(t)
	for _, q := range rt27ShadowedQueries {
		sameOrRefused(t, &sortFixture{people: f.people, addresses: f.addresses, dir: f.dir, via: via}, q, "a table of that name in a schema before public")
	}
}

// rt27ShadowedQueries read the people table unqualified.
var rt27ShadowedQueries = []string{
	`SELECT id, name FROM %[1]s ORDER BY name, grp, born, id`,
	`SELECT id, name FROM %[1]s ORDER BY name, id DESC`,
	`SELECT id FROM %[1]s WHERE name <> 'Adams' ORDER BY id`,
	`SELECT id FROM %[1]s WHERE name <> 'Adams' ORDER BY grp, born, id LIMIT 5`,
	`SELECT p.id, p.name FROM %[1]s p ORDER BY p.name, p.grp DESC, p.born, p.id`,
}

// rt27ShadowedTable is the sort fixture with a schema, first in both
// sessions' search_path, holding plaintext tables of the people tables'
// names (id and grp text), and a session through phiguard whose catalog
// lists them.
func rt27ShadowedTable(t *testing.T) (*sortFixture, *pgx.Conn) {
	f, _ := newRT27Fixture(t, 60)
	ctx := testContext(t)
	schema := uniqueName("rt27tables")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, table := range f.people {
		if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE TABLE %[1]s.%[2]s (id text, name text, born date, score numeric, tag text, grp text);
INSERT INTO %[1]s.%[2]s SELECT (i * 7)::text, (ARRAY['Smith', 'Adams', NULL])[1 + i %% 3], DATE '2000-01-01' + i %% 5, i %% 4, 't' || i %% 2, (i * 3)::text FROM generate_series(1, 40) i;
GRANT ALL ON %[1]s.%[2]s TO %[3]s`, schema, table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	via := f.p.app(t) // a catalog listing the new tables
	for _, conn := range []*pgx.Conn{f.dir, via} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, public", schema)); err != nil {
			t.Fatal(err)
		}
	}
	return f, via
}

// TestRedTeam27DateFastPath: an encrypted date column holding dates the
// fast path reads (years 1 to 9999, 29 February) and ones it leaves to
// the decoder (BC, the infinities, five-digit years), sorted, compared
// and shown under every DateStyle, in both protocols and result formats:
// the plaintext's answers.
func TestRedTeam27DateFastPath(t *testing.T) {
	t.Parallel()
	f, _ := newRT27Fixture(t, 40)
	ctx := testContext(t)
	dates := []string{"0001-01-01", "0001-01-01 BC", "0044-03-15 BC", "4713-01-01 BC", "9999-12-31", "10000-01-01", "294276-12-31",
		"infinity", "-infinity", "2000-02-29", "1900-02-28", "2024-12-31", "0999-12-31", "1000-01-01", "1582-10-10"}
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		for i, d := range dates {
			if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, name, born, grp) VALUES ($1, $2, $3, $4)", f.people[side]),
				1000+i, []string{"Smith", "Adams"}[i%2], d, i%3); err != nil {
				t.Fatal(err)
			}
		}
	}
	var total rt27Outcome
	for _, style := range []string{"ISO, MDY", "ISO, DMY", "SQL, DMY", "SQL, MDY", "German", "Postgres, DMY", "Postgres, YMD"} {
		via := f.p.app(t)
		for _, conn := range []*pgx.Conn{f.dir, via} {
			if _, err := conn.Exec(ctx, "SET DateStyle = '"+style+"'"); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range []string{
			`SELECT id, born FROM %[1]s ORDER BY born, id`,
			`SELECT id, born, name FROM %[1]s ORDER BY born DESC NULLS LAST, name, id LIMIT 20`,
			`SELECT born FROM %[1]s WHERE born < '0100-01-01' OR born > '9000-01-01' ORDER BY born DESC, id`,
			`SELECT min(born), max(born) FROM %[1]s`,
			`SELECT DISTINCT born FROM %[1]s WHERE id >= 1000 ORDER BY born`,
		} {
			total.add(rt27Same(t, f, via, q))
		}
	}
	t.Logf("executions: %d the plaintext's answer, %d refused, %d failing as directly", total.same, total.refused, total.bothFailed)
}

// TestRedTeam27NativeRoundsStale: a statement in rounds (its native key
// after the order-term key, a second round needed) whose key's column
// another session changes to text: refused (0A000 naming the key) or
// the plaintext's answer, in both protocols, with the session going on
// (no hang in the middle of its rounds).
func TestRedTeam27NativeRoundsStale(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 300, 240)
	ctx := testContext(t)
	const q = "SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY name, grp DESC, born, id LIMIT 12"
	for _, mode := range bothModes {
		if !f.sameRaw(t, q, mode) {
			t.Fatalf("%v: before the change", mode)
		}
	}
	for _, table := range []string{f.plain, f.enc} {
		if _, err := superuser(t).Exec(ctx, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN grp TYPE text USING (grp * 7)::text", table)); err != nil {
			t.Fatal(err)
		}
	}
	refused := 0
	for range 2 {
		for _, mode := range bothModes {
			want, werr := rowsRaw(t, f.dir, fmt.Sprintf(q, f.plain), mode, 0)
			got, gerr := rowsRaw(t, f.via, fmt.Sprintf(q, f.enc), mode, 0)
			var pe *pgconn.PgError
			switch {
			case werr != nil:
				t.Fatalf("%v directly: %v", mode, werr)
			case gerr != nil && errors.As(gerr, &pe) && pe.Code == "0A000" && strings.Contains(pe.Message, "grp as its value"):
				refused++
			case gerr != nil:
				t.Errorf("%v: through phiguard %v", mode, gerr)
			case got != want:
				t.Errorf("%v: through phiguard\n%s\ndirectly\n%s", mode, got, want)
			}
		}
	}
	if _, err := f.via.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	t.Logf("after the change: %d of 4 executions refused, the others the plaintext's answers", refused)
}
