package guard

import (
	"encoding/binary"
	"fmt"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"

	"github.com/phiguard/phiguard/internal/pgcopy"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// copyRewriter rewrites the protected fields of a COPY stream: it encrypts
// rows going to the backend (COPY FROM STDIN) and decrypts rows coming
// back (COPY TO STDOUT). Rows are cut from CopyData chunks with
// pgcopy.Splitter, since a client may split a row across messages.
type copyRewriter struct {
	format  pgcopy.Format
	cols    []*policy.ProtectedColumn // per field; nil = unprotected
	names   []string                  // per field, its column's name
	split   *pgcopy.Splitter
	header  bool // a header row is still to come
	aborted bool // phiguard failed the COPY; drop the rest of the client's data
	// exact: the columns came from the catalog (no column list), so a row
	// with another field count means the catalog is out of date; refusing it
	// keeps a protected column added since from receiving plaintext.
	exact bool
	// subjectAt is the field of the table's subject column, -1 if absent:
	// each row's per-subject cells are sealed under that field's subject.
	subjectAt int
	// out: COPY TO STDOUT, whose per-subject cells are checked against
	// their row's subject (protect_bind.go); a NULL subject is then
	// passed as noSubject rather than nil, which means "not in the row".
	out bool
	// bin is set for a binary COPY FROM (protect_copy_binary.go).
	bin *binaryCopy
	// appended are the encrypted columns a COPY FROM's column list left
	// out, which the default guard added to the list (sqlrewrite.
	// GuardNoDefaults): each row gets a NULL field for each, after the
	// client's, so that none takes a default PostgreSQL would store in
	// clear.
	appended []string
}

// noSubject is the subject of a COPY TO row whose subject column is NULL.
var noSubject = []byte{}

// newCopyRewriter builds a rewriter for a planned COPY, with the column
// order from the statement or, without a list, from the catalog; appended
// are the encrypted columns the default guard adds to a COPY FROM's list.
func (s *Session) newCopyRewriter(cp *sqlrewrite.CopyPlan, appended []*policy.ProtectedColumn) (*copyRewriter, *pgerr.Error) {
	f := pgcopy.Text()
	if cp.CSV {
		f = pgcopy.CSV()
	}
	for _, opt := range []struct {
		v   string
		dst *byte
	}{{cp.Delimiter, &f.Delimiter}, {cp.Quote, &f.Quote}, {cp.Escape, &f.Escape}} {
		if opt.v == "" {
			continue
		}
		if len(opt.v) != 1 {
			return nil, copyError(cp, "multi-byte COPY delimiter, quote or escape")
		}
		*opt.dst = opt.v[0]
	}
	if cp.Quote != "" && cp.Escape == "" {
		f.Escape = f.Quote
	}
	if cp.NullSet {
		f.Null = cp.Null
	}
	f.Header = cp.Header
	if err := f.Validate(); err != nil {
		return nil, copyError(cp, err.Error())
	}
	r := &copyRewriter{subjectAt: -1, out: !cp.In}
	for _, c := range appended {
		r.appended = append(r.appended, c.Name)
	}
	names := cp.Columns
	if len(names) == 0 {
		for _, c := range s.catalog.Load().tables[cp.Table.Name] {
			if !c.generated { // as PostgreSQL's COPY leaves them out
				names = append(names, c.name)
			}
		}
		if len(names) == 0 {
			return nil, copyError(cp, "COPY without a column list on a table phiguard did not find in this database")
		}
		r.exact = true
	}
	r.format, r.split, r.header = f, pgcopy.NewSplitter(f), cp.Header
	perSubject := false
	for i, n := range names {
		col, _ := cp.Table.Column(n)
		r.cols = append(r.cols, col)
		if col != nil && col.PerSubject() {
			perSubject = true
		}
		if n == cp.Table.SubjectColumn {
			r.subjectAt = i
		}
	}
	r.names = names
	if cp.In && perSubject && r.subjectAt < 0 {
		return nil, copyError(cp, fmt.Sprintf("COPY FROM without the subject column %s (the randomized columns are sealed per subject)", cp.Table.SubjectQualifiedName()))
	}
	if cp.Binary {
		if perSubject {
			// A subject is sealed by its text; a binary field would need
			// its type's text form first.
			return nil, copyError(cp, "binary COPY of a table whose cells are sealed per subject")
		}
		r.bin = &binaryCopy{}
	}
	return r, nil
}

func copyError(cp *sqlrewrite.CopyPlan, what string) *pgerr.Error {
	return pgerr.Newf(pgerr.FeatureNotSupported, "table %s has encrypted columns: %s is not supported on it through phiguard", cp.Table.Name, what)
}

// rewriteRows applies fn to every protected, non-NULL field of rows and
// returns them as one CopyData payload, each row with the line ending it
// came with (pgcopy.Splitter.Ending).
func (r *copyRewriter) rewriteRows(rows [][]byte, fn func(col *policy.ProtectedColumn, v, subject []byte) ([]byte, *pgerr.Error)) ([]byte, *pgerr.Error) {
	var out []byte
	for i, row := range rows {
		// As the client ended it: PostgreSQL fails mixed endings, and
		// reads a CSV \. as the end marker only with one.
		eol := r.split.Ending(i)
		if r.header {
			r.header = false
			out = append(append(out, r.headerRow(row)...), eol...)
			continue
		}
		if string(row) == `\.` && !(r.format.CSV && eol == "") { // the old end-of-data marker
			out = append(out, `\.`+eol...)
			continue
		}
		fields, err := r.format.Decode(row)
		if err != nil {
			return nil, pgerr.New(pgerr.BadCopyFileFormat, "malformed COPY data: "+err.Error())
		}
		if r.exact && len(fields) != len(r.cols) {
			return nil, pgerr.Newf(pgerr.BadCopyFileFormat,
				"COPY row has %d fields where phiguard knows %d columns; list the columns", len(fields), len(r.cols))
		}
		if !r.exact && !r.out {
			// PostgreSQL refuses such a row too, from phiguard's
			// rewrite of it; refused here, a row phiguard cut otherwise
			// than PostgreSQL would never reach it.
			if pe := r.fieldCount(len(fields)); pe != nil {
				return nil, pe
			}
		}
		fields = append(fields, make([][]byte, len(r.appended))...) // NULL
		var subject []byte
		if r.subjectAt >= 0 && r.subjectAt < len(fields) {
			subject = fields[r.subjectAt]
			if subject == nil && r.out {
				subject = noSubject
			}
		}
		for i, col := range r.cols {
			if col == nil || i >= len(fields) || fields[i] == nil {
				continue
			}
			v, pe := fn(col, fields[i], subject)
			if pe != nil {
				return nil, pe
			}
			fields[i] = v
		}
		out = append(append(out, r.format.Encode(fields)...), eol...)
	}
	return out, nil
}

// headerRow is a COPY FROM's header row as sent on: with the names of the
// appended columns after the client's, which HEADER MATCH compares with
// the column list.
func (r *copyRewriter) headerRow(row []byte) []byte {
	if len(r.appended) == 0 {
		return row
	}
	fields, err := r.format.Decode(row)
	if err != nil {
		return row // PostgreSQL reads (or skips) it as it is
	}
	for _, name := range r.appended {
		fields = append(fields, []byte(name))
	}
	return r.format.Encode(fields)
}

// fieldCount refuses a row whose field count is not its column list's,
// with PostgreSQL's own errors: once phiguard's NULL fields follow the
// client's, PostgreSQL would take a short row's fields for the listed
// columns and the NULLs for the missing ones, and a long row's extra
// field for an appended, encrypted column. Without appended columns
// PostgreSQL would refuse the row itself, as phiguard writes it on; but
// a field past the list is not encrypted, and should phiguard have cut
// the row otherwise than PostgreSQL does, it could land in one.
func (r *copyRewriter) fieldCount(n int) *pgerr.Error {
	switch {
	case n > len(r.cols):
		return pgerr.New(pgerr.BadCopyFileFormat, "extra data after last expected column")
	case n < len(r.cols):
		return pgerr.Newf(pgerr.BadCopyFileFormat, "missing data for column %q", r.names[n])
	}
	return nil
}

// startCopy prepares the rewriting of a COPY the plan allows: its rows in
// (COPY FROM STDIN) or out (COPY TO STDOUT).
func (s *Session) startCopy(x *expectation, plan *sqlrewrite.Plan) *pgerr.Error {
	if plan == nil || plan.Copy == nil || plan.Refusal != nil {
		return nil
	}
	x.copy = true
	var appended []*policy.ProtectedColumn
	if plan.Copy.In && len(plan.Copy.Columns) > 0 {
		appended = plan.Defaults // added to the list by guardDefaults
	}
	rw, pe := s.newCopyRewriter(plan.Copy, appended)
	switch {
	case pe != nil:
		return pe
	case plan.Copy.In:
		s.copyIn = rw
	default:
		x.copyOut = rw
	}
	return nil
}

// encryptField and decryptField adapt the session's value crypto to
// rewriteRows.
func (s *Session) encryptField(col *policy.ProtectedColumn, v, subject []byte) ([]byte, *pgerr.Error) {
	return s.encryptValue(col, 0, v, subject)
}

// A COPY TO row is one row of one table, so its per-subject cells are
// checked against its subject field when the COPY carries it (subject is
// nil when it does not, noSubject when it is NULL).
func (s *Session) decryptField(col *policy.ProtectedColumn, v, subject []byte) ([]byte, *pgerr.Error) {
	if subject != nil && col.PerSubject() {
		if pe := s.checkRowSubject(col, v, copySubjectField, subject); pe != nil {
			return nil, pe
		}
	}
	return s.decryptValue(&resultField{col: col}, v)
}

// copySubjectField says how a COPY TO subject field is encoded: text.
var copySubjectField = &resultField{}

// copyInData handles a client CopyData/CopyDone/CopyFail during a COPY
// FROM STDIN phiguard rewrites. It returns what to send to the backend.
func (s *Session) copyInData(typ byte) ([]byte, error) {
	r := s.copyIn
	if r.aborted {
		if typ != pgwire.FeCopyData {
			s.copyIn = nil
		}
		return []byte{}, nil // dropped: the backend has already failed the COPY
	}
	if typ == pgwire.FeCopyFail {
		s.copyIn = nil
		return nil, nil
	}
	out, pe, err := s.copyInRows(r, typ)
	if err != nil {
		return nil, err
	}
	if pe != nil {
		// Fail the COPY in the backend with a marker, so the client sees
		// phiguard's reason where PostgreSQL reports the failure.
		r.aborted = true
		return copyFailMessage(s.refuseStatement(pe, nil)), nil
	}
	var msg []byte
	if len(out) > 0 {
		msg = copyDataMessage(out)
	}
	if typ == pgwire.FeCopyDone {
		s.copyIn = nil
		msg = append(msg, pgwire.FeCopyDone, 0, 0, 0, 4)
	}
	if msg == nil {
		return []byte{}, nil // a partial row: wait for the rest
	}
	return msg, nil
}

// copyInRows rewrites what a CopyData (or, for the last row without its
// newline, CopyDone) completes.
func (s *Session) copyInRows(r *copyRewriter, typ byte) ([]byte, *pgerr.Error, error) {
	var chunk []byte
	if typ == pgwire.FeCopyData {
		body, err := s.cr.Body()
		if err != nil {
			return nil, nil, err
		}
		chunk = body
	}
	if r.bin != nil {
		if typ == pgwire.FeCopyDone {
			if len(r.bin.buf) > 0 {
				return nil, binaryCopyError("the data ends inside a tuple"), nil
			}
			return nil, nil, nil
		}
		out, pe := r.feedBinary(chunk, func(i int, v []byte) ([]byte, *pgerr.Error) {
			return s.encryptValue(r.cols[i], 1, v, nil)
		})
		return out, pe, nil
	}
	if typ == pgwire.FeCopyData {
		out, pe := r.rewriteRows(r.split.Feed(chunk), s.encryptField)
		return out, pe, nil
	}
	last, _ := r.split.Finish()
	if last == nil {
		return nil, nil, nil
	}
	out, pe := r.rewriteRows([][]byte{last}, s.encryptField)
	return out, pe, nil
}

func copyDataMessage(payload []byte) []byte {
	msg := make([]byte, 5, 5+len(payload))
	msg[0] = pgwire.FeCopyData
	binary.BigEndian.PutUint32(msg[1:5], uint32(4+len(payload)))
	return append(msg, payload...)
}

func copyFailMessage(reason []byte) []byte {
	msg := make([]byte, 5, 6+len(reason))
	msg[0] = pgwire.FeCopyFail
	msg = append(append(msg, reason...), 0)
	binary.BigEndian.PutUint32(msg[1:5], uint32(len(msg)-1))
	return msg
}
