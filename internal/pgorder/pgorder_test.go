package pgorder

import (
	"testing"

	"github.com/phiguard/phiguard/policy"
)

func mustType(t testing.TB, name string) policy.LogicalType {
	t.Helper()
	lt, err := policy.ParseType(name)
	if err != nil {
		t.Fatal(err)
	}
	return lt
}

// TestCompareCases pins the orderings that differ from a naive compare
// of the text or of Go's own values.
func TestCompareCases(t *testing.T) {
	cases := []struct {
		typ  string
		a, b string
		want int
	}{
		{"numeric", "NaN", "Infinity", 1},
		{"numeric", "-Infinity", "-100000000000000000000000000", -1},
		{"numeric", "10", "9.99", 1},
		{"numeric", "-10", "-9.99", -1},
		{"numeric", "1.50", "1.5", 0},
		{"numeric", "0.05", "0.5", -1},
		{"numeric", "-0", "0.000", 0},
		{"numeric", "0.001", "-0.001", 1},
		{"double precision", "NaN", "Infinity", 1},
		{"double precision", "-0", "0", 0},
		{"double precision", "1e+15", "2", 1},
		{"real", "-Infinity", "-3.4028235e+38", -1},
		{"interval", "1 mon", "30 days", 0},
		{"interval", "1 day", "24:00:00", 0},
		{"interval", "1 year", "360 days", 0},
		{"interval", "-1 days +25:00:00", "01:00:00", 0},
		{"interval", "1 mon -1 days", "29 days 00:00:01", -1},
		{"date", "infinity", "9999-12-31", 1},
		{"date", "0044-03-15 BC", "0001-01-01", -1},
		{"timestamp", "-infinity", "0001-01-01 00:00:00 BC", -1},
		{"timestamptz", "2020-01-05 10:00:00+00", "2020-01-05 09:59:59.999999+00", 1},
		{"time", "24:00:00", "23:59:59.999999", 1},
		{"boolean", "f", "t", -1},
		{"text", "B", "a", -1},
		{"text", "ab", "a", 1},
		{"char(4)", "a   ", "a", 0},
		{"bytea", `\x00`, `\x`, 1},
		{"bytea", `\x0aff`, `\x0b`, -1},
		{"uuid", "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-000000000009", 1},
		{"bigint", "-9223372036854775808", "9223372036854775807", -1},
	}
	for _, c := range cases {
		lt := mustType(t, c.typ)
		a, err := Parse(lt, []byte(c.a))
		if err != nil {
			t.Fatalf("%s %q: %v", c.typ, c.a, err)
		}
		b, err := Parse(lt, []byte(c.b))
		if err != nil {
			t.Fatalf("%s %q: %v", c.typ, c.b, err)
		}
		if got := Compare(a, b); got != c.want {
			t.Errorf("%s: Compare(%q, %q) = %d, want %d", c.typ, c.a, c.b, got, c.want)
		}
		if got := Compare(b, a); got != -c.want {
			t.Errorf("%s: Compare(%q, %q) = %d, want %d", c.typ, c.b, c.a, got, -c.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	if _, err := Parse(mustType(t, "numeric"), []byte("1e5")); err == nil {
		t.Error("numeric 1e5 (not canonical) accepted")
	}
	if _, err := Parse(mustType(t, "jsonb"), []byte("{}")); err == nil || Sortable(mustType(t, "jsonb")) {
		t.Error("jsonb has no order here")
	}
}
