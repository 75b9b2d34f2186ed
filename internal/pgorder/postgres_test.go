package pgorder

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/internal/pgcluster/pgclustertest"
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/policy"
)

// TestAgainstPostgres is the differential test: generated values of each
// type, ties and edge values included, are ordered by PostgreSQL 15
// (ORDER BY under COLLATE "C" for text) and by Compare; both orders, and
// which neighbours are ties (dense_rank), must agree.
func TestAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := pgclustertest.Conn(t, ctx)
	if _, err := conn.Exec(ctx, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'").ReadAll(); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PGORDER_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (PGORDER_SEED=%d replays this run)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 13))
	for name, gen := range generators {
		t.Run(name, func(t *testing.T) {
			var vals []string
			for range 300 {
				vals = append(vals, gen(r))
			}
			checkOrder(t, ctx, conn, name, vals)
		})
	}
}

func checkOrder(t *testing.T, ctx context.Context, conn *pgconn.PgConn, typ string, vals []string) {
	lt := mustType(t, typ)
	collate := ""
	if textType := strings.HasPrefix(typ, "text") || strings.HasPrefix(typ, "varchar") || strings.HasPrefix(typ, "char"); textType {
		collate = ` COLLATE "C"`
	}
	var lits []string
	for _, v := range vals {
		lits = append(lits, "('"+strings.ReplaceAll(v, "'", "''")+"')")
	}
	sql := fmt.Sprintf(`DROP TABLE IF EXISTS o; CREATE TEMP TABLE o (v %s%s); INSERT INTO o VALUES %s;
SELECT o.v::text, dense_rank() OVER (ORDER BY o.v) FROM o WHERE o.v IS NOT NULL ORDER BY o.v`, typ, collate, strings.Join(lits, ","))
	res, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	rows := res[len(res)-1].Rows
	type row struct {
		text string
		rank int
		key  Key
	}
	var got []row
	for _, rw := range rows {
		canon, err := pgvalue.Canonical(lt, 0, rw[0])
		if err != nil {
			t.Fatalf("canonical %q: %v", rw[0], err)
		}
		k, err := Parse(lt, canon)
		if err != nil {
			t.Fatalf("parse %q: %v", canon, err)
		}
		rank, _ := strconv.Atoi(string(rw[1]))
		got = append(got, row{string(rw[0]), rank, k})
	}
	// Shuffle, sort with Compare, and compare the ranks' sequence.
	mine := append([]row(nil), got...)
	rand.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
	sort.SliceStable(mine, func(i, j int) bool { return Compare(mine[i].key, mine[j].key) < 0 })
	for i := range mine {
		if mine[i].rank != got[i].rank {
			t.Fatalf("position %d: Compare puts %q (rank %d), PostgreSQL %q (rank %d)", i, mine[i].text, mine[i].rank, got[i].text, got[i].rank)
		}
	}
	for i := 1; i < len(got); i++ {
		want := 0
		if got[i].rank > got[i-1].rank {
			want = 1
		}
		if c := Compare(got[i].key, got[i-1].key); c != want {
			t.Fatalf("Compare(%q, %q) = %d, PostgreSQL's ranks say %d", got[i].text, got[i-1].text, c, want)
		}
	}
	checkSortKeys(t, lt, rows)
}

// checkSortKeys: along PostgreSQL's order of rows (v::text, dense_rank),
// SortKey strictly increases from one rank to the next and is equal within
// a rank, and EqualityKey is equal exactly within a rank (for these types
// ORDER BY's ties are ='s classes). Types without a sort key are skipped.
func checkSortKeys(t *testing.T, lt policy.LogicalType, rows [][][]byte) {
	t.Helper()
	if lt.OID == policy.OIDFloat4 || lt.OID == policy.OIDFloat8 {
		return
	}
	var prev []byte
	var prevRank string
	for i, rw := range rows {
		canon, err := pgvalue.Canonical(lt, 0, rw[0])
		if err != nil {
			t.Fatal(err)
		}
		k, err := SortKey(lt, canon)
		if err != nil {
			t.Fatalf("SortKey(%q): %v", canon, err)
		}
		if q, err := EqualityKey(lt, canon); err != nil || !bytes.Equal(q, k) {
			t.Fatalf("EqualityKey(%q) = %x, %v; SortKey %x", canon, q, err, k)
		}
		if i > 0 {
			want := 0
			if string(rw[1]) != prevRank {
				want = 1
			}
			if c := bytes.Compare(k, prev); c != want {
				t.Fatalf("SortKey(%q) = %x against the previous value's %x: %d, PostgreSQL's ranks say %d", rw[0], k, prev, c, want)
			}
		}
		prev, prevRank = k, string(rw[1])
	}
}

func pick(r *rand.Rand, xs ...string) string { return xs[r.IntN(len(xs))] }

var generators = map[string]func(*rand.Rand) string{
	"integer":  func(r *rand.Rand) string { return strconv.Itoa(r.IntN(200) - 100) },
	"bigint":   func(r *rand.Rand) string { return strconv.FormatInt(r.Int64()-r.Int64(), 10) },
	"smallint": func(r *rand.Rand) string { return strconv.Itoa(r.IntN(65535) - 32768) },
	"boolean":  func(r *rand.Rand) string { return pick(r, "t", "f") },
	"numeric": func(r *rand.Rand) string {
		if r.IntN(10) == 0 {
			return pick(r, "NaN", "Infinity", "-Infinity", "0", "-0.000", "1.10", "1.1", "0.0001", "0.00001", "-0.00001",
				"10000", "9999.9999", "1e-16383", "-1e-16383", "1e131071", "-1e131071", "12345678901234567890.123456789", "-100000000")
		}
		return fmt.Sprintf("%d.%0*d", r.IntN(2000)-1000, r.IntN(4)+1, r.IntN(1000))
	},
	"numeric(8,3)": func(r *rand.Rand) string { return fmt.Sprintf("%.4f", r.Float64()*200-100) },
	"double precision": func(r *rand.Rand) string {
		if r.IntN(8) == 0 {
			return pick(r, "NaN", "Infinity", "-Infinity", "-0", "0", "1e-300", "-1e300")
		}
		return strconv.FormatFloat(r.NormFloat64()*float64(r.IntN(1000)), 'g', -1, 64)
	},
	"real": func(r *rand.Rand) string {
		if r.IntN(8) == 0 {
			return pick(r, "NaN", "Infinity", "-Infinity", "-0", "1.5")
		}
		return strconv.FormatFloat(r.NormFloat64()*100, 'g', 6, 32)
	},
	"date": func(r *rand.Rand) string {
		if r.IntN(10) == 0 {
			return pick(r, "infinity", "-infinity", "0044-03-15 BC", "4713-01-01 BC")
		}
		return time.Date(1900+r.IntN(200), 1, 1+r.IntN(365), 0, 0, 0, 0, time.UTC).Format("2006-01-02")
	},
	"timestamp": func(r *rand.Rand) string {
		if r.IntN(10) == 0 {
			return pick(r, "infinity", "-infinity", "0044-03-15 10:00 BC")
		}
		return time.Unix(r.Int64N(4e9)-2e9, int64(r.IntN(4))*250e6).UTC().Format("2006-01-02 15:04:05.999")
	},
	"timestamptz": func(r *rand.Rand) string {
		return time.Unix(r.Int64N(4e9)-2e9, 0).UTC().Format("2006-01-02 15:04:05") + pick(r, "+00", "+05:30", "-08")
	},
	"time": func(r *rand.Rand) string {
		if r.IntN(20) == 0 {
			return "24:00:00"
		}
		return fmt.Sprintf("%02d:%02d:%02d.%d", r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(10))
	},
	"interval": func(r *rand.Rand) string {
		if r.IntN(2) == 0 {
			return pick(r, "1 mon", "30 days", "1 day", "24 hours", "1 year", "360 days", "-1 mon", "0", "1 mon -30 days", "2 mons -1 days", "-1 days +24:00:00")
		}
		return fmt.Sprintf("%d mons %d days %d hours", r.IntN(4)-2, r.IntN(60)-30, r.IntN(48)-24)
	},
	"uuid": func(r *rand.Rand) string {
		return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32()>>uint(r.IntN(32)), r.IntN(65536), r.IntN(65536), r.IntN(65536), r.Int64N(1<<48))
	},
	"bytea": func(r *rand.Rand) string {
		b := make([]byte, r.IntN(4))
		for i := range b {
			b[i] = byte(pick(r, "\x00", "\x7f", "\x80", "\xff", "a")[0])
		}
		return fmt.Sprintf(`\x%x`, b)
	},
	"text":    textGen,
	"varchar": textGen,
	"char(3)": func(r *rand.Rand) string {
		return strings.TrimRight(textGen(r), " ")[:0] + pick(r, "a", "a ", "ab", "B", " a", "")
	},
}

func textGen(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(4) {
		b.WriteString(pick(r, "a", "A", "b", "é", "z", " ", "Z", "ß", "1", "-", "日"))
	}
	return b.String()
}
