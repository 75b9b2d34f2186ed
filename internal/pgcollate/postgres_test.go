package pgcollate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/internal/pgcluster/pgclustertest"
)

// testLocales are the collations the differential runs under. en_US.utf8
// is the one an EHR's database most often has; CI installs it (.ci/run),
// and without CI a machine lacking it skips that locale.
var testLocales = []string{"en_US.utf8", "de_DE.utf8", "C.utf8"}

// alphabet mixes what orders differently under a language's collation
// and under bytes: case, accents, ß, punctuation and spaces (ignored at
// the first level by glibc), digits, other scripts.
var alphabet = []rune("aAbBeEzZéÉèüÜöÖßøØåÅñÑçıİ  -'.,019ΣσςЖж漢😀ǅ")

// TestCompareAgainstPostgres sorts generated strings (ties included)
// under each test locale in PostgreSQL 15 and with Compare; the orders
// must be the same, and PostgreSQL must report the collation's version as
// Version.
func TestCompareAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := pgclustertest.Conn(t, ctx)
	r := rand.New(rand.NewPCG(7, 11))
	for _, name := range testLocales {
		t.Run(name, func(t *testing.T) {
			loc := openTestLocale(t, name)
			vals := generate(r, 600)
			want, version := postgresOrder(t, ctx, conn, name, vals)
			if version != "" && version != Version() {
				t.Errorf("PostgreSQL's version of %s is %q, Version() %q", name, version, Version())
			}
			if name != "C.utf8" && slices.IsSorted(want) {
				t.Fatalf("PostgreSQL ordered the strings by bytes under %s: the test proves nothing", name)
			}
			got := slices.Clone(vals)
			slices.SortStableFunc(got, func(a, b string) int { return loc.Compare([]byte(a), []byte(b)) })
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("position %d under %s: Compare puts %q, PostgreSQL %q", i, name, got[i], want[i])
				}
			}
		})
	}
}

func generate(r *rand.Rand, n int) []string {
	var vals []string
	for range n {
		if len(vals) > 0 && r.IntN(10) == 0 {
			vals = append(vals, vals[r.IntN(len(vals))]) // a tie
			continue
		}
		var b strings.Builder
		for range r.IntN(7) {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		if r.IntN(20) == 0 {
			b.WriteString(strings.Repeat("x", 300)) // past Compare's stack buffers
		}
		vals = append(vals, b.String())
	}
	return vals
}

// postgresOrder is PostgreSQL's ORDER BY of vals under the collation of
// that locale (the one initdb imported, named as the locale), and the
// collation's actual version.
func postgresOrder(t *testing.T, ctx context.Context, conn *pgconn.PgConn, name string, vals []string) ([]string, string) {
	var lits []string
	for _, v := range vals {
		lits = append(lits, "('"+strings.ReplaceAll(v, "'", "''")+"')")
	}
	sql := fmt.Sprintf(`SELECT coalesce(pg_collation_actual_version(oid), '') FROM pg_collation WHERE collname = '%s' AND collencoding IN (-1, 6);
SELECT v FROM (VALUES %s) o(v) ORDER BY v COLLATE "%s"`, name, strings.Join(lits, ","), name)
	res, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		t.Fatalf("%v", err)
	}
	if len(res[0].Rows) != 1 {
		t.Fatalf("PostgreSQL has no collation %s: initdb imports the machine's locales", name)
	}
	var order []string
	for _, row := range res[1].Rows {
		order = append(order, string(row[0]))
	}
	return order, string(res[0].Rows[0][0])
}

// TestCaseAgainstPostgres maps every code point with Lower and Upper and
// with PostgreSQL 15's lower() and upper() under each test locale, in
// chunks; the answers must be the same.
func TestCaseAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := pgclustertest.Conn(t, ctx)
	var chunks [][]byte
	var b []byte
	for r := rune(1); r <= 0x10FFFF; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		b = utf8.AppendRune(b, r)
		if r%0x10000 == 0 || r == 0x10FFFF {
			chunks, b = append(chunks, b), nil
		}
	}
	for _, name := range testLocales {
		t.Run(name, func(t *testing.T) {
			loc := openTestLocale(t, name)
			for _, fn := range []string{"lower", "upper"} {
				mapCase := map[string]func([]byte) ([]byte, error){"lower": loc.Lower, "upper": loc.Upper}[fn]
				changed := 0
				for _, chunk := range chunks {
					res := conn.ExecParams(ctx, fmt.Sprintf(`SELECT %s($1 COLLATE "%s")`, fn, name), [][]byte{chunk}, nil, nil, nil).Read()
					if res.Err != nil {
						t.Fatal(res.Err)
					}
					got, err := mapCase(chunk)
					if err != nil {
						t.Fatal(err)
					}
					want := res.Rows[0][0]
					if string(got) != string(want) {
						g, w := []rune(string(got)), []rune(string(want))
						for i := range min(len(g), len(w)) {
							if g[i] != w[i] {
								t.Fatalf("%s(U+%04X) under %s: %U, PostgreSQL %U", fn, []rune(string(chunk))[i], name, g[i], w[i])
							}
						}
						t.Fatalf("%s under %s: %d characters, PostgreSQL %d", fn, name, len(g), len(w))
					}
					if string(got) != string(chunk) {
						changed++
					}
				}
				if changed == 0 {
					t.Errorf("%s under %s changed no character: the test proves nothing", fn, name)
				}
			}
		})
	}
}

// openTestLocale opens one of testLocales; a machine without it skips,
// unless in CI, which installs them (.ci/run).
func openTestLocale(t testing.TB, name string) *Locale {
	t.Helper()
	loc, err := Open(name)
	if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") == "" {
		t.Skipf("%v (CI installs it)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
