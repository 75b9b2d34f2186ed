package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
)

// Search terms (docs/design/search-terms.md §7.4): a column with `search`
// gets format-2 cells, the terms of its kinds under search_key_version
// before the same ciphertext. Encrypt and Reencrypt seal new cells with
// their terms; a cell they would otherwise leave alone whose terms are
// missing, of another version or of another set of kinds is "to
// rewrite": it is opened, its terms computed, and the same ciphertext
// written back with them (keys.WithTerms), re-encrypted only when the op
// would re-encrypt it anyway. Options.RebuildTerms recomputes every
// cell's terms (after a term-key or collation change) and strips the
// terms of a column whose `search` was removed.

// termsCurrent says whether v's terms are the ones col's policy asks for,
// as far as the text shows without a key: format 2, tv =
// search_key_version, and each section present exactly when the column
// has its kind (the match tokens of an empty value are none; a subject
// cell with no terms at all is a shredded subject's, design §5.2).
func termsCurrent(col *policy.ProtectedColumn, v []byte) bool {
	t, ok, err := keys.TermsOf(v)
	if err != nil || !ok || t.Version != col.SearchKeyVersion {
		return false
	}
	if t.Eq == nil && t.Ord == nil && t.Prefix == "" && len(t.Match) == 0 && keys.IsSubjectCell(v) {
		return true
	}
	has := col.Search.Has
	order, match := has(policy.SearchOrder), has(policy.SearchMatch)
	return (len(t.Eq) > 0) == has(policy.SearchEquality) && (len(t.Ord) > 0) == order &&
		(t.Prefix != "") == (order && match) && (match || len(t.Match) == 0)
}

// needsTerms says whether the op rewrites the terms of cell v (a cell of
// the column's key or a subject's, which the op otherwise leaves alone).
func (c *converter) needsTerms(v []byte) bool {
	if c.op == Decrypt {
		return false
	}
	if c.col.Search == 0 {
		return c.rebuild && bytes.HasPrefix(v, []byte(keys.TermsPrefix))
	}
	return c.rebuild || !termsCurrent(c.col, v)
}

// reterm gives cell v the terms of its value, keeping its ciphertext:
// nil when they are already there. A shredded subject's cell gets the
// terms of what it now reads as (the shredded marker for text, else
// none), never keeps its old value's.
func (c *converter) reterm(ctx context.Context, in cellIn) ([]byte, skip, error) {
	if !c.needsTerms(in.v) {
		return nil, noSkip, nil
	}
	if info, err := keys.Inspect(in.v); err != nil || info.KeyID != c.col.Key && !isSubjectKey(info.KeyID) {
		return nil, noSkip, nil // another key's cell: left alone by every op (Census.OtherKey)
	}
	if c.col.Search == 0 {
		out, err := stripTerms(in.v)
		if err != nil {
			return nil, noSkip, errRow(c.col, in.ctid, err)
		}
		return out, noSkip, nil
	}
	pt, state, err := c.cipher.Open(ctx, c.col, in.v)
	if err != nil {
		return nil, noSkip, errRow(c.col, in.ctid, err)
	}
	why := noSkip
	var terms keys.CellTerms
	if state == cellcipher.Shredded {
		why = skipShredded
		terms, err = c.markerTerms()
	} else {
		terms, err = c.cipher.CellTerms(c.col, c.loc, pt)
	}
	if err != nil {
		return nil, noSkip, errRow(c.col, in.ctid, err)
	}
	out, err := keys.WithTerms(in.v, terms)
	if err != nil {
		return nil, noSkip, errRow(c.col, in.ctid, err)
	}
	if bytes.Equal(out, in.v) {
		return nil, why, nil
	}
	return out, why, nil
}

// markerTerms are the terms of a shredded subject's cell (design §5.2):
// those of the shredded marker in a text column that shows one, else
// none (the cell reads as NULL).
func (c *converter) markerTerms() (keys.CellTerms, error) {
	none := keys.CellTerms{Version: c.col.SearchKeyVersion}
	if c.marker == "" || !isText(c.col) {
		return none, nil
	}
	return c.cipher.CellTerms(c.col, c.loc, []byte(c.marker))
}

func isText(col *policy.ProtectedColumn) bool {
	switch col.Type.OID {
	case policy.OIDText, policy.OIDVarchar, policy.OIDBpchar:
		return true
	}
	return false
}

// withTerms adds the column's terms of canon to a freshly sealed cell.
func (c *converter) withTerms(cell, canon []byte, ctid string) ([]byte, error) {
	if c.col.Search == 0 {
		return cell, nil
	}
	terms, err := c.cipher.CellTerms(c.col, c.loc, canon)
	if err == nil {
		cell, err = keys.WithTerms(cell, terms)
	}
	if err != nil {
		return nil, errRow(c.col, ctid, err)
	}
	return cell, nil
}

// stripTerms is the format-1 cell a format-2 cell carries (its B).
func stripTerms(v []byte) ([]byte, error) {
	if _, ok, err := keys.TermsOf(v); err != nil || !ok {
		return nil, errors.New("not a cell with terms")
	}
	i := bytes.LastIndexByte(v, '~')
	return append([]byte(keys.Prefix), v[i+1:]...), nil
}

// resolveLocales reads, after any conversion to text, the collation of
// each column whose terms depend on one, and refuses what phiguard cannot
// compute terms under (ICU and the rest: search.Collation.Locale). A
// deterministic column with `search` is refused too: its cells are
// compared by their whole text in the database, and the proxy does not
// yet look for the format-2 texts of a value (design §4.7), so writing
// them would hide rows from its equality searches.
func resolveLocales(ctx context.Context, conn *pgx.Conn, t *table, o Options) error {
	if o.Op == Decrypt {
		return nil
	}
	for _, c := range t.columns {
		if c.pol.Search == 0 {
			continue
		}
		coll, err := search.ColumnCollation(ctx, conn, c.pol)
		if err != nil {
			return err
		}
		if c.loc, err = coll.Locale(c.pol); err != nil {
			return err
		}
	}
	return nil
}

// refuseCheckedDecrypt: a column whose terms-present CHECK is installed
// would refuse the plaintext a decrypt writes, batch after batch.
func refuseCheckedDecrypt(ctx context.Context, conn *pgx.Conn, t *table) error {
	for _, c := range t.columns {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_constraint WHERE conrelid = $1::regclass AND conname = $2 AND contype = 'c'`,
			t.ident, search.CheckName(c.pol)).Scan(&n)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("column %s has the terms-present CHECK %s, which its plaintext would fail; run phiguard search uninstall --table %s --column %s first",
				c.pol.QualifiedName(), search.CheckName(c.pol), t.name(), c.pol.Name)
		}
	}
	return nil
}
