package proxy

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// resultField is how to present one field of the current result set: nil
// for a field phiguard leaves alone.
type resultField struct {
	col    *policy.ProtectedColumn
	format int16
}

// protectRowDescription maps a RowDescription's fields to protected
// columns. When any is protected it returns the description to send
// instead — with each protected field's original type — and remembers how
// to decrypt the rows that follow; otherwise it returns nil and the
// original bytes are forwarded.
func (s *session) protectRowDescription(body []byte) ([]byte, error) {
	s.result = nil
	if len(s.catalog) == 0 {
		return nil, nil
	}
	var rd pgproto3.RowDescription
	if err := rd.Decode(body); err != nil {
		return nil, &errProtocol{"malformed RowDescription from backend"}
	}
	var fields []*resultField
	for i := range rd.Fields {
		f := &rd.Fields[i]
		col := s.catalog.column(f.TableOID, int16(f.TableAttributeNumber))
		if col == nil {
			continue
		}
		if fields == nil {
			fields = make([]*resultField, len(rd.Fields))
		}
		fields[i] = &resultField{col: col, format: f.Format}
		f.DataTypeOID = col.Type.OID
		f.DataTypeSize = col.Type.Size
		f.TypeModifier = col.Type.Modifier
	}
	if fields == nil {
		return nil, nil
	}
	s.result = fields
	return rd.Encode(nil)
}

// decryptDataRow returns the DataRow to send for the current result set.
func (s *session) decryptDataRow(body []byte) ([]byte, *pgError) {
	var row pgproto3.DataRow
	if err := row.Decode(body); err != nil || len(row.Values) != len(s.result) {
		return nil, &pgError{Severity: severityError, Code: CodeProtocolViolation, Message: "malformed DataRow from backend"}
	}
	for i, f := range s.result {
		if f == nil || row.Values[i] == nil {
			continue
		}
		v, pe := s.decryptValue(f, row.Values[i])
		if pe != nil {
			return nil, pe
		}
		row.Values[i] = v
	}
	out, err := row.Encode(nil)
	if err != nil {
		return nil, &pgError{Severity: severityError, Code: CodeInternalError, Message: "phiguard could not encode a decrypted row"}
	}
	return out, nil
}

func (s *session) decryptValue(f *resultField, v []byte) ([]byte, *pgError) {
	col := f.col
	if !keys.IsCell(v) {
		if col.FullyEncrypted() {
			return nil, &pgError{Severity: severityError, Code: CodeDataCorrupted, Message: fmt.Sprintf(
				"column %s is marked fully encrypted but holds a plaintext value; phiguard does not pass it on", col.QualifiedName())}
		}
		return v, nil // legacy plaintext, before or during the backfill
	}
	plain, err := s.srv.protect.Keyring.Decrypt(cellColumn(col), v)
	if err != nil {
		return nil, keyError(col, err)
	}
	return presentValue(col, f.format, plain)
}

// presentValue turns a decrypted canonical value into the wire form the
// client asked for. Text and varchar are the same in both formats.
func presentValue(col *policy.ProtectedColumn, format int16, canon []byte) ([]byte, *pgError) {
	switch col.Type.OID {
	case 25, 1043:
		return canon, nil
	}
	return nil, &pgError{Severity: severityError, Code: CodeFeatureNotSupported, Message: fmt.Sprintf(
		"presenting encrypted column %s as %s is not supported yet", col.QualifiedName(), col.Type.Name)}
}

// protectResult handles result messages when a policy is loaded. It
// reports whether it wrote (or dropped) the message itself.
func (s *session) protectResult(typ byte) (bool, error) {
	if s.suppress && (typ == beDataRow || typ == beCommandComplete) {
		return true, nil // the rest of a result phiguard already failed
	}
	switch typ {
	case beRowDescription:
		body, err := s.br.body()
		if err != nil {
			return false, err
		}
		out, err := s.protectRowDescription(body)
		if err != nil || out == nil {
			return false, err
		}
		_, err = s.cw.Write(out)
		return true, err
	case beDataRow:
		if s.result == nil {
			return false, nil
		}
		body, err := s.br.body()
		if err != nil {
			return false, err
		}
		out, pe := s.decryptDataRow(body)
		if pe != nil {
			s.log.Warn("result refused", zap.String("sqlstate", string(pe.Code)))
			s.srv.metrics.Errors.WithLabelValues(string(pe.Code[:2]), "phiguard").Inc()
			s.result, s.suppress = nil, true
			out = pe.encode()
		}
		_, err = s.cw.Write(out)
		return true, err
	default: // CommandComplete, EmptyQueryResponse end a result set
		s.result = nil
		return false, nil
	}
}
