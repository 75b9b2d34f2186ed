package keys

import (
	"encoding/binary"
	"fmt"
)

// Column names the place a cell belongs to. It is bound into every cell as
// associated data together with the key id and key version, so a cell
// copied into another column does not decrypt there.
//
// Two columns that must compare equal on ciphertext (a join between
// deterministic columns) must be given the same Column by the caller, for
// instance the column they both refer to; keys does not know about foreign
// keys and binds exactly what it is handed.
type Column struct {
	Schema string
	Table  string
	Name   string
}

// String returns schema.table.column, unquoted: it is for messages, not
// for SQL.
func (c Column) String() string { return c.Schema + "." + c.Table + "." + c.Name }

func (c Column) validate() error {
	if c.Schema == "" || c.Table == "" || c.Name == "" {
		return fmt.Errorf("keys: column %q: schema, table and name are all required", c.String())
	}
	return nil
}

// associatedData is what both modes authenticate alongside the plaintext:
// the cell header (format version, mode, key id, key version) followed by
// the column, each part length-prefixed so that no two different
// (schema, table, column) triples encode alike ("a.b" + "c" vs "a" + "b.c").
func associatedData(header []byte, c Column) []byte {
	return appendAssociatedData(make([]byte, 0, len(header)+len(c.Schema)+len(c.Table)+len(c.Name)+12), header, c)
}

// appendAssociatedData appends associatedData(header, c) to ad.
func appendAssociatedData(ad, header []byte, c Column) []byte {
	ad = append(ad, header...)
	for _, s := range []string{c.Schema, c.Table, c.Name} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(s)))
		ad = append(ad, s...)
	}
	return ad
}
