package cellcipher_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgcluster/pgclustertest"
	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// TestTermsAgainstPostgres is slice 1's differential: generated values of
// every type that may have terms (ties, edge values, and for text case,
// accents, ignorable punctuation and long shared prefixes) are ordered by
// PostgreSQL 15 (ORDER BY, dense_rank) and compared by its = (a self-join),
// text under C, en_US.utf8 and de_DE.utf8. Along PostgreSQL's order s_P and
// O never decrease and are equal within a rank (O(a) < O(b) implies a < b;
// a = b implies O(a) = O(b)); q and E are equal exactly for the pairs
// PostgreSQL's = joins; and for text n(v) is PostgreSQL's lower(v).
func TestTermsAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn := pgclustertest.Conn(t, ctx)
	if _, err := conn.Exec(ctx, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'").ReadAll(); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TERMS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (TERMS_SEED=%d replays this run)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 13))
	tm := termKeys(t)
	for typ, gen := range termGenerators {
		collations := []string{""}
		if strings.HasPrefix(typ, "text") || strings.HasPrefix(typ, "varchar") || strings.HasPrefix(typ, "char") {
			collations = []string{"C", "en_US.utf8", "de_DE.utf8"}
		}
		for _, coll := range collations {
			t.Run(typ+"/"+coll, func(t *testing.T) {
				var loc *pgcollate.Locale
				if coll != "" && coll != "C" {
					loc = openLocale(t, coll)
				}
				var vals []string
				for len(vals) < 400 {
					if len(vals) > 0 && r.IntN(8) == 0 {
						vals = append(vals, vals[r.IntN(len(vals))]) // a tie
						continue
					}
					vals = append(vals, gen(r))
				}
				checkTerms(t, ctx, conn, tm, typ, coll, loc, vals)
			})
		}
	}
}

type termRow struct {
	id, rank int
	text     string
	q, s, o  []byte
	e        []byte
}

func checkTerms(t *testing.T, ctx context.Context, conn *pgconn.PgConn, tm *keys.Terms, typ, coll string, loc *pgcollate.Locale, vals []string) {
	col := termColumn(t, typ)
	collate := ""
	if coll != "" {
		collate = fmt.Sprintf(` COLLATE "%s"`, coll)
	}
	text := coll != ""
	lowerExpr := "NULL::text" // n(v), PostgreSQL's lower(), for text types
	if text {
		lowerExpr = "lower(o.v)"
	}
	var lits []string
	for i, v := range vals {
		lits = append(lits, fmt.Sprintf("(%d, '%s')", i, strings.ReplaceAll(v, "'", "''")))
	}
	sql := fmt.Sprintf(`DROP TABLE IF EXISTS o; CREATE TEMP TABLE o (i int, v %s%s); INSERT INTO o VALUES %s;
SELECT o.i, o.v::text, dense_rank() OVER (ORDER BY o.v), %s FROM o WHERE o.v IS NOT NULL ORDER BY o.v, o.i;
SELECT a.i, b.i FROM o a JOIN o b ON a.v = b.v AND a.i < b.i`, typ, collate, strings.Join(lits, ","), lowerExpr)
	res, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		t.Fatalf("%v", err)
	}
	var rows []termRow
	byID := map[int]*termRow{}
	for _, rw := range res[len(res)-2].Rows {
		canon, err := pgvalue.Canonical(col.Type, 0, rw[1])
		if err != nil {
			t.Fatalf("canonical %q: %v", rw[1], err)
		}
		row := termRow{id: atoi(t, rw[0]), rank: atoi(t, rw[2]), text: short(rw[1])}
		if row.q, err = cellcipher.EqualityInput(col, canon); err != nil {
			t.Fatalf("q(%q): %v", canon, err)
		}
		if row.s, err = cellcipher.OrderInput(col, loc, canon); err != nil {
			t.Fatalf("s(%q): %v", canon, err)
		}
		if row.o, err = tm.Ord(row.s); err != nil {
			t.Fatal(err)
		}
		row.e = tm.Eq(row.q)
		if text {
			n, err := cellcipher.MatchInput(col, loc, canon)
			if err != nil {
				t.Fatalf("n(%q): %v", canon, err)
			}
			// lower() of char(n) reads it as text, without its padding.
			if got := bytes.TrimRight(n, " "); string(got) != strings.TrimRight(string(rw[3]), " ") {
				t.Fatalf("%s: n(%q) = %q, PostgreSQL's lower() %q", typ, canon, got, rw[3])
			}
		}
		rows = append(rows, row)
	}
	for i := range rows {
		byID[rows[i].id] = &rows[i]
	}
	strict := 0
	for i := 1; i < len(rows); i++ {
		a, b := rows[i-1], rows[i]
		same := a.rank == b.rank
		for _, k := range []struct {
			name string
			x, y []byte
		}{{"s_P", a.s, b.s}, {"O", a.o, b.o}} {
			c := bytes.Compare(k.x, k.y)
			if c > 0 || same && c != 0 {
				t.Fatalf("%s: PostgreSQL orders %q (rank %d) then %q (rank %d); %s %x then %x", typ, a.text, a.rank, b.text, b.rank, k.name, k.x, k.y)
			}
		}
		if bytes.Compare(a.o, b.o) < 0 {
			strict++
		}
	}
	distinct := rows[len(rows)-1].rank
	if strict < min(distinct-1, len(rows)/10) {
		t.Fatalf("%s: O increases between only %d of %d neighbours: the test proves nothing", typ, strict, len(rows))
	}
	if exactOrder[typ] && strict != distinct-1 {
		// P holds the whole sort key: the order term is the exact order.
		t.Fatalf("%s: %d distinct values, O increases %d times", typ, distinct, strict)
	}
	equal := map[[2]int]bool{}
	for _, rw := range res[len(res)-1].Rows {
		equal[[2]int{atoi(t, rw[0]), atoi(t, rw[1])}] = true
	}
	pairs := 0
	for i := range vals {
		for j := i + 1; j < len(vals); j++ {
			a, b := byID[i], byID[j]
			if a == nil || b == nil {
				continue // NULL
			}
			want := equal[[2]int{i, j}]
			if bytes.Equal(a.q, b.q) != want || bytes.Equal(a.e, b.e) != want {
				t.Fatalf("%s: %q = %q is %v in PostgreSQL; q %x, %x; E %x, %x", typ, a.text, b.text, want, a.q, b.q, a.e, b.e)
			}
			if want {
				pairs++
			}
		}
	}
	if pairs == 0 {
		t.Fatalf("%s: no two values equal: the equality check proves nothing", typ)
	}
}

// short is a value for a message: long numerics are 131,072 digits.
func short(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%s...(%d bytes)", b[:40], len(b))
	}
	return string(b)
}

func atoi(t *testing.T, b []byte) int {
	n, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func termColumn(t testing.TB, typ string) *policy.ProtectedColumn {
	t.Helper()
	lt, err := policy.ParseType(typ)
	if err != nil {
		t.Fatal(err)
	}
	return &policy.ProtectedColumn{
		Table: &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: "patients"}},
		Name:  "v", Mode: policy.ModeRandomized, Key: "patients-pii", Type: lt,
	}
}

// openLocale opens a test locale; a machine without it skips, unless in
// CI, which installs them (.ci/run).
func openLocale(t testing.TB, name string) *pgcollate.Locale {
	t.Helper()
	loc, err := pgcollate.Open(name)
	if errors.Is(err, pgcollate.ErrNotInstalled) && os.Getenv("CI") == "" {
		t.Skipf("%v (CI installs it)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// exactOrder: the types whose whole sort key fits in P bytes, so equal
// order terms mean equal values.
var exactOrder = map[string]bool{"smallint": true, "integer": true, "bigint": true, "boolean": true, "date": true,
	"timestamp": true, "timestamp(2)": true, "timestamptz": true, "time": true, "time(0)": true, "interval": true, "uuid": true}

func pick(r *rand.Rand, xs ...string) string { return xs[r.IntN(len(xs))] }

var termGenerators = map[string]func(*rand.Rand) string{
	"smallint": func(r *rand.Rand) string {
		return pick(r, "-32768", "32767", "0", "-1", "1", strconv.Itoa(r.IntN(65536)-32768))
	},
	"integer": func(r *rand.Rand) string { return strconv.Itoa(r.IntN(2000) - 1000) },
	"bigint": func(r *rand.Rand) string {
		return pick(r, "-9223372036854775808", "9223372036854775807", "0", strconv.FormatInt(r.Int64()-r.Int64(), 10))
	},
	"boolean": func(r *rand.Rand) string { return pick(r, "t", "f", "true", "no") },
	"numeric": func(r *rand.Rand) string {
		if r.IntN(5) == 0 {
			return pick(r, "NaN", "Infinity", "-Infinity", "0", "-0.000", "1.10", "1.1", "0.0001", "0.00001",
				"-0.00001", "10000", "9999.9999", "1e-16383", "1e131071", "-1e131071", "1e40", "1.0000000000000000000000000001",
				"1.0000000000000000000000000002", "123456789012345678901234567890")
		}
		return fmt.Sprintf("%d.%0*d", r.IntN(2_000_000)-1_000_000, r.IntN(6)+1, r.IntN(100000))
	},
	"numeric(8,3)": func(r *rand.Rand) string { return fmt.Sprintf("%.4f", r.Float64()*200-100) },
	"date": func(r *rand.Rand) string {
		if r.IntN(10) == 0 {
			return pick(r, "infinity", "-infinity", "0044-03-15 BC", "4713-01-01 BC", "5874897-12-31", "2000-01-01", "1999-12-31")
		}
		return time.Date(1900+r.IntN(200), 1, 1+r.IntN(365), 0, 0, 0, 0, time.UTC).Format("2006-01-02")
	},
	"timestamp": func(r *rand.Rand) string {
		if r.IntN(10) == 0 {
			return pick(r, "infinity", "-infinity", "0044-03-15 10:00 BC", "2000-01-01 00:00:00", "1999-12-31 23:59:59.999999")
		}
		return time.Unix(r.Int64N(4e9)-2e9, int64(r.IntN(4))*250e6).UTC().Format("2006-01-02 15:04:05.999")
	},
	"timestamp(2)": func(r *rand.Rand) string {
		return time.Unix(r.Int64N(4e6)-2e6, int64(r.IntN(1000))*1e6).UTC().Format("2006-01-02 15:04:05.999")
	},
	"time(0)": func(r *rand.Rand) string {
		return fmt.Sprintf("%02d:%02d:%02d.%d", r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(10))
	},
	"timestamptz": func(r *rand.Rand) string {
		return time.Unix(r.Int64N(4e9)-2e9, 0).UTC().Format("2006-01-02 15:04:05") + pick(r, "+00", "+05:30", "-08")
	},
	"time": func(r *rand.Rand) string {
		if r.IntN(20) == 0 {
			return pick(r, "24:00:00", "00:00:00")
		}
		return fmt.Sprintf("%02d:%02d:%02d.%d", r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(10))
	},
	"interval": func(r *rand.Rand) string {
		if r.IntN(2) == 0 {
			return pick(r, "1 mon", "30 days", "1 day", "24 hours", "1 year", "360 days", "-1 mon", "0",
				"1 mon -30 days", "2 mons -1 days", "-1 days +24:00:00", "-178000000 years", "178000000 years", "-00:00:00.000001")
		}
		return fmt.Sprintf("%d mons %d days %d hours", r.IntN(4)-2, r.IntN(60)-30, r.IntN(48)-24)
	},
	"uuid": func(r *rand.Rand) string {
		return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32()>>uint(r.IntN(32)), r.IntN(65536), r.IntN(65536), r.IntN(65536), r.Int64N(1<<48))
	},
	"bytea": func(r *rand.Rand) string {
		b := make([]byte, r.IntN(20))
		for i := range b {
			b[i] = byte(pick(r, "\x00", "\x7f", "\x80", "\xff", "a")[0])
		}
		return fmt.Sprintf(`\x%x`, b)
	},
	"text":        textGen,
	"varchar(40)": textGen,
	"char(12)": func(r *rand.Rand) string {
		s := []rune(textGen(r))
		return string(s[:min(len(s), 12)])
	},
}

// textAlphabet mixes what orders differently under a language's
// collation and under bytes: case, accents, ß, ignorable punctuation and
// spaces, digits, other scripts.
var textAlphabet = []rune("aAbBeEzZéÉèüÜöÖßøØåÅñÑçıİ  -'.,019ΣσςЖж漢😀ǅ")

// textGen: short strings from textAlphabet, names, and values sharing a
// long prefix (equal past the 16 bytes the order term keeps).
func textGen(r *rand.Rand) string {
	switch r.IntN(4) {
	case 0:
		return pick(r, "Gleason", "gleason", "Gléason", "O'Brien", "OBrien", "Müller", "Mueller", "Straße", "Strasse", "") + strconv.Itoa(r.IntN(30))
	case 1:
		return "Abernathy-Zimmermann " + string(textAlphabet[r.IntN(len(textAlphabet))]) + strconv.Itoa(r.IntN(5))
	}
	var b strings.Builder
	for range r.IntN(8) {
		b.WriteRune(textAlphabet[r.IntN(len(textAlphabet))])
	}
	return b.String()
}
