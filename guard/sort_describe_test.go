package guard

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestTrimRowDescription: a sorted read's RowDescription without its
// hidden columns is, byte for byte, what decoding it, cutting the fields
// and encoding it again gives, in one allocation (hideSortColumns made
// ten for five fields); a body cut inside a field, a name without its
// end or fewer fields than hidden columns is refused.
func TestTrimRowDescription(t *testing.T) {
	rd := &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
		{Name: []byte("id"), TableOID: 16384, TableAttributeNumber: 1, DataTypeOID: 2950, DataTypeSize: 16, TypeModifier: -1},
		{Name: []byte("start"), TableOID: 16384, TableAttributeNumber: 2, DataTypeOID: 1184, DataTypeSize: 8, TypeModifier: -1, Format: 1},
		{Name: []byte("last"), TableOID: 16390, TableAttributeNumber: 9, DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1},
		{Name: []byte("phiguard hidden"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1},
		{Name: []byte(""), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1},
	}}
	msg, err := rd.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	body := msg[5:]
	for hidden := 0; hidden <= 5; hidden++ {
		want, err := (&pgproto3.RowDescription{Fields: rd.Fields[:5-hidden]}).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := hideSortColumns(body, &sqlrewrite.SortPlan{Hidden: hidden})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d hidden: %v\n got %q\nwant %q", hidden, err, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = hideSortColumns(body, &sqlrewrite.SortPlan{Hidden: 2}) }); n > 1 {
		t.Errorf("%.0f allocations, want 1", n)
	}
	for _, bad := range [][]byte{body[:1], body[:len(body)-1], body[:9], append([]byte{0, 6}, body[2:]...)} {
		if _, err := hideSortColumns(bad, &sqlrewrite.SortPlan{Hidden: 2}); err == nil {
			t.Errorf("malformed body %q accepted", bad)
		}
	}
	if _, err := hideSortColumns(body, &sqlrewrite.SortPlan{Hidden: 6}); err == nil {
		t.Error("fewer fields than hidden columns accepted")
	}
}
