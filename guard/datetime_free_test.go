package guard

import (
	"testing"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/policy"
)

// TestSettingsFree: a value the settings read alike passes behind a
// statement that may have changed them; one they read otherwise does
// not ('today' included, at any hour).
func TestSettingsFree(t *testing.T) {
	for _, c := range []struct {
		typ, v string
		free   bool
	}{
		{"date", "2024-03-02", true},
		{"date", "02/03/2024", false},
		{"date", "today", false},
		{"date", "2024-03-02 BC", true},
		{"timestamptz", "2024-03-02 10:00:00+01", true},
		{"timestamptz", "2024-03-02 10:00:00", false},
		{"timestamp", "2024-03-02 10:00:00+01", true},
		{"timestamp", "now", false},
		{"interval", "1 day 02:00:00", true},
		{"interval", "-1 2:00:00", false},
	} {
		typ, err := policy.ParseType(c.typ)
		if err != nil {
			t.Fatal(err)
		}
		col := &policy.ProtectedColumn{Name: "c", Type: typ}
		if got := settingsFree(pgvalue.Converter{}, col, 0, []byte(c.v), cellcipher.CanonicalIn); got != c.free {
			t.Errorf("%s %q: settingsFree %v, want %v", c.typ, c.v, got, c.free)
		}
	}
}
