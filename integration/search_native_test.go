package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestNativeTieBreakerStaleType: a plaintext ORDER BY key the session's
// catalog calls an integer is sent as its value (sqlrewrite
// sort_native.go). When another session changes the column to text
// after the catalog was read, the statement must give the plaintext's
// answer or fail; never order the text values as numbers. The values
// are written so that the two orders differ ('10' before '5').
func TestNativeTieBreakerStaleType(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	const q = `SELECT name, grp FROM %[1]s ORDER BY name, grp DESC NULLS LAST`
	compare := func(stale bool) (failed int) {
		for _, mode := range bothModes {
			for _, format := range []int16{pgx.TextFormatCode, pgx.BinaryFormatCode} {
				want, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, format)
				if err != nil {
					t.Fatal(err)
				}
				got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, format)
				var pe *pgconn.PgError
				switch {
				case err != nil && stale && errors.As(err, &pe) && pe.Code == "0A000" && strings.Contains(pe.Message, "as its value"):
					failed++ // the native key's guard: grp is no integer now
				case err != nil:
					t.Fatalf("%v format %d (stale %v): %v", mode, format, stale, err)
				case got != want:
					t.Errorf("%v format %d (stale %v): through phiguard\n%s\ndirectly\n%s", mode, format, stale, got, want)
				}
			}
		}
		return failed
	}
	compare(false) // reads the catalog's integer grp
	for _, table := range f.people {
		if _, err := superuser(t).Exec(ctx, fmt.Sprintf("UPDATE %[1]s SET grp = grp * 5 + 1; ALTER TABLE %[1]s ALTER COLUMN grp TYPE text", table)); err != nil {
			t.Fatal(err)
		}
	}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if err := conn.DeallocateAll(ctx); err != nil { // their cached statements return int
			t.Fatal(err)
		}
	}
	t.Logf("after the type change: %d of 4 executions refused (0A000, the catalog read again), the others gave the plaintext's answer", compare(true))
}

// TestNativeUUIDTieBreakerDifferential: a uuid plaintext key (with ties
// and NULLs) between encrypted ones, sent as its hex, in every direction
// and NULLS order, both protocols, text and binary results: the
// plaintext's answers.
func TestNativeUUIDTieBreakerDifferential(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	ctx := testContext(t)
	for _, table := range f.people {
		if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`ALTER TABLE %[1]s ADD COLUMN ref uuid;
UPDATE %[1]s SET ref = CASE WHEN id %% 9 = 0 THEN NULL ELSE md5((id %% 40)::text)::uuid END`, table)); err != nil {
			t.Fatal(err)
		}
	}
	via := f.p.app(t) // a session whose catalog has ref
	shapes := []string{
		`SELECT p.id, p.ref FROM %%[1]s p ORDER BY p.ref%[1]s, p.born, p.id`,
		`SELECT p.id, p.name FROM %%[1]s p ORDER BY p.name, p.ref%[1]s, p.born, p.id LIMIT 40`,
		`SELECT p.ref AS r, p.name, p.id FROM %%[1]s p WHERE p.grp <> 2 ORDER BY p.name DESC, r%[1]s, p.born, p.id OFFSET 3`,
	}
	executions := 0
	for _, shape := range shapes {
		for _, dir := range []string{"", " DESC"} {
			for _, nulls := range []string{"", " NULLS FIRST", " NULLS LAST"} {
				q := fmt.Sprintf(shape, dir+nulls)
				for _, mode := range bothModes {
					for _, format := range []int16{pgx.TextFormatCode, pgx.BinaryFormatCode} {
						want, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, format)
						if err != nil {
							t.Fatal(err)
						}
						got, err := rowsRaw(t, via, f.sql(q, 1), mode, format)
						if err != nil || got != want {
							t.Errorf("%s (%v, format %d): through phiguard %v\n%s\ndirectly\n%s", q, mode, format, err, got, want)
						}
						executions++
					}
				}
			}
		}
	}
	t.Logf("%d executions, the plaintext's answers", executions)
}
