package integration

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Red team of two changes: a round's k computed in Go for literal LIMIT
// and OFFSET (sqlrewrite/sort_rounds.go constantCount), and the WHERE
// gate's exact lookups for parameters, widened back to the pg_operator
// scan when a Parse declares a parameter another type (guard/sorted_gate.go).

// TestRedTeam30bRoundLimitLiterals: LIMIT, OFFSET and FETCH FIRST written
// in every form phiguard might misread (leading zeros, comments between
// the keyword and the number, FETCH without a count, OFFSET alone, 15
// and 16 digits, an int8 literal, parentheses, casts, arithmetic, a
// quoted number, a decimal PostgreSQL rounds, a negative one) give the
// plaintext twin's answer (or its error) in both protocols, for rounds
// through an order term (inexact and exact candidates) and plain rounds.
func TestRedTeam30bRoundLimitLiterals(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 300, 40)
	heads := []string{
		"SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY name, id",                               // term rounds, inexact
		"SELECT id, born FROM %s WHERE born BETWEEN '1951-01-01' AND '1953-06-01' ORDER BY born DESC, id",      // exact candidates
		"SELECT id, name FROM %s ORDER BY name DESC NULLS LAST, id",                                            // no WHERE: exact
		"SELECT id, grp FROM %s WHERE name >= 'M' ORDER BY grp DESC, id",                                       // plain rounds
		"SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' AND born <= '1954-01-01' ORDER BY name DESC, id", // two filters
	}
	tails := []string{
		" LIMIT 010", " LIMIT 0010 OFFSET 0003", " LIMIT 0", " LIMIT 00", " LIMIT 1", " LIMIT 7 OFFSET 0",
		" OFFSET 13 LIMIT 4", " LIMIT 4 OFFSET 13", " LIMIT /* 2 */ 9", " LIMIT 9 -- 2\n", " LIMIT 9 /* 2 */ OFFSET /* 3 */ 2",
		" OFFSET 5 ROWS FETCH FIRST 3 ROWS ONLY", " FETCH NEXT ROW ONLY", " FETCH FIRST 2 ROW ONLY", " OFFSET 290", " OFFSET 3 ROWS",
		" LIMIT ALL", " LIMIT ALL OFFSET 2", " LIMIT NULL", " LIMIT 999999999999999", " LIMIT 9999999999999999",
		" LIMIT 5 OFFSET 999999999999999", " LIMIT 2 OFFSET 9999999999999999", " LIMIT 2147483648", " LIMIT 9223372036854775807",
		" LIMIT 9223372036854775808", " LIMIT (5)", " LIMIT 5::int8", " LIMIT 3+2", " LIMIT '5'", " LIMIT 5 OFFSET '3'",
		" LIMIT 5.5", " FETCH FIRST 5.5 ROWS ONLY", " LIMIT -1", " LIMIT 3 OFFSET -1", " LIMIT - 3", " LIMIT +3",
		" FETCH FIRST (4) ROWS ONLY", " FETCH FIRST +4 ROWS ONLY", " OFFSET 2 ROWS FETCH FIRST 3 ROWS WITH TIES",
	}
	refused, ran := 0, 0
	for _, h := range heads {
		for _, tail := range tails {
			for _, mode := range bothModes {
				q := h + tail
				want, werr := rowsRaw(t, f.dir, fmt.Sprintf(q, f.plain), mode, pgx.TextFormatCode)
				got, gerr := rowsRaw(t, f.via, fmt.Sprintf(q, f.enc), mode, pgx.TextFormatCode)
				var wp, gp *pgconn.PgError
				switch {
				case errors.As(gerr, &gp) && gp.Code == "0A000" && werr == nil:
					refused++ // a LIMIT that is an expression, a client's WITH TIES
				case werr != nil || gerr != nil:
					if !errors.As(werr, &wp) || !errors.As(gerr, &gp) || wp.Code != gp.Code {
						t.Errorf("%s (%v): through phiguard %v, directly %v", q, mode, gerr, werr)
					}
				case got != want:
					t.Errorf("%s (%v): through phiguard\n%s\ndirectly\n%s", q, mode, got, want)
				default:
					ran++
				}
			}
		}
	}
	t.Logf("%d statements, 2 protocols: %d answered as the plaintext, %d refused", len(heads)*len(tails), ran, refused)
	if ran < len(heads)*len(tails) {
		t.Errorf("only %d answered", ran)
	}
	// The constant k is what the statement sends: LIMIT 010 on a WHERE
	// that drops rows is ⌈1.25·10⌉ + 16 = 29 in the first round.
	f.relay.take()
	f.sameRaw(t, heads[0]+" LIMIT 010", pgx.QueryExecModeSimpleProtocol)
	if sent := f.relay.take(); !bytes.Contains(sent, []byte("FETCH FIRST CAST(29 AS pg_catalog.int8) ROWS WITH TIES")) {
		t.Errorf("LIMIT 010 was not sent as k = 29: %q", sent)
	}
}

// redTeam30bOperators are user operators on (text, varchar) that
// answer the opposite of pg_catalog's (text, text) ones: PostgreSQL calls
// them for `name op $1` when $1 is declared varchar and search_path
// holds the schema, pg_catalog's for $1 undeclared, unknown or text.
const redTeam30bOperators = `CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.rt30b_gt(text, varchar) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 OPERATOR(pg_catalog.<=) $2::text $$;
CREATE FUNCTION %[1]s.rt30b_lt(text, varchar) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 OPERATOR(pg_catalog.>=) $2::text $$;
CREATE FUNCTION %[1]s.rt30b_like(text, varchar) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 OPERATOR(pg_catalog.!~~) $2::text $$;
CREATE FUNCTION %[1]s.rt30b_ilike(text, varchar) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 OPERATOR(pg_catalog.!~~*) $2::text $$;
CREATE OPERATOR %[1]s.> (LEFTARG = text, RIGHTARG = varchar, FUNCTION = %[1]s.rt30b_gt);
CREATE OPERATOR %[1]s.>= (LEFTARG = text, RIGHTARG = varchar, FUNCTION = %[1]s.rt30b_gt);
CREATE OPERATOR %[1]s.< (LEFTARG = text, RIGHTARG = varchar, FUNCTION = %[1]s.rt30b_lt);
CREATE OPERATOR %[1]s.<= (LEFTARG = text, RIGHTARG = varchar, FUNCTION = %[1]s.rt30b_lt);
CREATE OPERATOR %[1]s.~~ (LEFTARG = text, RIGHTARG = varchar, FUNCTION = %[1]s.rt30b_like);
CREATE OPERATOR %[1]s.~~* (LEFTARG = text, RIGHTARG = varchar, FUNCTION = %[1]s.rt30b_ilike)`

// redTeam30bShadow creates the operators and puts their schema first in
// search_path on both connections.
func redTeam30bShadow(t *testing.T, conns ...*pgx.Conn) {
	t.Helper()
	ctx := testContext(t)
	schema := uniqueName("rt30b")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(redTeam30bOperators, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range conns {
		if _, err := conn.Exec(ctx, "SET search_path = "+schema+", public"); err != nil {
			t.Fatal(err)
		}
	}
}

// paramRun runs q (%[1]s the table) with text parameters declared oids,
// unnamed, and gives its rows or error.
func paramRun(t *testing.T, conn *pgconn.PgConn, q, table string, vals []string, oids []uint32) (string, error) {
	t.Helper()
	params := make([][]byte, len(vals))
	for i, v := range vals {
		params[i] = []byte(v)
	}
	res := conn.ExecParams(testContext(t), fmt.Sprintf(q, table), params, oids, nil, nil).Read()
	if res.Err != nil {
		return "", res.Err
	}
	var b strings.Builder
	for _, r := range res.Rows {
		fmt.Fprintf(&b, "%s,", bytes.Join(r, []byte("|")))
	}
	return b.String(), nil
}

// declaredParamCase is one statement whose parameters are declared
// oids: phiguard must answer as the plaintext twin, or refuse (0A000).
type declaredParamCase struct {
	q    string
	vals []string
	oids []uint32
}

// checkDeclared runs each case both ways: the same rows (or the same
// error code), or 0A000 through phiguard; it returns how many phiguard
// refused and how many answered a non-empty answer as the plaintext.
func checkDeclared(t *testing.T, tw *twin, cases []declaredParamCase) (refused, answered int) {
	t.Helper()
	for _, c := range cases {
		want, werr := paramRun(t, tw.dir.PgConn(), c.q, tw.plain, c.vals, c.oids)
		got, gerr := paramRun(t, tw.via.PgConn(), c.q, tw.enc, c.vals, c.oids)
		var gp, wp *pgconn.PgError
		switch {
		case errors.As(gerr, &gp) && gp.Code == "0A000":
			refused++
			t.Logf("refused: %s declared %v: %s", c.q, c.oids, gp.Message)
		case werr != nil || gerr != nil:
			if !errors.As(werr, &wp) || !errors.As(gerr, &gp) || wp.Code != gp.Code {
				t.Errorf("%s %v declared %v: through phiguard %v, directly %v", c.q, c.vals, c.oids, gerr, werr)
			}
		case got != want:
			t.Errorf("%s %v declared %v: through phiguard\n%s\ndirectly\n%s", c.q, c.vals, c.oids, got, want)
		case want != "":
			answered++
		}
	}
	return refused, answered
}

// TestRedTeam30bDeclaredParamShapes: the parameter of a proxy-side
// filter declared varchar makes PostgreSQL call the schema's operator
// on (text, varchar); phiguard must then refuse in every shape that
// carries the gate (rounds through an order term, plain rounds, a
// subquery's WHERE, under OR and NOT, BETWEEN, lower(), two parameters
// one of which is declared, a pipeline of two Parses of one text), and
// answer as the plaintext when $1 is undeclared, declared unknown (705)
// or text.
func TestRedTeam30bDeclaredParamShapes(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 200, 0)
	redTeam30bShadow(t, f.dir, f.via)
	shapes := []struct {
		q    string
		vals []string
	}{
		{"SELECT id FROM %[1]s WHERE name > $1 ORDER BY name, id LIMIT 5", []string{"M"}},
		{"SELECT id FROM %[1]s WHERE name > $1 ORDER BY grp, id LIMIT 5", []string{"M"}},
		{"SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.id FROM %[1]s s WHERE s.name > $1) ORDER BY o.id", []string{"M"}},
		{"SELECT id FROM %[1]s WHERE name > $1 OR grp = 2 ORDER BY id", []string{"M"}},
		{"SELECT id FROM %[1]s WHERE NOT (name > $1) ORDER BY id", []string{"M"}},
		{"SELECT id FROM %[1]s WHERE name BETWEEN $1 AND 'zzz' ORDER BY id", []string{"M"}},
		{"SELECT id FROM %[1]s WHERE lower(name) > $1 ORDER BY id", []string{"m"}},
		{"SELECT id FROM %[1]s WHERE name >= $1 AND name <= $1 ORDER BY id", []string{"Smith"}},
		{"SELECT id FROM %[1]s WHERE name ILIKE $1 ORDER BY id", []string{"s%"}},
		{"SELECT id FROM %[1]s WHERE name LIKE $1 ORDER BY name, id LIMIT 3", []string{"S%"}},
	}
	var cases []declaredParamCase
	for _, s := range shapes {
		for _, oid := range []uint32{0, 705, 25, 1043} {
			cases = append(cases, declaredParamCase{s.q, s.vals, []uint32{oid}})
		}
	}
	two := "SELECT id FROM %[1]s WHERE name > $1 AND name < $2 ORDER BY id"
	cases = append(cases, declaredParamCase{two, []string{"B", "T"}, []uint32{25, 1043}},
		declaredParamCase{two, []string{"B", "T"}, []uint32{1043, 0}})
	refused, answered := checkDeclared(t, &f.twin, cases)
	t.Logf("%d cases: %d refused, %d answered as the plaintext", len(cases), refused, answered)
	if answered != len(cases)-len(shapes)-2 || refused != len(shapes)+2 {
		t.Errorf("%d answered, %d refused: want every case with a parameter declared varchar refused (%d), every other answered", answered, refused, len(shapes)+2)
	}
	// A pipeline: one text parsed twice (unnamed), undeclared then
	// declared varchar, then synced once.
	const q = "SELECT id FROM %s WHERE name > $1 ORDER BY name, id LIMIT 5"
	var res [2][]string
	for side, conn := range []*pgconn.PgConn{f.dir.PgConn(), f.via.PgConn()} {
		table := []string{f.plain, f.enc}[side]
		p := conn.StartPipeline(testContext(t))
		p.SendQueryParams(fmt.Sprintf(q, table), [][]byte{[]byte("M")}, []uint32{0}, nil, nil)
		p.SendQueryParams(fmt.Sprintf(q, table), [][]byte{[]byte("M")}, []uint32{1043}, nil, nil)
		if err := p.Sync(); err != nil {
			t.Fatal(err)
		}
		for {
			r, err := p.GetResults()
			if err != nil {
				var pe *pgconn.PgError
				if errors.As(err, &pe) {
					res[side] = append(res[side], "error "+pe.Code)
					continue
				}
				t.Fatal(err)
			}
			if r == nil {
				break
			}
			if rr, ok := r.(*pgconn.ResultReader); ok {
				out := rr.Read()
				if out.Err != nil {
					var pe *pgconn.PgError
					errors.As(out.Err, &pe)
					res[side] = append(res[side], "error "+pe.Code)
					continue
				}
				res[side] = append(res[side], fmt.Sprint(out.Rows))
			}
			if _, ok := r.(*pgconn.PipelineSync); ok {
				break
			}
		}
		if err := p.Close(); err != nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) {
				t.Fatal(err)
			}
		}
	}
	if len(res[1]) == 0 || len(res[0]) == 0 || res[1][0] != res[0][0] {
		t.Errorf("pipeline: through phiguard %v, directly %v", res[1], res[0])
	}
	if len(res[1]) > 1 && res[1][1] != "error 0A000" && res[1][1] != res[0][1] {
		t.Errorf("pipeline, declared varchar: through phiguard %v, directly %v", res[1], res[0])
	}
}

// TestRedTeam30bLikeVariantDeclared: a LIKE on a column with match
// terms runs, from its Bind, a variant of the statement holding the
// pattern's terms (guard/protect_search_variants.go), whose text is
// written again at the Bind: declared varchar, its gate must be widened
// as the statement's own was, and phiguard refuse; undeclared, unknown
// or text, answer as the plaintext.
func TestRedTeam30bLikeVariantDeclared(t *testing.T) {
	t.Parallel()
	tw, _, _ := newMatchFixture(t, 150)
	redTeam30bShadow(t, tw.dir, tw.via)
	var cases []declaredParamCase
	for _, q := range []string{
		"SELECT id FROM %[1]s WHERE last LIKE $1 ORDER BY id",
		"SELECT id FROM %[1]s WHERE note ILIKE $1 ORDER BY id",
		"SELECT id FROM %[1]s WHERE last LIKE $1 AND note LIKE $2 ORDER BY id",
	} {
		for _, oid := range []uint32{0, 705, 25, 1043} {
			cases = append(cases, declaredParamCase{q, []string{"Sm%", "%"}[:strings.Count(q, "$")], []uint32{oid, 25}[:strings.Count(q, "$")]})
			cases = append(cases, declaredParamCase{q, []string{"%lee%", "%"}[:strings.Count(q, "$")], []uint32{25, oid}[:strings.Count(q, "$")]})
		}
	}
	refused, answered := checkDeclared(t, tw, cases)
	t.Logf("%d cases: %d refused, %d answered as the plaintext", len(cases), refused, answered)
	if answered == 0 {
		t.Error("no case answered")
	}
}

// TestRedTeam30bTempTypeShadow: a cast's unqualified type name (text,
// date: not grammar keywords) resolves through search_path, where pg_temp
// is searched for types before pg_catalog even when search_path does not
// name it: a session's CREATE DOMAIN pg_temp.text AS varchar makes
// `'M'::text` and `$1::text` that domain, and with the schema's
// > (text, varchar) visible PostgreSQL calls it. The gate's exact lookup
// of > (text, text) found pg_catalog's, and phiguard answered 60 rows
// where the plaintext answered 44 (3d92541 made `$1::text` exact, as
// 2958915 had `'M'::text`). Found on 3d92541; main now checks the name
// with to_regtype (review30's fix, planner_shadow_exact.go) and refuses.
// Without the domain, every case answers as the plaintext.
func TestRedTeam30bTempTypeShadow(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 120, 0)
	redTeam30bShadow(t, f.dir, f.via)
	cases := []declaredParamCase{
		{"SELECT id FROM %[1]s WHERE name > $1::text ORDER BY id", []string{"M"}, []uint32{0}},
		{"SELECT id FROM %[1]s WHERE name > 'M'::text AND grp >= $1::int ORDER BY id", []string{"0"}, []uint32{0}},
		{"SELECT id FROM %[1]s WHERE name > $1::text ORDER BY name, id LIMIT 5", []string{"M"}, []uint32{0}},
		{"SELECT id FROM %[1]s WHERE name > lower($1::text) ORDER BY id", []string{"m"}, []uint32{0}},
		{"SELECT id FROM %[1]s WHERE name > $1::text ORDER BY id", []string{"M"}, []uint32{25}},
	}
	tempTypeCases(t, &f.twin, "CREATE DOMAIN pg_temp.text AS pg_catalog.varchar", cases,
		[]string{"SELECT id FROM %s WHERE name > 'M'::text ORDER BY id", "SELECT id FROM %s WHERE name > 'M'::text ORDER BY name, id LIMIT 4"})
}

// TestRedTeam30bTempTypeNoOperator: the same shadowing with no operator
// of the user's, which no operator check sees: a domain over varchar(5)
// truncates the constant the plaintext compares ('Smithxyz'::text is
// 'Smith': 5 rows, none through phiguard before), or fails (22001) where
// phiguard answered; pg_temp.date with a CHECK fails where phiguard
// answered.
func TestRedTeam30bTempTypeNoOperator(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 120, 0)
	cases := []declaredParamCase{
		{"SELECT id FROM %[1]s WHERE name = $1::text ORDER BY id", []string{"Smithxyz"}, []uint32{0}},
		{"SELECT id FROM %[1]s WHERE name >= $1::text ORDER BY id", []string{"Smithxyz"}, []uint32{0}},
		{"SELECT id FROM %[1]s WHERE name = 'Smithxyz'::text AND grp >= $1::int ORDER BY id", []string{"0"}, []uint32{0}},
	}
	tempTypeCases(t, &f.twin, "CREATE DOMAIN pg_temp.text AS pg_catalog.varchar(5)", cases,
		[]string{"SELECT id FROM %s WHERE name = 'Smithxyz'::text ORDER BY id", "SELECT id FROM %s WHERE name LIKE 'Smith%%'::text ORDER BY name, id LIMIT 3"})
	dates := []declaredParamCase{
		{"SELECT id FROM %[1]s WHERE born < $1::date ORDER BY id", []string{"1953-01-01"}, []uint32{0}},
		{"SELECT id FROM %[1]s WHERE born BETWEEN '1950-01-01'::date AND $1 ORDER BY born, id LIMIT 4", []string{"1953-01-01"}, []uint32{0}},
	}
	tempTypeCases(t, &f.twin, "CREATE DOMAIN pg_temp.date AS pg_catalog.date CHECK (VALUE > '1960-01-01')", dates,
		[]string{"SELECT id FROM %s WHERE born < '1953-01-01'::date ORDER BY id"})
}

// tempTypeCases creates a type in pg_temp on both sides (domain), then
// wants every case (parameters, then queries in both protocols) refused
// (0A000) through phiguard, then drops it and wants each answered as the
// plaintext.
func tempTypeCases(t *testing.T, tw *twin, domain string, cases []declaredParamCase, queries []string) {
	t.Helper()
	ctx := testContext(t)
	for _, q := range queries {
		for _, mode := range bothModes {
			cases = append(cases, declaredParamCase{q: q, oids: []uint32{uint32(mode)}})
		}
	}
	run := func() (refused, answered int) {
		for _, c := range cases {
			var want, got string
			var werr, gerr error
			if c.vals == nil {
				mode := pgx.QueryExecMode(c.oids[0])
				want, werr = rowsRaw(t, tw.dir, fmt.Sprintf(c.q, tw.plain), mode, pgx.TextFormatCode)
				got, gerr = rowsRaw(t, tw.via, fmt.Sprintf(c.q, tw.enc), mode, pgx.TextFormatCode)
			} else {
				want, werr = paramRun(t, tw.dir.PgConn(), c.q, tw.plain, c.vals, c.oids)
				got, gerr = paramRun(t, tw.via.PgConn(), c.q, tw.enc, c.vals, c.oids)
			}
			var gp, wp *pgconn.PgError
			switch {
			case errors.As(gerr, &gp) && gp.Code == "0A000":
				refused++
			case werr != nil || gerr != nil:
				if !errors.As(werr, &wp) || !errors.As(gerr, &gp) || wp.Code != gp.Code {
					t.Errorf("%s %v: through phiguard %v, directly %v", c.q, c.vals, gerr, werr)
				}
			case got != want:
				t.Errorf("%s %v: through phiguard\n%s\ndirectly\n%s", c.q, c.vals, got, want)
			default:
				answered++
			}
		}
		return refused, answered
	}
	for _, conn := range []*pgx.Conn{tw.dir, tw.via} {
		if _, err := conn.Exec(ctx, domain); err != nil {
			t.Fatal(err)
		}
	}
	if refused, _ := run(); refused != len(cases) {
		t.Errorf("%s: %d of %d cases refused, want all", domain, refused, len(cases))
	}
	for _, conn := range []*pgx.Conn{tw.dir, tw.via} {
		if _, err := conn.Exec(ctx, "DROP DOMAIN "+strings.Fields(domain)[2]); err != nil {
			t.Fatal(err)
		}
		if err := conn.DeallocateAll(ctx); err != nil { // pgx's cached statements name the dropped type
			t.Fatal(err)
		}
	}
	if refused, answered := run(); refused != 0 || answered != len(cases) {
		t.Errorf("%s dropped: %d refused, %d of %d answered as the plaintext, want all", domain, refused, answered, len(cases))
	}
}

// TestRedTeam30bTempTypeSealedConstant: the same pg_temp shadowing of
// text for a constant phiguard seals for the database (a deterministic
// column's =, <> and IN, compared on cells): the plaintext compares the
// domain's truncated value ('t1x'::text is 't1': 8 rows, none through
// phiguard on 3d92541); the operator check (sqlrewrite.OperatorGuard,
// operator_guard.go) looks the name up too on main.
func TestRedTeam30bTempTypeSealedConstant(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	tw := &twin{plain: f.people[0], enc: f.people[1], via: f.via, dir: f.dir}
	cases := []declaredParamCase{
		{"SELECT id FROM %[1]s WHERE tag = 't1x'::text AND grp >= $1::int ORDER BY id", []string{"0"}, []uint32{0}},
		{"SELECT count(*) FROM %[1]s WHERE tag = 't1x'::text AND grp >= $1::int", []string{"0"}, []uint32{0}},
	}
	tempTypeCases(t, tw, "CREATE DOMAIN pg_temp.text AS pg_catalog.varchar(2)", cases, []string{
		"SELECT id FROM %s WHERE tag = 't1x'::text ORDER BY id",
		"SELECT id FROM %s WHERE tag IN ('t1x'::text, 't3') ORDER BY id",
		"SELECT id FROM %s WHERE tag <> 't1x'::text ORDER BY id",
	})
}

// TestRedTeam30bShadowedPrefixMinus: a minus sign PostgreSQL does not
// fold into the constant (above a cast: -5::numeric is -(5::numeric))
// is the prefix operator -, which a schema listed before pg_catalog can
// hold for numeric: the plaintext calls it, phiguard negated (all 3
// cases: 24 rows through phiguard, none directly), as neither the exact
// lookups nor the pg_operator scan looked for prefix operators on
// 3d92541; main's gate checks the prefix operator (review30's fix).
func TestRedTeam30bShadowedPrefixMinus(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	schema := uniqueName("rt30bneg")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.rt30b_neg(numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT $1 OPERATOR(pg_catalog.+) 1000 $$;
CREATE OPERATOR %[1]s.- (RIGHTARG = numeric, FUNCTION = %[1]s.rt30b_neg)`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, "SET search_path = "+schema+", pg_catalog, public"); err != nil {
			t.Fatal(err)
		}
	}
	tw := &twin{plain: f.people[0], enc: f.people[1], via: f.via, dir: f.dir}
	cases := []declaredParamCase{
		{"SELECT id FROM %[1]s WHERE score > -5::numeric AND grp >= $1::int ORDER BY id", []string{"0"}, []uint32{0}},
		{"SELECT id FROM %[1]s WHERE score > -$1::numeric ORDER BY id", []string{"5"}, []uint32{0}},
		{"SELECT id FROM %[1]s WHERE score > -'5'::numeric AND grp >= $1::int ORDER BY id", []string{"0"}, []uint32{0}},
	}
	refused, answered := checkDeclared(t, tw, cases)
	t.Logf("%d cases: %d refused, %d answered as the plaintext", len(cases), refused, answered)
	if refused != len(cases) {
		t.Errorf("%d of %d cases refused, want all", refused, len(cases))
	}
	// pg_catalog first again: the same statements answer as the plaintext.
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, "SET search_path = public, "+schema); err != nil {
			t.Fatal(err)
		}
	}
	if refused, answered := checkDeclared(t, tw, cases); refused != 0 || answered != len(cases) {
		t.Errorf("pg_catalog first: %d refused, %d of %d answered as the plaintext", refused, answered, len(cases))
	}
}

// TestRedTeam30bSealedPrefixMinus: an unfolded minus on a constant
// phiguard would seal for a comparison on cells (a deterministic
// bigint's =), with a schema's - (int8) before pg_catalog: held, as a
// computed value is refused there (both cases 0A000).
func TestRedTeam30bSealedPrefixMinus(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt30bdneg", twinColumn{"id", "int", ""}, twinColumn{"mrn", "bigint", "{mode: deterministic, key: rt30b-mrn, type: bigint}"})
	ctx := testContext(t)
	for i := 1; i <= 20; i++ {
		tw.exec(t, "INSERT INTO %s VALUES ("+fmt.Sprint(i)+", "+fmt.Sprint(-(i%5))+")", pgx.QueryExecModeSimpleProtocol)
	}
	schema := uniqueName("rt30bdneg")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.rt30b_neg(int8) RETURNS int8 LANGUAGE sql IMMUTABLE AS $$ SELECT $1 OPERATOR(pg_catalog.-) 1 $$;
CREATE OPERATOR %[1]s.- (RIGHTARG = int8, FUNCTION = %[1]s.rt30b_neg)`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*pgx.Conn{tw.dir, tw.via} {
		if _, err := conn.Exec(ctx, "SET search_path = "+schema+", pg_catalog, public"); err != nil {
			t.Fatal(err)
		}
	}
	cases := []declaredParamCase{
		{"SELECT id FROM %[1]s WHERE mrn = -2::int8 AND id >= $1::int ORDER BY id", []string{"0"}, []uint32{0}},
		{"SELECT id FROM %[1]s WHERE mrn = -$1::int8 ORDER BY id", []string{"2"}, []uint32{0}},
	}
	refused, answered := checkDeclared(t, tw, cases)
	t.Logf("%d cases: %d refused, %d answered as the plaintext", len(cases), refused, answered)
}
