package pgorder

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/internal/pgvalue"
)

// TestSortKeyVectors pins SortKey for fixed values of each type: the
// bytes the order and equality terms are computed from, which stored
// terms depend on.
func TestSortKeyVectors(t *testing.T) {
	for _, c := range []struct{ typ, canon, key string }{
		{"smallint", "-32768", "0000"},
		{"smallint", "1", "8001"},
		{"integer", "-1", "7fffffff"},
		{"bigint", "0", "8000000000000000"},
		{"boolean", "t", "01"},
		{"date", "2000-01-01", "80000000"},
		{"date", "1999-12-31", "7fffffff"},
		{"date", "-infinity", "00000000"},
		{"date", "infinity", "ffffffff"},
		{"timestamp", "2000-01-01 00:00:01", "80000000000f4240"},
		{"timestamptz", "2000-01-01 00:00:00+00", "8000000000000000"},
		{"time", "00:00:01", "00000000000f4240"},
		{"interval", "1 mon", "80000000000000000000025b7f3d4000"}, // 30 × 86,400,000,000 µs
		{"interval", "30 days", "80000000000000000000025b7f3d4000"},
		{"interval", "-00:00:00.000001", "7fffffffffffffffffffffffffffffff"},
		{"numeric", "0", "80"},
		{"numeric", "-0.00", "80"},
		{"numeric", "1.50", "c0800001023300"},    // weight 0, pairs 00 01 50, + 1,
		{"numeric", "12345", "c080010102182e00"}, // weight 1, pairs 00 01 23 45,
		{"numeric", "0.00001", "c07ffe0b00"},
		{"numeric", "-1.5", "407ffffefdccff"}, // 1.5 complemented after the class,
		{"numeric", "NaN", "ff"},
		{"numeric", "-Infinity", "01"},
		{"uuid", "00000000-0000-0000-0000-0000000000ff", "000000000000000000000000000000ff"},
		{"bytea", `\x00ff`, "00ff"},
		{"char(4)", "ab  ", "6162"},
		{"text", "ab ", "616220"},
	} {
		k, err := SortKey(mustType(t, c.typ), []byte(c.canon))
		if err != nil {
			t.Errorf("%s %q: %v", c.typ, c.canon, err)
			continue
		}
		if hex.EncodeToString(k) != c.key {
			t.Errorf("SortKey(%s %q) = %x, want %s", c.typ, c.canon, k, c.key)
		}
	}
}

// TestSortKeyRefuses: types without terms and malformed canonical text.
func TestSortKeyRefuses(t *testing.T) {
	for _, c := range []struct{ typ, canon string }{
		{"double precision", "1"}, {"real", "1"}, {"jsonb", "{}"}, {"timetz", "00:00:00+00"},
		{"integer[]", "{1}"}, {"numeric", "1e5"}, {"numeric", "."}, {"smallint", "40000"}, {"boolean", "true"},
	} {
		if k, err := SortKey(mustType(t, c.typ), []byte(c.canon)); err == nil {
			t.Errorf("SortKey(%s %q) = %x, want an error", c.typ, c.canon, k)
		}
	}
}

// FuzzNumericSortKey: for any two plain decimals, SortKey orders them as
// Compare (checked against PostgreSQL by TestAgainstPostgres) does, equal
// exactly when Compare says equal.
func FuzzNumericSortKey(f *testing.F) {
	f.Add("1.50", "1.5")
	f.Add("-0.0001", "-0.00001")
	f.Add("99999999", "100000000")
	f.Add("0.000", "-0")
	f.Fuzz(func(t *testing.T, a, b string) {
		lt := mustType(t, "numeric")
		ka, errA := SortKey(lt, []byte(a))
		kb, errB := SortKey(lt, []byte(b))
		pa, errPA := Parse(lt, []byte(a))
		pb, errPB := Parse(lt, []byte(b))
		if (errA == nil) != (errPA == nil) || (errB == nil) != (errPB == nil) {
			t.Fatalf("SortKey and Parse disagree on validity: %q %v/%v, %q %v/%v", a, errA, errPA, b, errB, errPB)
		}
		if errA != nil || errB != nil {
			return
		}
		if got, want := bytes.Compare(ka, kb), Compare(pa, pb); got != want {
			t.Fatalf("%q vs %q: SortKey %d (%x, %x), Compare %d", a, b, got, ka, kb, want)
		}
	})
}

// FuzzIntSortKey: integers of each width order by SortKey as numbers.
func FuzzIntSortKey(f *testing.F) {
	f.Add(int64(-1), int64(0))
	f.Add(int64(-32768), int64(32767))
	f.Fuzz(func(t *testing.T, a, b int64) {
		for _, typ := range []string{"smallint", "integer", "bigint"} {
			lt := mustType(t, typ)
			ka, errA := SortKey(lt, []byte(fmt.Sprint(a)))
			kb, errB := SortKey(lt, []byte(fmt.Sprint(b)))
			if errA != nil || errB != nil {
				continue // out of the type's range
			}
			want := map[bool]int{true: -1}[a < b] + map[bool]int{true: 1}[a > b]
			if got := bytes.Compare(ka, kb); got != want {
				t.Fatalf("%s %d vs %d: SortKey %d", typ, a, b, got)
			}
		}
	})
}

func TestNumericSortKeyRange(t *testing.T) {
	lt := mustType(t, "numeric")
	big := "1" + strings.Repeat("0", 131071)
	tiny := "0." + strings.Repeat("0", 16382) + "1"
	for _, v := range []string{big, tiny, "-" + big, "-" + tiny} {
		if _, err := SortKey(lt, []byte(v)); err != nil {
			t.Errorf("numeric of %d characters: %v", len(v), err)
		}
	}
}

// FuzzSortKeyAgreesWithCompare: for every type with a sort key and any
// two inputs pgvalue reads (as canonical text), memcmp of the keys is Compare
// of the parsed keys (Compare is the order TestAgainstPostgres holds to
// PostgreSQL's); every canonical value has a sort key (a write must never
// fail for want of one).
func FuzzSortKeyAgreesWithCompare(f *testing.F) {
	types := []string{"smallint", "integer", "bigint", "boolean", "numeric", "date", "timestamp",
		"timestamptz", "time", "interval", "uuid", "bytea", "text", "char(4)"}
	f.Add(uint8(9), "1 mon", "30 days")
	f.Add(uint8(5), "2000-01-01", "1999-12-31")
	f.Add(uint8(11), `\x00`, `\x`)
	f.Add(uint8(4), "-0.5", "-0.05")
	f.Fuzz(func(t *testing.T, which uint8, a, b string) {
		lt := mustType(t, types[int(which)%len(types)])
		// Both read canonical text: what pgvalue makes of any input.
		ca, errCA := pgvalue.Canonical(lt, 0, []byte(a))
		cb, errCB := pgvalue.Canonical(lt, 0, []byte(b))
		if errCA != nil || errCB != nil {
			return
		}
		a, b = string(ca), string(cb)
		ka, errA := SortKey(lt, []byte(a))
		kb, errB := SortKey(lt, []byte(b))
		pa, errPA := Parse(lt, []byte(a))
		pb, errPB := Parse(lt, []byte(b))
		if errA != nil || errB != nil {
			t.Fatalf("%s: no sort key for a canonical value: %v %v", lt.Name, errA, errB)
		}
		if errPA != nil || errPB != nil {
			return
		}
		if got, want := bytes.Compare(ka, kb), Compare(pa, pb); got != want {
			t.Fatalf("%s %q vs %q: SortKey %d (%x, %x), Compare %d", lt.Name, a, b, got, ka, kb, want)
		}
	})
}
