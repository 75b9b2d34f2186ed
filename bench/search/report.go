package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// loadLines report what loading the dataset measured (in an earlier run
// when it was kept).
func loadLines(d *dataset) string {
	when := "this run"
	if d.reused {
		when = "the run that made the kept dataset, " + d.fig.Made + " UTC"
	}
	return fmt.Sprintf("\nBackfill (`phiguard encrypt`, 2 workers, terms on 3 of the 4 columns; %s): %.0f patients per second over the whole run, %.0f in its batches. "+
		"`phiguard search install`: term indexes %v, then the CHECK under `search_state: ready` %v.\n\n",
		when, d.fig.Backfill, d.fig.Batches, d.fig.Install.Round(time.Millisecond), d.fig.Check.Round(time.Millisecond))
}

// storage compares the bytes per cell of each encrypted column with its
// plaintext, splits a cell with terms into its sections (design §2.2:
// ~phs~ tv ~ E ~ O ~ X ~ M ~ B), and lists the indexes of both tables.
func storage(ctx context.Context, plain, enc *pgx.Conn) (string, error) {
	var b strings.Builder
	b.WriteString("| column | terms | plaintext bytes per value | encrypted bytes per cell (`pg_column_size`) | order term O | prefix key X | match tokens M (tokens) | `~phs~`, tv, separators | B (the v1 cell) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, col := range []string{"ssn", "first", "last", "birthdate"} {
		q := "SELECT avg(pg_catalog.pg_column_size(" + col + "))::float8 FROM public.patients"
		var p float64
		if err := plain.QueryRow(ctx, q).Scan(&p); err != nil {
			return "", err
		}
		var e [8]float64
		sq := fmt.Sprintf(`SELECT avg(pg_catalog.pg_column_size(%[1]s))::float8, avg(octet_length(%[1]s))::float8,
  avg(octet_length(split_part(%[1]s, '~', 4)))::float8, avg(octet_length(split_part(%[1]s, '~', 5)))::float8,
  avg(octet_length(split_part(%[1]s, '~', 6)))::float8, avg(octet_length(split_part(%[1]s, '~', 7)))::float8,
  avg(coalesce(cardinality(string_to_array(nullif(split_part(%[1]s, '~', 7), ''), '.')), 0))::float8,
  avg(octet_length(split_part(%[1]s, '~', 8)))::float8
FROM public.patients`, col)
		if err := enc.QueryRow(ctx, sq).Scan(&e[0], &e[1], &e[2], &e[3], &e[4], &e[5], &e[6], &e[7]); err != nil {
			return "", err
		}
		terms := map[string]string{"first": "order", "last": "order, match", "birthdate": "order"}[col]
		if terms == "" {
			fmt.Fprintf(&b, "| %s | — | %.1f | %.1f | | | | | |\n", col, p, e[0])
			continue
		}
		hdr := e[1] - e[2] - e[3] - e[4] - e[5] - e[7]
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f (%.1f) | %.1f | %.1f |\n", col, terms, p, e[0], e[3], e[4], e[5], e[6], hdr, e[7])
	}
	b.WriteString("\n| database | relation | bytes | bytes per patient |\n|---|---|---:|---:|\n")
	for _, side := range []struct {
		name string
		conn *pgx.Conn
	}{{"plain", plain}, {"enc", enc}} {
		if err := relationSizes(ctx, &b, side.name, side.conn); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// relationSizes lists the patients table (heap and TOAST) and each of
// its indexes.
func relationSizes(ctx context.Context, b *strings.Builder, db string, conn *pgx.Conn) error {
	var n float64
	if err := conn.QueryRow(ctx, "SELECT count(*)::float8 FROM public.patients").Scan(&n); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT 'patients (table and TOAST)', pg_catalog.pg_table_size('public.patients'::regclass)
UNION ALL (SELECT c.relname::text, pg_catalog.pg_relation_size(c.oid) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
  WHERE i.indrelid = 'public.patients'::regclass ORDER BY 1)`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			return err
		}
		fmt.Fprintf(b, "| %s | %s | %d | %.1f |\n", db, name, size, float64(size)/max(n, 1))
	}
	return rows.Err()
}
