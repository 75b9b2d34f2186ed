package pgvalue

import (
	"bytes"
	"fmt"
	"github.com/phiguard/phiguard/internal/pgerr"
	"time"

	"github.com/phiguard/phiguard/policy"
)

// Wire format codes of the extended protocol (Bind parameter and result
// formats, RowDescription).
const (
	FormatText   int16 = 0
	FormatBinary int16 = 1
)

// Error is a value that cannot be converted. It names the type and the
// reason, never the value.
type Error struct {
	// Type is the logical type as the policy file writes it: "date",
	// "varchar(20)", "numeric(14,2)".
	Type string
	// Format is the wire format of the input (FormatText or FormatBinary).
	Format int16
	// Reason says what is wrong, without the value.
	Reason string
	// Unsupported is set for input PostgreSQL would accept but this package
	// does not (a named time zone, DateStyle-dependent field order, a value
	// that depends on the clock). Without it the value is invalid for
	// PostgreSQL too.
	Unsupported bool
	// OutOfRange is set when the value is well-formed but outside the type's
	// range or the column's modifier (SQLSTATE 22003, 22008 or 22001 in
	// PostgreSQL, where the others are 22P02 or 22007).
	OutOfRange bool
	// Code is the SQLSTATE PostgreSQL raises for this input, where the
	// package knows it ("" where it does not: the proxy says 22P02).
	Code pgerr.Code
	// Message is PostgreSQL's own message for the error, where that
	// message holds no part of the value ("value too long for type
	// character varying(5)"); else "".
	Message string
}

func (e *Error) Error() string {
	f := "text"
	if e.Format == FormatBinary {
		f = "binary"
	}
	if e.Unsupported {
		return fmt.Sprintf("unsupported %s input for type %s: %s", f, e.Type, e.Reason)
	}
	return fmt.Sprintf("invalid %s input for type %s: %s", f, e.Type, e.Reason)
}

// Converter converts values for one session. The zero value is a session
// with TimeZone UTC.
type Converter struct {
	// TimeZone is the session's TimeZone setting (nil means UTC). It only
	// matters for timestamptz: text input without an offset is read in it,
	// and Present writes text in it. Canonical text is always in UTC.
	TimeZone *time.Location
	// DateStyle is the session's DateStyle: Present writes dates and
	// timestamps in its style, Canonical reads day/month/year fields in
	// its order. Canonical text is always ISO.
	DateStyle DateStyle
	// IntervalStyle is the session's IntervalStyle: "postgres" (or ""),
	// "postgres_verbose", "sql_standard" or "iso_8601". Present writes
	// intervals in it; Canonical reads a signed sql_standard interval
	// as PostgreSQL does under it. Canonical text is postgres style.
	IntervalStyle string
	// RoundFloats is set when the session's extra_float_digits is 0 or
	// less: Present then writes real and double precision rounded to
	// 6+ExtraFloatDigits and 15+ExtraFloatDigits significant digits.
	// Unset (the default, extra_float_digits 1 or more), it writes the
	// shortest text that reads back exactly, which is also the canonical
	// text.
	RoundFloats      bool
	ExtraFloatDigits int
	// ByteaEscape is bytea_output = escape: Present writes bytea in the
	// escape format instead of hex (canonical text is hex).
	ByteaEscape bool
}

// Canonical converts a value of type t, as a client sent it in the given
// format (or as a literal's text, format 0), to its canonical text: what
// PostgreSQL's output function prints for it with DateStyle ISO and
// TimeZone UTC, after applying t's modifier. See the package documentation.
func Canonical(t policy.LogicalType, format int16, wire []byte) ([]byte, error) {
	return Converter{}.Canonical(t, format, wire)
}

// Present converts a canonical text of type t (any text input Canonical
// accepts is tolerated, so legacy plaintext presents too) to the wire bytes
// of t in the given format: PostgreSQL's text output with DateStyle ISO and
// TimeZone UTC for format 0, its send format for format 1.
func Present(t policy.LogicalType, format int16, canonical []byte) ([]byte, error) {
	return Converter{}.Present(t, format, canonical)
}

// Canonical is the package-level Canonical in the converter's session.
func (c Converter) Canonical(t policy.LogicalType, format int16, wire []byte) ([]byte, error) {
	if format != FormatText && format != FormatBinary {
		return nil, &Error{Type: t.String(), Format: format, Reason: fmt.Sprintf("unknown format code %d", format)}
	}
	v, err := c.decode(t, format, wire)
	if err != nil {
		return nil, err
	}
	return v.text(time.UTC), nil
}

// CanonicalShared is Canonical for a caller done with the result before
// wire changes (a Bind's value, sealed at once): a text value, which is
// its own canonical text once the checks pass, is returned as wire
// itself instead of a copy.
func (c Converter) CanonicalShared(t policy.LogicalType, format int16, wire []byte) ([]byte, error) {
	if t.OID == policy.OIDText && (format == FormatText || format == FormatBinary) {
		if err := (decoder{t: t, f: format}).checkText(wire); err != nil {
			return nil, err
		}
		return wire, nil
	}
	return c.Canonical(t, format, wire)
}

// PresentShared is Present for a caller that writes the result out before
// canonical changes (a DataRow built value by value): a text column's
// value, and an ordinary date's in ISO style text, is canonical itself
// instead of a copy (a sorted read of 100 birth dates made 100 copies).
// Never nil, as Present.
func (c Converter) PresentShared(t policy.LogicalType, format int16, canonical []byte) ([]byte, error) {
	if t.OID == policy.OIDDate && format == FormatText && c.DateStyle.iso() {
		if _, ok := DateDays(canonical); ok {
			return canonical, nil
		}
	}
	if t.OID == policy.OIDText && (format == FormatText || format == FormatBinary) {
		if err := (decoder{t: t, f: FormatText}).checkText(canonical); err != nil {
			return nil, err
		}
		if canonical == nil {
			return []byte{}, nil
		}
		return canonical, nil
	}
	return c.Present(t, format, canonical)
}

// Present is the package-level Present in the converter's session. Its
// result is never nil, so an empty value (an empty text, bytea or
// varchar) is not mistaken for NULL by a caller that builds a DataRow.
func (c Converter) Present(t policy.LogicalType, format int16, canonical []byte) ([]byte, error) {
	out, err := c.present(t, format, canonical)
	if err == nil && out == nil {
		out = []byte{}
	}
	return out, err
}

func (c Converter) present(t policy.LogicalType, format int16, canonical []byte) ([]byte, error) {
	if format != FormatText && format != FormatBinary {
		return nil, &Error{Type: t.String(), Format: format, Reason: fmt.Sprintf("unknown format code %d", format)}
	}
	if t.OID == policy.OIDText {
		// The most common case, and the one with nothing to convert: the
		// value is its canonical text in either format, once decode's
		// checks pass. Skipping the value it would build saves two copies.
		if err := (decoder{t: t, f: FormatText}).checkText(canonical); err != nil {
			return nil, err
		}
		return bytes.Clone(canonical), nil
	}
	if t.OID == policy.OIDDate {
		if out, ok := c.presentDate(format, canonical); ok {
			return out, nil
		}
	}
	// Canonical text is postgres style: read it so, whatever the
	// session's IntervalStyle.
	reader := c
	reader.IntervalStyle = ""
	v, err := reader.decode(t, FormatText, canonical)
	if err != nil {
		return nil, err
	}
	if format == FormatBinary {
		return v.binary(), nil
	}
	switch sv := v.(type) {
	case styled:
		return sv.styledText(c.loc(), c.DateStyle), nil
	case sessionStyled:
		return sv.sessionText(c), nil
	}
	return v.text(c.loc()), nil
}

func (c Converter) loc() *time.Location {
	if c.TimeZone == nil {
		return time.UTC
	}
	return c.TimeZone
}

// value is a decoded value of one of the supported types.
type value interface {
	// text is PostgreSQL's text output; loc matters for timestamptz only.
	text(loc *time.Location) []byte
	binary() []byte
}

// sessionStyled is a value whose text depends on a session setting
// other than DateStyle and TimeZone (extra_float_digits, IntervalStyle,
// bytea_output).
type sessionStyled interface {
	sessionText(c Converter) []byte
}

// decoder turns input of a type into a value; e builds errors.
type decoder struct {
	t     policy.LogicalType
	loc   *time.Location
	f     int16
	order string // DateStyle's field order: "MDY", "DMY" or "YMD"
	// sqlStandard: IntervalStyle is sql_standard, under which a leading
	// sign of an interval applies to all its fields.
	sqlStandard bool
}

func (d decoder) err(format string, args ...any) *Error {
	return &Error{Type: d.t.String(), Format: d.f, Reason: fmt.Sprintf(format, args...)}
}

func (d decoder) unsupported(format string, args ...any) *Error {
	e := d.err(format, args...)
	e.Unsupported = true
	return e
}

func (d decoder) outOfRange(format string, args ...any) *Error {
	e := d.err(format, args...)
	e.OutOfRange = true
	return e
}

// coded is an error with PostgreSQL's SQLSTATE and, when it holds no
// part of the value, PostgreSQL's message.
func (d decoder) coded(code pgerr.Code, pgMessage, format string, args ...any) *Error {
	e := d.err(format, args...)
	e.Code, e.Message = code, pgMessage
	e.OutOfRange = code == pgerr.NumericValueOutOfRange || code == pgerr.DatetimeFieldOverflow || code == pgerr.StringDataRightTruncation
	return e
}

func (c Converter) decode(t policy.LogicalType, format int16, in []byte) (value, error) {
	d := decoder{t: t, loc: c.loc(), f: format, order: c.DateStyle.Order, sqlStandard: c.IntervalStyle == "sql_standard"}
	bin := format == FormatBinary
	if elem, ok := t.Element(); ok {
		if bin {
			return d.arrayBinary(c, elem, in)
		}
		return d.arrayText(c, elem, in)
	}
	if v, ok, err := d.decodeMore(in); ok {
		return v, err
	}
	switch t.OID {
	case policy.OIDText, policy.OIDVarchar:
		return d.text(in)
	case policy.OIDInt2, policy.OIDInt4, policy.OIDInt8:
		if bin {
			return d.intBinary(in)
		}
		return d.intText(in)
	case policy.OIDBool:
		if bin {
			return d.boolBinary(in)
		}
		return d.boolText(in)
	case policy.OIDNumeric:
		if bin {
			return d.numericBinary(in)
		}
		return d.numericText(in)
	case policy.OIDDate:
		if bin {
			return d.dateBinary(in)
		}
		return d.dateText(in)
	case policy.OIDTimestamp, policy.OIDTimestamptz:
		if bin {
			return d.timestampBinary(in)
		}
		return d.timestampText(in)
	}
	return nil, &Error{Type: t.String(), Format: format, Reason: fmt.Sprintf("type OID %d is not supported", t.OID), Unsupported: true}
}
