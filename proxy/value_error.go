package proxy

import (
	"errors"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/policy"
)

// invalidValue is the error for a value phiguard cannot convert to an
// encrypted column's type (pgvalue.Error), with the SQLSTATE PostgreSQL
// raises for the same value on the plaintext column, so that a client
// cannot tell the two apart by it: 22001 (too long for varchar(n)),
// 22003 (a number out of range), 22008 (a date or time out of range),
// 22007 (not a date or time), 22P03 (malformed binary), 22P02 otherwise.
// A value pgvalue does not read but PostgreSQL might (a date in another
// spelling) is not invalid: phiguard refuses it as a construct it cannot
// run (0A000) rather than tell the client a value is wrong that
// PostgreSQL would have taken. The message never holds the value.
func invalidValue(col *policy.ProtectedColumn, err error) *pgerr.Error {
	code := pgerr.InvalidTextRepresentation
	var ve *pgvalue.Error
	if errors.As(err, &ve) {
		code = valueErrorCode(col.Type, ve)
	}
	if code == pgerr.FeatureNotSupported {
		return pgerr.Newf(code, "column %s is encrypted (%s): phiguard cannot read this value for it: %v",
			col.QualifiedName(), col.Type.Name, err)
	}
	return pgerr.Newf(code, "invalid value for encrypted column %s (%s): %v", col.QualifiedName(), col.Type.Name, err)
}

func valueErrorCode(t policy.LogicalType, ve *pgvalue.Error) pgerr.Code {
	datetime := false
	switch t.Name {
	case "date", "timestamp", "timestamptz", "time", "timetz", "interval":
		datetime = true
	}
	switch {
	case ve.Unsupported:
		return pgerr.FeatureNotSupported
	case ve.OutOfRange && datetime:
		return pgerr.DatetimeFieldOverflow
	case ve.OutOfRange && (t.Name == "varchar" || t.Name == "char" || t.Name == "bpchar"):
		return pgerr.StringDataRightTruncation
	case ve.OutOfRange:
		return pgerr.NumericValueOutOfRange
	case ve.Format == pgvalue.FormatBinary:
		return pgerr.InvalidBinaryRepresentation
	case datetime:
		return pgerr.InvalidDatetimeFormat
	}
	return pgerr.InvalidTextRepresentation
}
