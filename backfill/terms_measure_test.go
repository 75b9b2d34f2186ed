package backfill

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/phiguard/phiguard/search"
)

// TestTermsMeasure is a measurement, not a check: run with
// PHIGUARD_TERMS_MEASURE=1 (and PHIGUARD_BACKFILL_PATIENTS=20000) it
// logs the backfill rate without terms, with terms from plaintext, and
// of a terms-only rewrite of format-1 cells, then the bytes each term
// adds to a cell and the size of each term index (design §7.5,
// BENCHMARKS.md "Search terms: backfill and storage").
func TestTermsMeasure(t *testing.T) {
	if os.Getenv("PHIGUARD_TERMS_MEASURE") == "" {
		t.Skip("a measurement: set PHIGUARD_TERMS_MEASURE=1")
	}
	f := startTerms(t)
	ctx := context.Background()
	// The rate moves with the shared machine's load; the Go CPU time per
	// row (this process: sealing, terms, pgx) does much less.
	cpu0 := cpuTime()
	rate := func(what string, s *Summary) {
		r := s.Tables[0]
		cpu := cpuTime()
		t.Logf("%-36s %6d rows, %5d written in %v: %.0f rows/s; Go CPU %.1f µs a row", what, r.Rows, r.Changed, r.Batches.Round(time.Millisecond),
			float64(r.Rows)/r.Batches.Seconds(), float64((cpu-cpu0).Microseconds())/float64(r.Rows))
		cpu0 = cpuTime()
	}
	sizes := func(what string) {
		var first, birth float64
		if err := f.conn.QueryRow(ctx, "SELECT avg(pg_column_size(first)), avg(pg_column_size(birthdate)) FROM patients").Scan(&first, &birth); err != nil {
			t.Fatal(err)
		}
		t.Logf("%-36s first %.1f bytes, birthdate %.1f bytes (pg_column_size, average)", what, first, birth)
	}
	cpu0 = cpuTime()
	s, _, err := f.run(t, ctx, Encrypt, nil)
	if err != nil {
		t.Fatal(err)
	}
	rate("encrypt, no terms", s)
	sizes("format 1:")
	f.pol = mustPolicy(t, termColumns)
	if s, _, err = f.run(t, ctx, Encrypt, nil); err != nil {
		t.Fatal(err)
	}
	rate("terms into format-1 cells (B kept)", s)
	cpu0 = cpuTime()
	if s, _, err = f.run(t, ctx, Decrypt, nil); err != nil {
		t.Fatal(err)
	}
	cpu0 = cpuTime()
	if s, _, err = f.run(t, ctx, Encrypt, nil); err != nil {
		t.Fatal(err)
	}
	rate("encrypt with terms", s)
	sizes("format 2:")
	var e, od, ot, x, m, tokens, hdr float64
	if err := f.conn.QueryRow(ctx, `SELECT avg(octet_length(split_part(birthdate, '~', 4))), avg(octet_length(split_part(birthdate, '~', 5))),
		avg(octet_length(split_part(first, '~', 5))), avg(octet_length(split_part(first, '~', 6))), avg(octet_length(split_part(first, '~', 7))),
		avg(cardinality(string_to_array(split_part(first, '~', 7), '.'))),
		avg(octet_length(first) - octet_length(split_part(first, '~', 8)) - octet_length(split_part(first, '~', 5)) - octet_length(split_part(first, '~', 6)) - octet_length(split_part(first, '~', 7)) - 5)
		FROM patients`).Scan(&e, &od, &ot, &x, &m, &tokens, &hdr); err != nil {
		t.Fatal(err)
	}
	t.Logf("bytes per cell: equality %.1f, order (date) %.1f, order (text) %.1f, prefix key %.1f, match %.1f (%.1f tokens), prefix ~phs~, tv and separators %.1f",
		e, od, ot, x, m, tokens, hdr+5)
	if err := search.Install(ctx, f.conn, search.Options{Policy: f.pol}); err != nil {
		t.Fatal(err)
	}
	rows, err := f.conn.Query(ctx, `SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'public.patients'::regclass AND c.relname LIKE 'phiguard%' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			t.Fatal(err)
		}
		t.Logf("index %-28s %8d bytes, %.1f bytes a row", name, size, float64(size)/float64(f.n))
	}
}

// cpuTime is this process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
