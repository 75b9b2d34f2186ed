package backfill

import (
	"errors"
	"fmt"

	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// Op is what a run does to the cells of a column.
type Op int

const (
	// Encrypt turns plaintext into cells under the write version; cells of
	// any version are left alone.
	Encrypt Op = iota + 1
	// Reencrypt does what Encrypt does and also moves cells of older
	// versions of the column's key to the write version.
	Reencrypt
	// Decrypt turns cells back into the canonical plaintext of the
	// column's logical type.
	Decrypt
)

func (o Op) String() string {
	switch o {
	case Encrypt:
		return "encrypt"
	case Reencrypt:
		return "reencrypt"
	case Decrypt:
		return "decrypt"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// CellColumn is the associated data the proxy binds a column's cells to:
// randomized cells bind their column; deterministic cells bind their key, so
// every column sharing a deterministic key is one equality domain
// (docs/design/encryption-path.md §1). It must agree with the proxy's
// cellColumn; the integration tests read backfilled cells through phiguard.
func CellColumn(c *policy.ProtectedColumn) keys.Column {
	if c.Mode == policy.ModeDeterministic {
		return keys.Column{Schema: "phiguard", Table: "deterministic-key", Name: c.Key}
	}
	return keys.Column{Schema: c.Table.Name.Schema, Table: c.Table.Name.Name, Name: c.Name}
}

// KeysMode is the keys.Mode of a policy mode.
func KeysMode(c *policy.ProtectedColumn) keys.Mode {
	if c.Mode == policy.ModeDeterministic {
		return keys.Deterministic
	}
	return keys.Randomized
}

// Census counts the cells of one column by kind.
type Census struct {
	Null      int64
	Plaintext int64
	// Versions counts cells of the column's key by key version.
	Versions map[uint32]int64
	// OtherKey counts cells sealed under another key id than the policy's
	// (the column's key was changed in the policy): left alone by every op.
	OtherKey int64
}

func (c *Census) add(o Census) {
	c.Null += o.Null
	c.Plaintext += o.Plaintext
	c.OtherKey += o.OtherKey
	for v, n := range o.Versions {
		if c.Versions == nil {
			c.Versions = map[uint32]int64{}
		}
		c.Versions[v] += n
	}
}

// classify counts one value into the census.
func (c *Census) classify(col *policy.ProtectedColumn, v []byte, null bool) {
	if null {
		c.Null++
		return
	}
	info, err := keys.Inspect(v)
	switch {
	case err != nil:
		c.Plaintext++
	default:
		if info.KeyID != col.Key {
			c.OtherKey++
			return
		}
		if c.Versions == nil {
			c.Versions = map[uint32]int64{}
		}
		c.Versions[info.KeyVersion]++
	}
}

// converter computes new cells for one column under one op.
type converter struct {
	op    Op
	col   *policy.ProtectedColumn
	kr    *keys.Keyring
	ad    keys.Column
	mode  keys.Mode
	write uint32
}

func newConverter(op Op, col *policy.ProtectedColumn, kr *keys.Keyring) (*converter, error) {
	w, err := kr.WriteVersion(col.Key)
	if err != nil {
		return nil, fmt.Errorf("column %s: %w", col.QualifiedName(), err)
	}
	return &converter{op: op, col: col, kr: kr, ad: CellColumn(col), mode: KeysMode(col), write: w}, nil
}

// errRow names a row by ctid, never by a value.
func errRow(col *policy.ProtectedColumn, ctid string, err error) error {
	return fmt.Errorf("column %s, row at ctid %s: %w", col.QualifiedName(), ctid, err)
}

// convert returns the value to store for v, or nil when the cell is left as
// it is (NULL, or already in the target state).
func (c *converter) convert(v []byte, null bool, ctid string) ([]byte, error) {
	if null {
		return nil, nil
	}
	info, err := keys.Inspect(v) // parses the cell once for both questions
	isCell := err == nil
	switch c.op {
	case Decrypt:
		if !isCell {
			return nil, nil
		}
		pt, err := c.kr.Decrypt(c.ad, v)
		if err != nil {
			return nil, errRow(c.col, ctid, err)
		}
		return pt, nil
	case Encrypt, Reencrypt:
		if isCell {
			if c.op == Encrypt || info.KeyID != c.col.Key || info.KeyVersion == c.write {
				return nil, nil
			}
			pt, err := c.kr.Decrypt(c.ad, v)
			if err != nil {
				return nil, errRow(c.col, ctid, err)
			}
			return c.seal(pt, ctid)
		}
		canon, err := pgvalue.Canonical(c.col.Type, pgvalue.FormatText, v)
		if err != nil {
			var pe *pgvalue.Error
			if errors.As(err, &pe) { // names the type and reason, never the value
				return nil, errRow(c.col, ctid, fmt.Errorf("legacy value is not a valid %s: %s", pe.Type, pe.Reason))
			}
			return nil, errRow(c.col, ctid, errors.New("legacy value cannot be canonicalized"))
		}
		return c.seal(canon, ctid)
	}
	return nil, fmt.Errorf("backfill: unknown op %v", c.op)
}

func (c *converter) seal(pt []byte, ctid string) ([]byte, error) {
	cell, err := c.kr.Encrypt(c.col.Key, c.mode, c.ad, pt)
	if err != nil {
		return nil, errRow(c.col, ctid, err)
	}
	return cell, nil
}
