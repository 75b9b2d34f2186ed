package guard

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// resultField is how to present one field of the current result set: nil
// for a field phiguard leaves alone.
type resultField struct {
	col    *policy.ProtectedColumn // to decrypt; nil for a subject-only field
	format int16
	// subject is set when the field is its table's subject column (the
	// patient id): its values go into the statement's audit record.
	subject *policy.ProtectedTable
	// rule is the role's column rule for the field (masked, pseudonym,
	// null or deny; see access_result.go), typ the type the backend
	// sends it as. A pseudonym's keyer is not kept here but looked up at
	// each value (session.pseudonym), so that a description outliving a
	// withdrawal of the keys does not carry a key with it.
	rule *policy.ColumnRule
	typ  uint32
	// Where the field comes from and the policy its rule was read
	// under, to re-read the rule for a statement described before a
	// reload.
	table   uint32
	attnum  int16
	rulePol *policy.Policy
	// subjectAt is, for a per-subject column read together with its
	// table's subject column from the same row, that field's index plus
	// one; 0 when the cell is not bound to its row (protect_bind.go).
	subjectAt int
	// stale: a column of a protected table the catalog does not list,
	// added by another session's DDL since the catalog was read (perhaps
	// an encrypted column dropped and added again, under a new number):
	// the result is refused rather than passed with its cells
	// (fieldsRefusal).
	stale bool
	// computed names a generated column computed from an encrypted
	// column (catalog_computed.go): the result is refused.
	computed string
	// newRel: a field of a relation made since the catalog was read
	// (catalog.newRelation), which phiguard does not decrypt: a cell in
	// it is refused with 40001 (strayCellRefusal), and the catalog is
	// read before the next statement.
	newRel bool
}

// describeFields maps a RowDescription's fields to protected columns. When
// any is protected it returns the fields and the description to send
// instead, with each protected field's original type; otherwise both are
// nil and the original bytes are forwarded. a is the statement the result
// answers (nil if unknown), for binding cells to their row.
func (s *Session) describeFields(body []byte, a *sqlrewrite.Analysis) ([]*resultField, []byte, error) {
	cat := s.catalog.Load()
	rules := s.columnRules()
	if cat.empty() && rules == nil {
		return nil, nil, nil
	}
	if rules == nil {
		if m, ok := s.described.lookup(body, cat, a); ok {
			return m.fields, m.out, nil
		}
	}
	fields, out, err := s.mapFields(body, a, cat, rules)
	if err == nil && rules == nil {
		s.described.remember(body, describedResult{cat: cat, a: a, fields: fields, out: out})
	}
	return fields, out, err
}

// mapFields is describeFields without its memory.
func (s *Session) mapFields(body []byte, a *sqlrewrite.Analysis, cat *catalog, rules *ruleSet) ([]*resultField, []byte, error) {
	var rd pgproto3.RowDescription
	if err := rd.Decode(body); err != nil {
		return nil, nil, pgwire.Violation("malformed RowDescription from backend")
	}
	var fields []*resultField
	protected := false
	for i := range rd.Fields {
		f := &rd.Fields[i]
		col := cat.column(f.TableOID, int16(f.TableAttributeNumber))
		if rf := s.catalogField(cat, col, f); rf != nil {
			if fields == nil {
				fields = make([]*resultField, len(rd.Fields))
			}
			fields[i] = rf
			continue
		}
		var subj *policy.ProtectedTable
		if s.srv.auditor != nil {
			subj = cat.subject(f.TableOID, int16(f.TableAttributeNumber))
		}
		rule := rules.forField(f.TableOID, int16(f.TableAttributeNumber))
		if col == nil && subj == nil && rule == nil {
			continue
		}
		if fields == nil {
			fields = make([]*resultField, len(rd.Fields))
		}
		fields[i] = &resultField{col: col, format: f.Format, subject: subj, rule: rule, typ: f.DataTypeOID,
			table: f.TableOID, attnum: int16(f.TableAttributeNumber)}
		if rules != nil {
			fields[i].rulePol = rules.pol
		}
		if col != nil {
			protected = true
			f.DataTypeOID = col.Type.OID
			f.DataTypeSize = col.Type.Size
			f.TypeModifier = col.Type.Modifier
		}
		if rule != nil {
			protected = true
			if err := s.presentRuleField(fields[i], f); err != nil {
				return nil, nil, err
			}
		}
	}
	if !protected {
		return fields, nil, nil // subject ids to note, nothing to rewrite
	}
	bindSubjects(fields, &rd, cat, a)
	out, err := rd.Encode(nil)
	return fields, out, err
}

// catalogField is the field of a result column the catalog does not
// map as it stands, or nil: a column of a protected table it does not
// list (another session's DDL added it, perhaps an encrypted one
// dropped and added again: the result is refused, 40001, fieldsRefusal,
// and the next request reads a fresh catalog first, catalog_fresh.go),
// a column of a relation made since the read, and a generated column
// computed from an encrypted one (refused, 0A000, catalog_computed.go).
func (s *Session) catalogField(cat *catalog, col *policy.ProtectedColumn, f *pgproto3.FieldDescription) *resultField {
	if col != nil {
		return nil
	}
	rf := &resultField{table: f.TableOID, attnum: int16(f.TableAttributeNumber)}
	switch {
	case cat.unknownColumn(f.TableOID, rf.attnum):
		rf.stale = true
	case cat.newRelation(f.TableOID):
		rf.newRel = true
	case cat.computedColumn(f.TableOID, rf.attnum) != "":
		rf.computed = cat.computedColumn(f.TableOID, rf.attnum)
		return rf
	default:
		return nil
	}
	s.catalogStale.Store(true)
	return rf
}

// decryptDataRow returns the DataRow to send for a result with fields (nil
// when the row needs no change), noting subject ids into x. The row it
// returns lives in s.rowScratch: write or copy it before the next call.
func (s *Session) decryptDataRow(body []byte, fields []*resultField, x *expectation) ([]byte, *pgerr.Error) {
	r := &s.rowScratch
	cells, ok := decodeRowInto(r.cells[:0], body)
	if !ok || len(cells) != len(fields) {
		return nil, pgerr.New(pgerr.ProtocolViolation, "malformed DataRow from backend")
	}
	r.cells = cells
	if pe := s.checkRowSubjects(cells, fields); pe != nil {
		return nil, pe
	}
	changed := false
	for i, f := range fields {
		if f != nil && (f.stale || f.computed != "") {
			// Fields a statement was described with before another
			// session's DDL, used for its executions without Describe.
			return nil, fieldsRefusal(fields)
		}
		v := cells[i]
		if v == nil {
			continue
		}
		if (f == nil || f.col == nil && f.rule == nil) && keys.ContainsCell(v) { // strayCellRefusal
			return nil, s.strayCellRefusal("result column "+strconv.Itoa(i+1), f != nil && f.newRel)
		}
		changed = changed || f != nil && (f.rule != nil || f.col != nil)
	}
	if !changed {
		for i, f := range fields {
			if f != nil && f.subject != nil && cells[i] != nil {
				x.noteSubject(f.subject, subjectID(cells[i], f.format), s.srv.maxSubjects())
			}
		}
		return nil, nil
	}
	// Each value is written as soon as it is made: a decrypted one lives
	// in the scratch buffers only until the next (openCellScratch).
	out := append(r.out[:0], 'D', 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint16(out, uint16(len(cells)))
	for i, f := range fields {
		v, pe := s.rowValue(f, cells[i], x)
		if pe != nil {
			return nil, pe
		}
		out = appendField(out, v)
	}
	binary.BigEndian.PutUint32(out[1:5], uint32(len(out)-1))
	r.keep(out)
	return out, nil
}

// rowValue is what decryptDataRow sends for one field's value v: the
// column rule's output, the decrypted value, or v; subject ids are noted
// first, as the row is read.
func (s *Session) rowValue(f *resultField, v []byte, x *expectation) ([]byte, *pgerr.Error) {
	if f == nil || v == nil {
		return v, nil
	}
	if f.subject != nil {
		x.noteSubject(f.subject, subjectID(v, f.format), s.srv.maxSubjects())
	}
	switch {
	case f.rule != nil:
		return s.applyColumnRule(f, v)
	case f.col != nil:
		return s.decryptValueScratch(f, v)
	}
	return v, nil
}

// rowScratch is what decryptDataRow reuses from row to row, so that a
// result costs no garbage: the decoded row's value slice, the encoded
// row, and the buffers cells are decrypted into (openCellScratch). What
// decryptDataRow returns is valid until its next call.
type rowScratch struct {
	cells [][]byte
	out   []byte
	plain []byte
	keys  keys.Scratch
	// opened is the last cell openCellScratch decrypted while a held row
	// is read (holdSortedRow): a WHERE phiguard evaluates and the ORDER BY
	// key of one column (`WHERE last ILIKE … ORDER BY last`) open the same
	// cell, once.
	opened openedMemo
}

// openedMemo is a cell of a column and its plaintext (a copy).
type openedMemo struct {
	on    bool // within one held row
	valid bool
	col   *policy.ProtectedColumn
	cell  []byte // the row's bytes, valid while the row is read
	plain []byte
}

// recall is the memo's plaintext when it holds cell v of col.
func (m *openedMemo) recall(col *policy.ProtectedColumn, v []byte) ([]byte, bool) {
	if m.on && m.valid && m.col == col && bytes.Equal(m.cell, v) {
		return m.plain, true
	}
	return nil, false
}

// note keeps what a decryption of cell v of col gave.
func (m *openedMemo) note(col *policy.ProtectedColumn, v, plain []byte) {
	if m.on {
		m.col, m.cell, m.plain, m.valid = col, v, append(m.plain[:0], plain...), true
	}
}

// within turns the memo on for one held row, and returns what turns it
// off again.
func (m *openedMemo) within() func() {
	m.on, m.valid = true, false
	return func() { m.on, m.valid, m.cell = false, false, nil }
}

func (r *rowScratch) keep(out []byte) {
	if cap(out) <= maxKeptRow {
		r.out = out
	} else {
		r.out = nil
	}
}

// decryptValueScratch is decryptValue for a value written out before the
// next call (decryptDataRow): its plaintext may live in s.rowScratch.
func (s *Session) decryptValueScratch(f *resultField, v []byte) ([]byte, *pgerr.Error) {
	if keys.IsSubjectCell(v) {
		return s.decryptSubjectCell(f, v)
	}
	plain, state, pe := s.openCellScratch(f.col, v)
	if pe != nil {
		return nil, pe
	}
	if state == cellcipher.Legacy {
		return v, nil // legacy plaintext, before or during the backfill
	}
	return s.present(f.col, f.format, plain, cellcipher.PresentShared) // written out before the next cell
}

// maxKeptRow is the largest encoded row kept for reuse; a bigger one
// (a large text or bytea value) is let go.
const maxKeptRow = 64 << 10

func (s *Session) decryptValue(f *resultField, v []byte) ([]byte, *pgerr.Error) {
	col := f.col
	if keys.IsSubjectCell(v) {
		return s.decryptSubjectCell(f, v)
	}
	plain, state, pe := s.openCell(col, v)
	if pe != nil {
		return nil, pe
	}
	if state == cellcipher.Legacy {
		return v, nil // legacy plaintext, before or during the backfill
	}
	return s.presentValue(col, f.format, plain)
}

// presentValue turns a decrypted canonical value into the wire form of
// the column's original type, in the format the client asked for.
func (s *Session) presentValue(col *policy.ProtectedColumn, format int16, canon []byte) ([]byte, *pgerr.Error) {
	return s.present(col, format, canon, cellcipher.PresentIn)
}

// present is presentValue through a presenter: PresentIn gives a value of
// its own, PresentShared may give canon.
func (s *Session) present(col *policy.ProtectedColumn, format int16, canon []byte,
	presenter func(pgvalue.Converter, *policy.ProtectedColumn, int16, []byte) ([]byte, error)) ([]byte, *pgerr.Error) {
	conv, err := s.printConverter(col, format)
	if err != nil {
		return nil, pgerr.New(pgerr.FeatureNotSupported, err.Error())
	}
	out, err := presenter(conv, col, format, canon)
	if err != nil {
		return nil, pgerr.Newf(pgerr.DataCorrupted,
			"a value of encrypted column %s cannot be presented as %s", col.QualifiedName(), col.Type.Name)
	}
	return out, nil
}
