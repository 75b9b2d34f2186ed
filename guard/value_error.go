package guard

import (
	"errors"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/policy"
)

// valueError is the error for a value phiguard cannot convert to an
// encrypted column's type (pgvalue.Error), with the SQLSTATE PostgreSQL
// raises for the same value on the plaintext column, so that a client
// cannot tell the two apart by it: the code pgvalue knows (with
// PostgreSQL's own message where that holds no part of the value: "value
// too long for type character varying(5)"), else by the error's kind
// (valueErrorCode): 22001, 22003, 22008, 22007, 22P03, 22P02. A value
// pgvalue does not read but PostgreSQL might (a date in another spelling)
// is not invalid: phiguard refuses it as a construct it cannot run (0A000)
// rather than tell the client a value is wrong that PostgreSQL would have
// taken. The message never holds the value.
func valueError(col *policy.ProtectedColumn, err error) *pgerr.Error {
	var ve *pgvalue.Error
	if !errors.As(err, &ve) {
		return pgerr.Newf(pgerr.InvalidTextRepresentation,
			"invalid value for encrypted column %s (%s): %v", col.QualifiedName(), col.Type.Name, err)
	}
	code := valueErrorCode(col.Type.Scalar(), ve) // an array's errors are its elements'
	switch {
	case code == pgerr.FeatureNotSupported:
		return pgerr.Newf(code, "column %s is encrypted and phiguard cannot read this %s value: %v",
			col.QualifiedName(), col.Type.Name, err)
	case ve.Code != "" && ve.Message != "":
		return pgerr.New(ve.Code, ve.Message)
	case ve.Code != "":
		code = ve.Code
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
