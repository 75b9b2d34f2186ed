package backfill

import (
	"context"
	"errors"
	"fmt"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgcollate"
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

// Census counts the cells of one column by kind.
type Census struct {
	Null      int64
	Plaintext int64
	// Versions counts cells of the column's key by key version.
	Versions map[uint32]int64
	// OtherKey counts cells sealed under another key id than the policy's
	// (the column's key was changed in the policy): left alone by every op.
	OtherKey int64
	// Subject counts cells sealed under a subject's key (crypto-shredding,
	// key id subj.<tag>). They belong to no version of the column's key.
	Subject int64
	// Terms counts the cells of a column with `search` by their terms;
	// nil for a column without.
	Terms *TermsCensus
	// TermVersions counts the cells of a column with `search` by the term
	// key version (tv) of their terms, for keys retire (design §5.3): a
	// version still deriving some cell's terms is still searched with.
	TermVersions map[uint32]int64
}

// TermsCensus counts a column's cells (not plaintext, not NULL) by their
// search terms (design §7.4): the column may be marked search_state:
// ready once Missing and Old are 0 and no plaintext is left.
type TermsCensus struct {
	// Current: terms of search_key_version, of the column's kinds.
	Current int64
	// Missing: no terms (a format-1 cell), or not the column's kinds.
	Missing int64
	// Old: terms of another term key version (after a change of
	// search_key_version; encrypt --rebuild-terms rewrites them).
	Old int64
}

func (t TermsCensus) String() string {
	return fmt.Sprintf("terms: current %d, missing %d, old version %d", t.Current, t.Missing, t.Old)
}

// Complete says every cell carries current terms.
func (t *TermsCensus) Complete() bool { return t != nil && t.Missing == 0 && t.Old == 0 }

func (c *Census) add(o Census) {
	if o.Terms != nil {
		if c.Terms == nil {
			c.Terms = &TermsCensus{}
		}
		c.Terms.Current += o.Terms.Current
		c.Terms.Missing += o.Terms.Missing
		c.Terms.Old += o.Terms.Old
	}
	for v, n := range o.TermVersions {
		if c.TermVersions == nil {
			c.TermVersions = map[uint32]int64{}
		}
		c.TermVersions[v] += n
	}
	c.Null += o.Null
	c.Plaintext += o.Plaintext
	c.OtherKey += o.OtherKey
	c.Subject += o.Subject
	for v, n := range o.Versions {
		if c.Versions == nil {
			c.Versions = map[uint32]int64{}
		}
		c.Versions[v] += n
	}
}

// classify counts one value into the census.
func (c *Census) classify(col *policy.ProtectedColumn, v []byte, null bool) {
	if col.Search != 0 && c.Terms == nil {
		c.Terms = &TermsCensus{}
	}
	if null {
		c.Null++
		return
	}
	info, err := keys.Inspect(v)
	if err == nil && col.Search != 0 && info.TermVersion != 0 {
		if c.TermVersions == nil {
			c.TermVersions = map[uint32]int64{}
		}
		c.TermVersions[info.TermVersion]++
	}
	if err == nil && col.Search != 0 {
		switch {
		case termsCurrent(col, v):
			c.Terms.Current++
		case info.TermVersion != 0 && info.TermVersion != col.SearchKeyVersion:
			c.Terms.Old++
		default:
			c.Terms.Missing++
		}
	}
	switch {
	case err != nil:
		c.Plaintext++
	case isSubjectKey(info.KeyID):
		c.Subject++
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

// isSubjectKey says whether a cell's key id names a subject key.
func isSubjectKey(id string) bool {
	_, ok := keys.SubjectTagOf(id)
	return ok
}

// skip says why convert left a cell that its op would otherwise change.
type skip int

const (
	noSkip skip = iota
	// skipNoSubject: the column is sealed per subject and the row's
	// subject column is NULL, so there is no key to seal under.
	skipNoSubject
	// skipShredded: the row's subject was shredded; nothing is sealed
	// under (or opened from) a destroyed key.
	skipShredded
)

// converter computes new cells for one column under one op.
type converter struct {
	op  Op
	col *policy.ProtectedColumn
	kr  *keys.Keyring
	// cipher is the column cipher the proxy uses too (cellcipher), so a
	// cell the backfill writes is one the proxy opens.
	cipher *cellcipher.Cipher
	write  uint32
	// sk seals and opens the cells of a per-subject column (nil for other
	// columns, and for a dry run's trial batch, which seals under the
	// column key so as to create no subject key).
	sk         *keys.SubjectKeys
	perSubject bool
	// loc is the column's libc collation for its order and match terms
	// (nil: C or POSIX, or terms that need none); rebuild recomputes
	// every cell's terms (Options.RebuildTerms); marker is the shredded
	// marker whose terms a shredded subject's text cell gets.
	loc     *pgcollate.Locale
	rebuild bool
	marker  string
}

func newConverter(op Op, col *policy.ProtectedColumn, kr *keys.Keyring, sk *keys.SubjectKeys, loc *pgcollate.Locale) (*converter, error) {
	w, err := kr.WriteVersion(col.Key)
	if err != nil {
		return nil, fmt.Errorf("column %s: %w", col.QualifiedName(), err)
	}
	cv := &converter{op: op, col: col, kr: kr, cipher: &cellcipher.Cipher{Keyring: kr}, write: w, perSubject: col.PerSubject(), loc: loc}
	if cv.perSubject {
		if sk == nil {
			return nil, fmt.Errorf("column %s is sealed per subject (subject column %s) but the run has no subject keys "+
				"(key id %q and a provider that stores subject keys); refusing to seal it under the column key, which phiguard shred could not destroy",
				col.QualifiedName(), col.Table.SubjectQualifiedName(), keys.SubjectKeyID)
		}
	}
	if cv.perSubject || op == Decrypt {
		cv.sk = sk // Decrypt opens subject cells wherever they are
		cv.cipher.Subjects = sk
	}
	return cv, nil
}

// errRow names a row by ctid, never by a value.
func errRow(col *policy.ProtectedColumn, ctid string, err error) error {
	return fmt.Errorf("column %s, row at ctid %s: %w", col.QualifiedName(), ctid, err)
}

// cellIn is one value of a batch row with what convert needs to know of
// its row: the subject (nil when the column is not per subject or the
// subject column is NULL) and the ctid that names the row in errors.
type cellIn struct {
	v       []byte
	subject []byte
	ctid    string
}

// convert returns the value to store for v, or nil when the cell is left as
// it is (NULL, already in the target state, or skipped for the reason
// returned).
//
// A per-subject column's cells go to its row's subject key: plaintext on
// Encrypt, plaintext and column-key cells of every version on Reencrypt
// (cells written before the table named its subject column, or by a
// backfill before this one sealed per subject). Subject cells are left
// alone by both: a subject key has one version, and they do not depend on
// the column key, so no rotation of it concerns them.
func (c *converter) convert(ctx context.Context, in cellIn) ([]byte, skip, error) {
	out, why, err := c.convertValue(ctx, in)
	if out != nil || err != nil || why != noSkip || in.v == nil || c.op == Decrypt || !keys.IsCell(in.v) {
		return out, why, err
	}
	// A cell the op leaves alone may still need its terms (terms.go).
	return c.reterm(ctx, in)
}

// convertValue is convert without the terms-only rewrite.
func (c *converter) convertValue(ctx context.Context, in cellIn) ([]byte, skip, error) {
	v := in.v
	if v == nil {
		return nil, noSkip, nil
	}
	info, err := keys.Inspect(v) // parses the cell once for every question
	isCell := err == nil
	isSubj := isCell && isSubjectKey(info.KeyID)
	switch c.op {
	case Decrypt:
		if !isCell {
			return nil, noSkip, nil
		}
		if isSubj {
			return c.openSubject(ctx, in)
		}
		pt, _, err := c.cipher.Open(ctx, c.col, v)
		if err != nil {
			return nil, noSkip, errRow(c.col, in.ctid, err)
		}
		return pt, noSkip, nil
	case Encrypt, Reencrypt:
		if isSubj {
			return nil, noSkip, nil
		}
		if isCell {
			if c.op == Encrypt || info.KeyID != c.col.Key {
				return nil, noSkip, nil
			}
			toSubject := c.perSubject && c.sk != nil && in.subject != nil
			if info.KeyVersion == c.write && !toSubject {
				return nil, noSkip, nil
			}
			pt, _, err := c.cipher.Open(ctx, c.col, v)
			if err != nil {
				return nil, noSkip, errRow(c.col, in.ctid, err)
			}
			if c.perSubject && in.subject == nil {
				// No subject to move it to: still move it off the old
				// version, so that version can be retired.
				cell, err := c.sealColumn(pt, in.ctid)
				return cell, skipNoSubject, err
			}
			return c.seal(ctx, pt, in)
		}
		canon, err := cellcipher.Canonical(c.col, pgvalue.FormatText, v)
		if err != nil {
			var pe *pgvalue.Error
			if errors.As(err, &pe) { // names the type and reason, never the value
				return nil, noSkip, errRow(c.col, in.ctid, fmt.Errorf("legacy value is not a valid %s: %s", pe.Type, pe.Reason))
			}
			return nil, noSkip, errRow(c.col, in.ctid, errors.New("legacy value cannot be canonicalized"))
		}
		return c.seal(ctx, canon, in)
	}
	return nil, noSkip, fmt.Errorf("backfill: unknown op %v", c.op)
}

// seal encrypts a canonical value for the row: under its subject's key for
// a per-subject column, else under the column key's write version.
func (c *converter) seal(ctx context.Context, pt []byte, in cellIn) ([]byte, skip, error) {
	if !c.perSubject || c.sk == nil {
		cell, err := c.sealColumn(pt, in.ctid)
		return cell, noSkip, err
	}
	cell, err := c.cipher.SealWithTerms(ctx, c.col, c.loc, pt, in.subject)
	if errors.Is(err, cellcipher.ErrNoSubject) {
		return nil, skipNoSubject, nil
	}
	if errors.Is(err, keys.ErrShredded) {
		return nil, skipShredded, nil
	}
	if err != nil {
		return nil, noSkip, errRow(c.col, in.ctid, err)
	}
	return cell, noSkip, nil
}

func (c *converter) sealColumn(pt []byte, ctid string) ([]byte, error) {
	cell, err := c.cipher.SealColumnKey(c.col, pt)
	if err != nil {
		return nil, errRow(c.col, ctid, err)
	}
	return c.withTerms(cell, pt, ctid)
}

// openSubject decrypts a subject cell. A shredded subject's cell is left
// as it is: it can never become plaintext again, of anything. In a column
// sealed per subject the cell must have been sealed for its row's subject
// (read with the row): one moved there from another patient's row would
// otherwise be written back as this patient's plaintext.
func (c *converter) openSubject(ctx context.Context, in cellIn) ([]byte, skip, error) {
	if c.sk == nil {
		return nil, noSkip, errRow(c.col, in.ctid, errors.New("the cell is sealed under a subject key and the run has no subject keys"))
	}
	if c.perSubject && !c.sk.SealedFor(in.v, in.subject) {
		return nil, noSkip, errRow(c.col, in.ctid, fmt.Errorf("%w: the cell is sealed for another subject than the row's %s (moved between rows in the database)",
			keys.ErrIntegrity, c.col.Table.SubjectQualifiedName()))
	}
	pt, state, err := c.cipher.Open(ctx, c.col, in.v)
	if err != nil {
		return nil, noSkip, errRow(c.col, in.ctid, err)
	}
	if state == cellcipher.Shredded {
		return nil, skipShredded, nil
	}
	return pt, noSkip, nil
}
