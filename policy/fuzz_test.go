package policy

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input makes Parse panic, and whatever loads and validates
// can be looked up column by column.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := Parse(raw)
		if err != nil || p.Validate() != nil {
			return
		}
		for _, tb := range p.Tables() {
			if got, ok := p.Table(tb.Name.Schema, tb.Name.Name); !ok || got != tb {
				t.Fatalf("table %s not found by its own name", tb.Name)
			}
			for _, c := range tb.Columns {
				if got, ok := p.Column(tb.Name.Schema, tb.Name.Name, c.Name); !ok || got != c {
					t.Fatalf("column %s not found by its own name", c.QualifiedName())
				}
				if c.Mode == "" || c.Key == "" || c.Type.OID == 0 || c.State == "" {
					t.Fatalf("validated column %s is incomplete: %+v", c.QualifiedName(), c)
				}
			}
		}
	})
}
