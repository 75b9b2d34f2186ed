package backfill

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// ShredTerms is the database half of `phiguard shred` (docs/design/
// search-terms.md §5.2): once a subject's key is destroyed its cells read
// as the shredded marker (or NULL), but their search terms, keyed by the
// column key, still describe the old value (a key holder can test a
// guess against the equality term; anyone sees the order term's place).
// ShredTerms gives every cell of the subject in every per-subject column
// with `search` the terms of what it now reads as: the marker's for a
// text column that shows one (o.ShreddedMarker), none for the others, at
// search_key_version; the ciphertext is kept.
//
// A cell is rewritten only when phiguard opens it as shredded (its
// subject key is gone): a cell still under the column key, or a subject
// whose key is not destroyed, keeps the terms of the value it still
// reads as, so running it on the wrong subject changes nothing. Each
// table is one transaction (the subject's rows locked FOR UPDATE), and
// running it again finds the marker's terms already there and writes
// nothing: `phiguard shred --terms-only` resumes with it.
//
// Rows are found by their subject column's text, canonical as the
// subject keys name subjects (keys.CanonicalSubject), with one scan of
// each table: a shred is rare, and the subject column need not be
// indexed. o.Op, o.Batch, o.DryRun and the other run options are
// ignored; o.Subjects must be a fresh SubjectKeys (one that never cached
// the destroyed key).
func ShredTerms(ctx context.Context, conn *pgx.Conn, o Options, subject string) (ShredTermsResult, error) {
	var res ShredTermsResult
	if o.Subjects == nil {
		return res, fmt.Errorf("rewriting a shredded subject's search terms needs the subject keys (key id %q)", keys.SubjectKeyID)
	}
	subject = keys.CanonicalSubject(subject)
	o.Op = Encrypt
	for _, pt := range o.Policy.Tables() {
		names := ShredTermColumns(pt)
		if len(names) == 0 || o.Table != "" && !tableMatches(pt, o.Table) {
			continue
		}
		t, err := describe(ctx, conn, pt, names)
		if err != nil {
			return res, err
		}
		if err := resolveLocales(ctx, conn, t, o); err != nil {
			return res, err
		}
		n, err := shredTableTerms(ctx, conn, t, o, subject)
		if err != nil {
			return res, fmt.Errorf("table %s: %w", t.name(), err)
		}
		res.Tables = append(res.Tables, t.name())
		res.Cells += n
	}
	return res, nil
}

// ShredTermsResult is what ShredTerms did.
type ShredTermsResult struct {
	Tables []string // the tables it looked at
	Cells  int64    // cells whose terms it rewrote
}

// ShredTermColumns are pt's columns whose terms a shred rewrites: sealed
// per subject, with `search`.
func ShredTermColumns(pt *policy.ProtectedTable) []string {
	var out []string
	for _, c := range pt.Columns {
		if c.PerSubject() && c.Search != 0 {
			out = append(out, c.Name)
		}
	}
	return out
}

func tableMatches(pt *policy.ProtectedTable, name string) bool {
	return name == pt.Name.String() || name == pt.Name.Name && pt.Name.Schema == "public"
}

// shredTableTerms rewrites the terms of subject's cells in t, in one
// transaction, and returns how many cells it wrote.
func shredTableTerms(ctx context.Context, conn *pgx.Conn, t *table, o Options, subject string) (int64, error) {
	convs := make([]*converter, len(t.columns))
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cv, err := newConverter(Encrypt, c.pol, o.Keyring, o.Subjects, c.loc)
		if err != nil {
			return 0, err
		}
		cv.rebuild, cv.marker = true, o.ShreddedMarker // every cell opened, even one whose terms look current
		convs[i] = cv
		cols[i] = c.ident + "::text"
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	// lower() on both sides finds the subject however a text subject
	// column spells a UUID; the exact canonical test is in Go below.
	rows, err := tx.Query(ctx, "SELECT ctid::text, "+t.subject+"::text, "+strings.Join(cols, ", ")+
		" FROM "+t.ident+" WHERE lower("+t.subject+"::text) = lower($1) FOR UPDATE", subject)
	if err != nil {
		return 0, err
	}
	// One UPDATE per row with all its new cells: an UPDATE gives the row
	// a new ctid, so a second one by the old ctid would find nothing.
	type rowOut struct {
		ctid string
		sets []string
		args []any
	}
	var outs []rowOut
	var cells int64
	for rows.Next() {
		vals := make([]*string, len(cols)+2)
		dest := make([]any, len(vals))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return 0, err
		}
		if vals[1] == nil || keys.CanonicalSubject(*vals[1]) != subject {
			continue
		}
		r := rowOut{ctid: *vals[0]}
		for i, cv := range convs {
			v := vals[i+2]
			if v == nil || !keys.IsSubjectCell([]byte(*v)) {
				continue // NULL, plaintext or a column-key cell: it reads as its value still
			}
			out, why, err := cv.reterm(ctx, cellIn{v: []byte(*v), subject: []byte(subject), ctid: r.ctid})
			if err != nil {
				rows.Close()
				return 0, err
			}
			if out != nil && why == skipShredded { // a readable cell keeps its value's terms
				r.args = append(r.args, string(out))
				r.sets = append(r.sets, fmt.Sprintf("%s = $%d", t.columns[i].ident, len(r.args)))
			}
		}
		if len(r.sets) > 0 {
			outs = append(outs, r)
			cells += int64(len(r.sets))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, r := range outs {
		sql := fmt.Sprintf("UPDATE %s SET %s WHERE ctid = $%d::tid", t.ident, strings.Join(r.sets, ", "), len(r.args)+1)
		if _, err := tx.Exec(ctx, sql, append(r.args, r.ctid)...); err != nil {
			return 0, err
		}
	}
	return cells, tx.Commit(ctx)
}
