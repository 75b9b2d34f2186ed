package guard

import (
	"context"
	"errors"
	"time"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgerr"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Crypto-shredding on the wire (docs/design/crypto-shredding.md): a write
// into a column sealed per subject (policy.ProtectedColumn.PerSubject) is
// encrypted under the key of the row's subject, whose id the plan points
// at (a literal, a parameter, or a COPY field); a read of a cell whose
// subject key was shredded yields NULL, or the configured marker for text
// columns, and an audit record — never an error that aborts the query.

// subjectKeyTimeout bounds one key store request on the session's path.
const subjectKeyTimeout = 10 * time.Second

// maxShredNotes bounds the (subject key, column) pairs a session remembers
// having audited; beyond it the set starts again.
const maxShredNotes = 1024

// subjectSource is where a prepared statement's parameter gets its row's
// subject: a literal of the statement's text, or another parameter.
type subjectSource struct {
	literal []byte // the literal's value; nil when param is set
	param   int
}

// literalSubject reads the subject literal a slot points at.
func literalSubject(sql []byte, spans [][2]int, ref *sqlrewrite.SubjectRef, col *policy.ProtectedColumn) ([]byte, *pgerr.Error) {
	if ref.Literal < 0 || ref.Literal >= len(spans) {
		return nil, internalRefusal(col, "subject literal positions disagree")
	}
	sp := spans[ref.Literal]
	v, ok := sqlrewrite.LiteralValue(sql[sp[0]:sp[1]])
	if !ok {
		return nil, pgerr.Newf(pgerr.FeatureNotSupported,
			"column %s is sealed per subject: write the subject column %s as a plain '...' literal or a parameter",
			col.QualifiedName(), col.Table.SubjectQualifiedName())
	}
	return v, nil
}

// bindSubject reads a Bind parameter that is a row's subject. Only the
// text format is accepted: a binary value's meaning depends on a type
// phiguard does not track, and a subject id read wrongly would seal the
// row under a key `phiguard shred` could never find.
func bindSubject(params [][]byte, formats []int16, n int, col *policy.ProtectedColumn) ([]byte, *pgerr.Error) {
	i := n - 1
	switch {
	case i < 0 || i >= len(params):
		return nil, pgerr.Newf(pgerr.ProtocolViolation, "bind message supplies %d parameters, the statement needs $%d", len(params), n)
	case params[i] == nil:
		return nil, subjectNullError(col)
	case formats[i] != 0:
		return nil, pgerr.Newf(pgerr.FeatureNotSupported,
			"column %s is sealed per subject: send the subject column %s ($%d) in text format",
			col.QualifiedName(), col.Table.SubjectQualifiedName(), n)
	}
	return params[i], nil
}

func subjectNullError(col *policy.ProtectedColumn) *pgerr.Error {
	return pgerr.Newf(pgerr.NotNullViolation,
		"column %s is sealed per subject and the row's subject column %s is NULL", col.QualifiedName(), col.Table.SubjectQualifiedName())
}

// sealError maps the column cipher's refusal to seal a value to the
// client's error: never a plaintext write.
func (s *Session) sealError(col *policy.ProtectedColumn, err error) *pgerr.Error {
	switch {
	case errors.Is(err, cellcipher.ErrNoSubject):
		return subjectNullError(col)
	case errors.Is(err, keys.ErrShredded):
		return pgerr.Newf(pgerr.SubjectShredded,
			"column %s: the row's subject (%s) was shredded; phiguard writes no new data for it",
			col.QualifiedName(), col.Table.SubjectQualifiedName())
	case errors.Is(err, cellcipher.ErrNoSubjectKeys):
		return noSubjectKeys(col)
	}
	if col.PerSubject() {
		s.log.Warn("subject key unavailable")
	}
	return keyError(col, err)
}

// noSubjectKeys is the error a write or read of a per-subject column gets
// when phiguard runs without subject keys.
func noSubjectKeys(col *policy.ProtectedColumn) *pgerr.Error {
	return pgerr.Newf(pgerr.KeyUnavailable,
		"column %s is sealed per subject but phiguard has no subject keys (key id %q, a provider that stores subject keys)",
		col.QualifiedName(), keys.SubjectKeyID)
}

// decryptSubjectCell opens a cell sealed per subject. A shredded subject
// gives NULL (or the marker), and ok true: the query goes on.
func (s *Session) decryptSubjectCell(f *resultField, v []byte) ([]byte, *pgerr.Error) {
	col := f.col
	plain, state, pe := s.openCell(col, v)
	if pe != nil {
		return nil, pe
	}
	if state == cellcipher.Shredded {
		if m := s.srv.protect.ShreddedMarker; m != "" && isTextType(col) {
			return []byte(m), nil
		}
		return nil, nil
	}
	return s.presentValue(col, f.format, plain)
}

// openCell opens a stored value of a protected column with the column
// cipher (legacy plaintext comes back as stored, a shredded subject's cell
// as nil) and maps its failures to the client's error. A shredded read is
// audited.
func (s *Session) openCell(col *policy.ProtectedColumn, v []byte) ([]byte, cellcipher.State, *pgerr.Error) {
	var ctx context.Context = context.Background()
	if keys.IsSubjectCell(v) {
		lt := newLazyTimeout(subjectKeyTimeout)
		defer lt.stop()
		ctx = lt
	}
	plain, state, err := s.srv.protect.cipher().Open(ctx, col, v)
	return s.openedCell(col, v, plain, state, err)
}

// openCellScratch is openCell for a value the caller is done with before
// its next call (presented into a row being encoded, or compared): a cell
// under a column key is decrypted into s.rowScratch's buffers, reused
// from value to value, and costs no allocation. Backend pump, as
// rowScratch.
func (s *Session) openCellScratch(col *policy.ProtectedColumn, v []byte) ([]byte, cellcipher.State, *pgerr.Error) {
	r := &s.rowScratch
	// A cell the row opened already (a WHERE's re-check, then the sort
	// key of the same column) is a column key's: only those are noted.
	if plain, ok := r.opened.recall(col, v); ok {
		return plain, cellcipher.Opened, nil
	}
	// Under the column key first: only a value that does not open so
	// can be a subject cell (OpenColumnKeyInto), which then goes its own
	// way, as the check before each cell had sent it.
	plain, state, err := s.srv.protect.cipher().OpenColumnKeyInto(&r.keys, r.plain, col, v)
	if err == nil && state == cellcipher.Opened {
		r.plain = plain[:0] // the array, grown to the largest value yet
		r.opened.note(col, v, plain)
		return plain, state, nil
	}
	if keys.IsSubjectCell(v) {
		return s.openCell(col, v)
	}
	return s.openedCell(col, v, plain, state, err)
}

// openedCell is openCell's answer for what the cipher returned.
func (s *Session) openedCell(col *policy.ProtectedColumn, v, plain []byte, state cellcipher.State, err error) ([]byte, cellcipher.State, *pgerr.Error) {
	switch {
	case err == nil:
		if state == cellcipher.Shredded {
			s.noteShredded(col, v)
		}
		return plain, state, nil
	case errors.Is(err, cellcipher.ErrPlaintextInEncrypted):
		return nil, state, pgerr.Newf(pgerr.DataCorrupted,
			"column %s is marked fully encrypted but holds a plaintext value; phiguard does not pass it on", col.QualifiedName())
	case errors.Is(err, cellcipher.ErrNoSubjectKeys):
		return nil, state, noSubjectKeys(col)
	}
	return nil, state, keyError(col, err)
}

// isTextType says whether the marker text can stand in for a value of the
// column: only for text and varchar; other types read NULL.
func isTextType(col *policy.ProtectedColumn) bool {
	return col.Type.OID == oidText || col.Type.OID == 1043
}

// noteShredded writes one audit record per session, subject key and column.
func (s *Session) noteShredded(col *policy.ProtectedColumn, cell []byte) {
	s.srv.metrics.ShreddedReads.Inc()
	if s.srv.auditor == nil {
		return
	}
	info, err := keys.Inspect(cell)
	if err != nil {
		return
	}
	k := info.KeyID + "\x00" + col.QualifiedName()
	if s.shredNotes[k] {
		return
	}
	if s.shredNotes == nil || len(s.shredNotes) >= maxShredNotes {
		s.shredNotes = map[string]bool{}
	}
	s.shredNotes[k] = true
	s.record(&audit.ShreddedRead{Session: s.auditSessionInfo(), KeyID: info.KeyID, Column: col.QualifiedName()})
}
