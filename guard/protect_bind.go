package guard

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"

	"github.com/phiguard/phiguard/internal/pgerr"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// Cells bound to their row (docs/design/crypto-shredding.md, "Cells bound
// to their row"). A cell's associated data binds it to its column, not to
// its row: a cell copied in the database from patient A's row into B's
// decrypts, as A's value. A cell sealed per subject names its subject's
// key by a keyed hash of the subject id, though, so when a result carries
// both such a cell and its table's subject column from the same row,
// phiguard checks that the cell was sealed for that subject, and fails the
// statement with XX001 when it was not. No key store request and no
// allocation is needed per row (keys.SubjectKeys.SealedFor).

// bindSubjects ties each per-subject column of a result to its table's
// subject column in the same result, when both come from the same row:
// from the same table (RowDescription's table OID) which the statement
// reads only once (a self-join, a UNION or a subquery over the same table
// gives two occurrences that a RowDescription does not tell apart). It
// adds a field for a subject column that had none, so that its format
// follows the portal's.
func bindSubjects(fields []*resultField, rd *pgproto3.RowDescription, cat *catalog, a *sqlrewrite.Analysis) {
	for _, f := range fields {
		if f == nil || f.col == nil || !f.col.PerSubject() {
			continue
		}
		j := subjectFieldOf(rd, cat, f.table)
		if j < 0 || !a.ReadsOnce(f.col.Table.Name.Name) {
			continue
		}
		if fields[j] == nil {
			fd := &rd.Fields[j]
			fields[j] = &resultField{format: fd.Format, typ: fd.DataTypeOID, table: fd.TableOID, attnum: int16(fd.TableAttributeNumber)}
		}
		f.subjectAt = j + 1
	}
}

// subjectFieldOf returns the index of the first field that is the subject
// column of table, or -1.
func subjectFieldOf(rd *pgproto3.RowDescription, cat *catalog, table uint32) int {
	for j := range rd.Fields {
		fd := &rd.Fields[j]
		if fd.TableOID == table && cat.subject(table, int16(fd.TableAttributeNumber)) != nil {
			return j
		}
	}
	return -1
}

// checkRowSubjects fails a row holding a per-subject cell that was not
// sealed for the subject its row's subject column names. It runs before
// any column rule has replaced a value, so it sees the stored subject.
func (s *Session) checkRowSubjects(values [][]byte, fields []*resultField) *pgerr.Error {
	for i, f := range fields {
		if f == nil || f.subjectAt == 0 || values[i] == nil {
			continue
		}
		if f.rule != nil && f.rule.Action == policy.ActionNull {
			continue // shown as NULL whatever it holds
		}
		sf := fields[f.subjectAt-1]
		if pe := s.checkRowSubject(f.col, values[i], sf, values[f.subjectAt-1]); pe != nil {
			return pe
		}
	}
	return nil
}

// checkRowSubject checks one cell against its row's subject value (nil
// when NULL; sf says how it is encoded). A NULL subject is taken as the
// empty id, which no subject written through phiguard has (a write with a
// NULL subject is refused), so a cell moved into a row without a subject
// fails too.
func (s *Session) checkRowSubject(col *policy.ProtectedColumn, cell []byte, sf *resultField, subject []byte) *pgerr.Error {
	sk := s.srv.protect.subjects()
	if sk == nil || !keys.IsSubjectCell(cell) {
		// A cell still under the column key (written before the table
		// named its subject column) names no subject; without subject
		// keys the decryption refuses the cell anyway.
		return nil
	}
	var buf [36]byte
	if subject != nil {
		var ok bool
		if subject, ok = subjectText(&buf, subject, sf.format, sf.typ); !ok {
			return nil // a binary subject of a type phiguard does not read
		}
	}
	if sk.SealedFor(cell, subject) {
		return nil
	}
	return s.movedCell(col)
}

// movedCell is the error of a cell sealed for another subject than its
// row's; it names table and columns, never a value or a subject id.
func (s *Session) movedCell(col *policy.ProtectedColumn) *pgerr.Error {
	s.srv.metrics.MovedCells.Inc()
	s.log.Warn("cell sealed for another subject than its row",
		zap.String("column", col.QualifiedName()), zap.String("subject_column", col.Table.SubjectQualifiedName()))
	return pgerr.Newf(pgerr.DataCorrupted,
		"a value of column %s was sealed for another subject than its row's %s: it was moved between rows in the database; phiguard does not pass it on",
		col.QualifiedName(), col.Table.SubjectQualifiedName())
}

// Type OIDs a binary subject value can be read as.
const (
	oidName = 19
	oidInt8 = 20
	oidInt2 = 21
	oidInt4 = 23
	oidUUID = 2950
)

// subjectText is a subject value as the text its tag was computed from:
// the text format as it is; the binary format of uuid, integer and text
// types converted. ok is false for another type in binary.
func subjectText(buf *[36]byte, v []byte, format int16, typ uint32) ([]byte, bool) {
	if format == 0 {
		return v, true
	}
	switch {
	case typ == oidText || typ == oidVarchar || typ == oidBpchar || typ == oidName:
		return v, true
	case typ == oidUUID && len(v) == 16:
		hex.Encode(buf[0:8], v[0:4])
		hex.Encode(buf[9:13], v[4:6])
		hex.Encode(buf[14:18], v[6:8])
		hex.Encode(buf[19:23], v[8:10])
		hex.Encode(buf[24:36], v[10:16])
		buf[8], buf[13], buf[18], buf[23] = '-', '-', '-', '-'
		return buf[:], true
	case typ == oidInt8 && len(v) == 8:
		return strconv.AppendInt(buf[:0], int64(binary.BigEndian.Uint64(v)), 10), true
	case typ == oidInt4 && len(v) == 4:
		return strconv.AppendInt(buf[:0], int64(int32(binary.BigEndian.Uint32(v))), 10), true
	case typ == oidInt2 && len(v) == 2:
		return strconv.AppendInt(buf[:0], int64(int16(binary.BigEndian.Uint16(v))), 10), true
	}
	return nil, false
}
