package ehrdemo

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/internal/pgcluster"
)

func TestLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	defer cluster.Stop()
	conn, err := pgx.Connect(ctx, cluster.URL(cluster.Superuser, cluster.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	counts, err := Load(ctx, conn)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Logf("loaded %v", counts)

	for _, table := range Tables() {
		data, err := CSV(table)
		if err != nil {
			t.Fatal(err)
		}
		// Counted from the file, independently of how Load counts: the data
		// has no quoted line breaks, so a line is a row.
		want := int64(bytes.Count(data, []byte("\n")) - 1)
		if !bytes.HasSuffix(data, []byte("\n")) {
			want++
		}
		var inDB int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{"public", table}.Sanitize()).Scan(&inDB); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if counts[table] != want || inDB != want {
			t.Errorf("%s: Load counted %d, table holds %d, CSV has %d data lines", table, counts[table], inDB, want)
		}
	}
	if len(counts) != len(Tables()) {
		t.Errorf("Counts has %d tables, want %d: %v", len(counts), len(Tables()), counts)
	}

	t.Run("EmptyFieldsAreNull", func(t *testing.T) { checkNulls(ctx, t, conn) })

	t.Run("JoinPatientsEncounters", func(t *testing.T) {
		var (
			n         int64
			first     string
			birthdate time.Time
			start     time.Time
		)
		err := conn.QueryRow(ctx, `
			SELECT count(*) OVER (), p.first, p.birthdate, e.start
			FROM patients p JOIN encounters e ON e.patient = p.id
			ORDER BY e.start LIMIT 1`).Scan(&n, &first, &birthdate, &start)
		if err != nil {
			t.Fatal(err)
		}
		if n != counts["encounters"] {
			t.Errorf("join returned %d rows, want one per encounter (%d)", n, counts["encounters"])
		}
		if first == "" || birthdate.IsZero() || start.Before(birthdate) {
			t.Errorf("implausible first row: first=%q birthdate=%v encounter start=%v", first, birthdate, start)
		}
	})

	t.Run("SecondLoadFailsAndChangesNothing", func(t *testing.T) {
		_, err := Load(ctx, conn)
		if err == nil {
			t.Fatal("second Load succeeded; it must refuse existing tables")
		}
		t.Logf("second Load: %v", err)
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM patients").Scan(&n); err != nil {
			t.Fatalf("connection unusable after failed Load: %v", err)
		}
		if n != counts["patients"] {
			t.Errorf("patients: %d rows after failed Load, want %d", n, counts["patients"])
		}
	})
}

// checkNulls compares, for every column of every table, the NULLs in the
// database with the empty fields in the CSV: COPY's CSV format must have
// turned each unquoted empty field into NULL, typed columns and text alike.
func checkNulls(ctx context.Context, t *testing.T, conn *pgx.Conn) {
	for _, table := range Tables() {
		data, _ := CSV(table)
		records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := Columns(table)
		want := make([]int64, len(cols))
		for _, rec := range records[1:] {
			for i, f := range rec {
				if f == "" {
					want[i]++
				}
			}
		}
		exprs := make([]string, len(cols))
		for i, c := range cols {
			exprs[i] = fmt.Sprintf("count(*) - count(%s)", pgx.Identifier{c}.Sanitize())
		}
		got := make([]int64, len(cols))
		dest := make([]any, len(cols))
		for i := range got {
			dest[i] = &got[i]
		}
		q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + pgx.Identifier{"public", table}.Sanitize()
		if err := conn.QueryRow(ctx, q).Scan(dest...); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		for i, c := range cols {
			if got[i] != want[i] {
				t.Errorf("%s.%s: %d NULLs, CSV has %d empty fields", table, c, got[i], want[i])
			}
		}
	}
}
