package pgvalue

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/phiguard/phiguard/internal/race"
	"github.com/phiguard/phiguard/policy"
)

// TestSharedAgreesWithCopying: CanonicalShared and PresentShared give
// byte for byte what Canonical and Present give, and the same errors, for
// text (where they may hand back their input) and for the other types
// (where they are the copying functions); a text value they hand back is
// the input itself, a NULL-free empty value is not nil.
func TestSharedAgreesWithCopying(t *testing.T) {
	text := policy.LogicalType{Name: "text", OID: policy.OIDText, Modifier: -1}
	varchar := policy.LogicalType{Name: "varchar", OID: policy.OIDVarchar, Modifier: 4 + 3}
	date := policy.LogicalType{Name: "date", OID: policy.OIDDate, Modifier: -1}
	inputs := [][]byte{[]byte("Smith"), []byte(""), nil, []byte("  x  "), []byte("ab\x00c"), []byte("\xff\xfe"),
		[]byte("Zoë"), []byte("abcd  "), []byte("2024-02-29"), []byte("Epoch"), []byte("02/03/2024")}
	conv := Converter{}
	for _, typ := range []policy.LogicalType{text, varchar, date} {
		for _, format := range []int16{FormatText, FormatBinary, 2} {
			for _, in := range inputs {
				name := fmt.Sprintf("%s/%d/%q", typ.Name, format, in)
				want, wantErr := conv.Canonical(typ, format, in)
				got, err := conv.CanonicalShared(typ, format, in)
				if !bytes.Equal(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Errorf("%s: CanonicalShared %q, %v; Canonical %q, %v", name, got, err, want, wantErr)
				}
				if format == FormatBinary && typ.OID == policy.OIDDate {
					continue // a date's text is no binary date
				}
				want, wantErr = conv.Present(typ, format, in)
				got, err = conv.PresentShared(typ, format, in)
				if !bytes.Equal(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) || err == nil && got == nil {
					t.Errorf("%s: PresentShared %q, %v; Present %q, %v", name, got, err, want, wantErr)
				}
			}
		}
	}
	in := []byte("Smith")
	if got, _ := conv.PresentShared(text, FormatText, in); &got[0] != &in[0] {
		t.Error("PresentShared copied a text value it may hand back")
	}
	if n := testing.AllocsPerRun(50, func() { _, _ = conv.CanonicalShared(text, FormatBinary, in) }); n != 0 && !race.Enabled {
		t.Errorf("CanonicalShared of a text value made %.0f allocations", n)
	}
}
