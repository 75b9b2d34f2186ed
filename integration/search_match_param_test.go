package integration

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// LIKE and ILIKE whose pattern is a parameter (design §4.6, "Prepared
// statements"): each Bind runs the variant its patterns need, prepared
// by phiguard under its own name the first time.

// TestMatchTermVariants: prepared statements with one and two LIKE
// conjuncts whose patterns (and ESCAPE) are parameters, executed with
// generated patterns as text and binary values, named (past PostgreSQL's
// switch to a generic plan) and unnamed: the plaintext twin's answers,
// variants prepared and their term conjuncts sent, no pattern sent.
func TestMatchTermVariants(t *testing.T) {
	t.Parallel()
	tw, relay, _ := newMatchFixture(t, 150)
	ctx := testContext(t)
	r := rand.New(rand.NewPCG(62, 2026))
	stmts := []struct {
		q       string
		oids    []uint32
		escapes bool
	}{
		{"SELECT id FROM %s WHERE last ILIKE $1 ORDER BY id", []uint32{25}, false},
		{"SELECT id FROM %s WHERE note LIKE $1 AND grp < 3 ORDER BY id", []uint32{25}, false},
		{"SELECT id FROM %s WHERE last LIKE $1 AND code ILIKE $2 ORDER BY id", []uint32{25, 25}, false},
		{"SELECT id FROM %s WHERE grp <> $3 AND last ILIKE $1 ESCAPE $2 ORDER BY id", []uint32{25, 25, 23}, true},
	}
	for i, st := range stmts {
		if _, err := tw.via.Prepare(ctx, fmt.Sprintf("lk%d", i), fmt.Sprintf(st.q, tw.enc)); err != nil {
			t.Fatalf("%s: %v", st.q, err)
		}
	}
	execs, withRows := 0, 0
	for round := range 60 {
		i := round % len(stmts)
		st := stmts[i]
		var vals [][]byte
		p, esc := genPatternFrom(r, matchValues[r.IntN(len(matchValues))])
		if !st.escapes && esc == "#" {
			p, esc = strings.ReplaceAll(p, "#", `\`), ""
		}
		vals = append(vals, []byte(p))
		switch {
		case st.escapes:
			vals = append(vals, []byte(esc), []byte("1"))
		case len(st.oids) == 2:
			p2, _ := genPatternFrom(r, matchValues[r.IntN(len(matchValues))])
			vals = append(vals, []byte(strings.ReplaceAll(p2, "#", `\`)))
		}
		format := int16(round / len(stmts) % 2)
		formats := make([]int16, len(vals))
		for k := range formats {
			formats[k] = format
		}
		if st.escapes && format == 1 {
			vals[2] = []byte{0, 0, 0, 1}
		}
		var got [2]string
		for side, conn := range []*pgx.Conn{tw.dir, tw.via} {
			var res *pgconn.ResultReader
			switch {
			case side == 0:
				res = conn.PgConn().ExecParams(ctx, fmt.Sprintf(st.q, tw.plain), vals, st.oids, formats, nil)
			case round%3 == 2: // the unnamed statement
				res = conn.PgConn().ExecParams(ctx, fmt.Sprintf(st.q, tw.enc), vals, st.oids, formats, nil)
			default:
				res = conn.PgConn().ExecPrepared(ctx, fmt.Sprintf("lk%d", i), vals, formats, nil)
			}
			rr := res.Read()
			if rr.Err != nil {
				got[side] = "error " + rr.Err.Error()
			}
			for _, row := range rr.Rows {
				got[side] += string(row[0]) + ","
			}
		}
		execs++
		if got[0] != "" && !strings.HasPrefix(got[0], "error") {
			withRows++
		}
		if got[0] != got[1] {
			t.Errorf("%s %q (format %d, round %d): through phiguard %q, directly %q", st.q, vals, format, round, got[1], got[0])
		}
	}
	sent := relay.take()
	variants := bytes.Count(sent, []byte("phiguard_like_"))
	pre := bytes.Count(sent, []byte("phiguard.term_pre_v1(last) OPERATOR(pg_catalog.=) $"))
	match := bytes.Count(sent, []byte("OPERATOR(pg_catalog.@>) $"))
	t.Logf("%d executions: same answers, %d with rows; statement names of variants seen %d times, %d prefix and %d token conjuncts by parameter in the texts sent",
		execs, withRows, variants, pre, match)
	if withRows < execs/3 || variants < 10 || pre < 2 || match < 6 {
		t.Fatalf("too weak: %d with rows, %d variant names, %d prefix, %d token conjuncts", withRows, variants, pre, match)
	}
	for _, s := range []string{"Quelvarsen", "quelvarsen"} {
		if bytes.Contains(sent, []byte(s)) {
			t.Errorf("a pattern value reached the database: %q", s)
		}
	}
}

// TestMatchTermVariantLifecycle: a variant prepared for a named
// statement is closed with it (the name prepared again runs new
// variants), one whose Parse failed in an aborted transaction (the
// Bind's error is PostgreSQL's, 25P02) is prepared again after ROLLBACK,
// and so is one whose Parse PostgreSQL skipped after an earlier error in
// its pipeline.
func TestMatchTermVariantLifecycle(t *testing.T) {
	t.Parallel()
	tw, relay, _ := newMatchFixture(t, 60)
	ctx := testContext(t)
	q := "SELECT id FROM %s WHERE last ILIKE $1 ORDER BY id"
	want := func(p string) string {
		rows, err := tw.dir.Query(ctx, fmt.Sprintf(q, tw.plain), p)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(ids)
	}
	run := func(p string) (string, error) {
		rr := tw.via.PgConn().ExecPrepared(ctx, "lkc", [][]byte{[]byte(p)}, nil, nil).Read()
		var ids []string
		for _, row := range rr.Rows {
			ids = append(ids, string(row[0]))
		}
		return "[" + strings.Join(ids, " ") + "]", rr.Err
	}
	for round := range 2 {
		if _, err := tw.via.Prepare(ctx, "lkc", fmt.Sprintf(q, tw.enc)); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"smi%", "%LLER", "smith", "%ea%"} {
			if got, err := run(p); err != nil || got != want(p) {
				t.Errorf("round %d, %q: through phiguard %v %s, directly %s", round, p, err, got, want(p))
			}
		}
		variants := "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'phiguard_like_%'"
		if n := queryInt(t, tw.via, variants); n < 1 {
			t.Errorf("round %d: %d variants prepared in the backend", round, n)
		}
		if err := tw.via.Deallocate(ctx, "lkc"); err != nil {
			t.Fatal(err)
		}
		if n := queryInt(t, tw.via, variants); n != 0 {
			t.Errorf("round %d: %d variants left in the backend after the client closed its statement", round, n)
		}
	}
	sent := relay.take()
	if n := bytes.Count(sent, []byte("phiguard_like_")); n < 4 {
		t.Errorf("variant names seen %d times; want their Parse, Bind and Close in two rounds", n)
	}
	// An aborted transaction: the variant's Parse fails with the Bind's
	// error, and the statement runs after ROLLBACK.
	if _, err := tw.via.Prepare(ctx, "lkc", fmt.Sprintf(q, tw.enc)); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.via.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.via.Exec(ctx, "SELECT 1/0"); err == nil {
		t.Fatal("no error")
	}
	_, err := run("gle%")
	wantCode(t, err, "25P02", "")
	if _, err := tw.via.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"gle%", "gle%", "%son"} {
		if got, err := run(p); err != nil || got != want(p) {
			t.Errorf("after ROLLBACK, %q: through phiguard %v %s, directly %s", p, err, got, want(p))
		}
	}
	// A variant whose Parse PostgreSQL skipped after an earlier error in
	// the same pipeline is prepared again by the next Bind that needs it.
	if _, err := tw.via.Prepare(ctx, "lkd", fmt.Sprintf(q, tw.enc)); err != nil {
		t.Fatal(err)
	}
	batch := &pgconn.Batch{}
	batch.ExecParams("SELECT 1/$1::int", [][]byte{[]byte("0")}, nil, nil, nil)
	batch.ExecPrepared("lkd", [][]byte{[]byte("smi%")}, nil, nil)
	if _, err := tw.via.PgConn().ExecBatch(ctx, batch).ReadAll(); err == nil {
		t.Fatal("the pipeline did not fail")
	}
	// And in one pipeline of two segments: the second's Bind waits for the
	// answer to the first's variant Parse, which PostgreSQL skipped.
	if _, err := tw.via.Prepare(ctx, "lke", fmt.Sprintf(q, tw.enc)); err != nil {
		t.Fatal(err)
	}
	pl := tw.via.PgConn().StartPipeline(ctx)
	pl.SendQueryParams("SELECT 1/$1::int", [][]byte{[]byte("0")}, nil, nil, nil)
	pl.SendQueryPrepared("lke", [][]byte{[]byte("%ith")}, nil, nil)
	pl.SendPipelineSync()
	pl.SendQueryPrepared("lke", [][]byte{[]byte("%ith")}, nil, nil)
	pl.SendPipelineSync()
	if err := pl.Flush(); err != nil {
		t.Fatal(err)
	}
	var second string
	errs := 0
	for {
		res, err := pl.GetResults()
		if err != nil {
			errs++
			continue
		}
		if res == nil {
			break
		}
		if rr, ok := res.(*pgconn.ResultReader); ok {
			r := rr.Read()
			if r.Err != nil {
				errs++
				continue
			}
			var ids []string
			for _, row := range r.Rows {
				ids = append(ids, string(row[0]))
			}
			second = "[" + strings.Join(ids, " ") + "]"
		}
	}
	if err := pl.Close(); err != nil {
		t.Logf("pipeline close: %v", err)
	}
	if second != want("%ith") || errs != 1 {
		t.Errorf("pipeline: second segment %s (want %s), %d errors (want the division's only)", second, want("%ith"), errs)
	}
	for _, p := range []string{"smi%", "%ith", "smi%"} {
		rr := tw.via.PgConn().ExecPrepared(ctx, "lkd", [][]byte{[]byte(p)}, nil, nil).Read()
		var ids []string
		for _, row := range rr.Rows {
			ids = append(ids, string(row[0]))
		}
		if got := "[" + strings.Join(ids, " ") + "]"; rr.Err != nil || got != want(p) {
			t.Errorf("after a pipeline that skipped its variant's Parse, %q: through phiguard %v %s, directly %s", p, rr.Err, got, want(p))
		}
	}
}

// TestMatchTermVariantNamesRefused: a client may neither Bind one of
// phiguard's variants (it would run without phiguard's plan of it) nor
// prepare a statement of such a name.
func TestMatchTermVariantNamesRefused(t *testing.T) {
	t.Parallel()
	tw, _, _ := newMatchFixture(t, 20)
	ctx := testContext(t)
	if _, err := tw.via.Prepare(ctx, "lkv", fmt.Sprintf("SELECT id, last FROM %s WHERE last ILIKE $1 ORDER BY id", tw.enc)); err != nil {
		t.Fatal(err)
	}
	if rr := tw.via.PgConn().ExecPrepared(ctx, "lkv", [][]byte{[]byte("smi%")}, nil, nil).Read(); rr.Err != nil {
		t.Fatal(rr.Err)
	}
	var name string
	if err := tw.via.QueryRow(ctx, "SELECT name FROM pg_prepared_statements WHERE name LIKE 'phiguard_like_%' LIMIT 1").Scan(&name); err != nil {
		t.Fatalf("no variant in the backend: %v", err)
	}
	rr := tw.via.PgConn().ExecPrepared(ctx, name, [][]byte{nil, nil, nil}, nil, nil).Read()
	wantCode(t, rr.Err, "0A000", "phiguard's own")
	_, err := tw.via.Prepare(ctx, "phiguard_like_x", fmt.Sprintf("SELECT id FROM %s", tw.enc))
	wantCode(t, err, "0A000", "phiguard's own")
	if rr := tw.via.PgConn().ExecPrepared(ctx, "lkv", [][]byte{[]byte("smi%")}, nil, nil).Read(); rr.Err != nil {
		t.Fatalf("the client's statement after the refusals: %v", rr.Err)
	}
}

// TestMatchTermVariantAfterDeallocateAll: DEALLOCATE ALL and DISCARD ALL
// drop phiguard's variants with the client's named statements, but not
// the client's unnamed statement; its next Bind that needs a variant
// prepares it again (forgetVariants), where before it failed with 26000.
// The same after a DEALLOCATE of a variant's own name, sent as a Query
// or as an Execute of a prepared DEALLOCATE. Each Bind reads the
// plaintext's rows.
func TestMatchTermVariantAfterDeallocateAll(t *testing.T) {
	t.Parallel()
	tw, _, _ := newMatchFixture(t, 20)
	ctx := testContext(t)
	conn := tw.via.PgConn()
	want := tableText(t, tw.dir, fmt.Sprintf("SELECT id FROM %s WHERE last ILIKE 'smi%%' ORDER BY id", tw.plain), pgx.QueryExecModeSimpleProtocol)
	if _, err := conn.Prepare(ctx, "", fmt.Sprintf("SELECT id FROM %s WHERE last ILIKE $1 ORDER BY id", tw.enc), nil); err != nil {
		t.Fatal(err)
	}
	bind := func(what string) {
		t.Helper()
		rr := conn.ExecPrepared(ctx, "", [][]byte{[]byte("smi%")}, nil, nil).Read()
		if rr.Err != nil {
			t.Fatalf("Bind of the unnamed statement after %s: %v", what, rr.Err)
		}
		var b strings.Builder
		for _, row := range rr.Rows {
			b.Write(row[0])
			b.WriteByte('\n')
		}
		if b.String() != want {
			t.Fatalf("after %s: rows\n%s\nwant\n%s", what, b.String(), want)
		}
	}
	bind("the Parse")
	for _, q := range []string{"DEALLOCATE ALL", "DISCARD ALL", "DEALLOCATE PREPARE ALL"} {
		if _, err := conn.Exec(ctx, q).ReadAll(); err != nil {
			t.Fatal(err)
		}
		bind(q)
	}
	// A prepared DEALLOCATE ALL, executed: the variants go at its Execute.
	if _, err := conn.Prepare(ctx, "dealloc", "DEALLOCATE ALL", nil); err != nil {
		t.Fatal(err)
	}
	if rr := conn.ExecPrepared(ctx, "dealloc", nil, nil, nil).Read(); rr.Err != nil {
		t.Fatal(rr.Err)
	}
	bind("an executed DEALLOCATE ALL")
}
