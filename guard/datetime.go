package guard

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // every zone name PostgreSQL accepts, whatever the host has

	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/policy"
)

// The session's DateStyle and TimeZone. PostgreSQL reads a date like
// 02/03/2024 in DateStyle's field order and prints dates and timestamps
// in its style (ISO, SQL, Postgres, German); phiguard follows the
// DateStyle the backend reports, so an encrypted date is read and shown
// as PostgreSQL would show the plaintext one (internal/pgvalue).
//
// PostgreSQL reads a timestamptz written without
// an offset ('2024-01-01 10:00') in the session's TimeZone, and prints a
// timestamptz in it. A cell holds the instant (its canonical text is in
// UTC), so phiguard must read and print in the same zone: it follows the
// TimeZone the backend reports in ParameterStatus, at login and after
// every SET, RESET or transaction rollback that changes it. A zone Go
// cannot load (PostgreSQL accepts POSIX specifications too) gives an
// error for timestamptz values, never a value read in another zone.

// sessionZone is a reported TimeZone and its location (nil when phiguard
// cannot follow it).
type sessionZone struct {
	name string
	loc  *time.Location
}

// noteTimeZone records the TimeZone the backend reported.
func (s *Session) noteTimeZone(name string) {
	s.timeZone.Store(&sessionZone{name: name, loc: loadZone(name)})
}

// noteDateStyle records the DateStyle the backend reported.
func (s *Session) noteDateStyle(setting string) {
	ds, ok := pgvalue.ParseDateStyle(setting)
	s.dateStyle.Store(&sessionDateStyle{setting: setting, style: ds, ok: ok})
}

// sessionDateStyle is a reported DateStyle, and whether phiguard reads it.
type sessionDateStyle struct {
	setting string
	style   pgvalue.DateStyle
	ok      bool
}

// converterFor is how values of col are read and printed in this
// session: dates and timestamps depend on its DateStyle, a timestamptz
// on its TimeZone too.
func (s *Session) converterFor(col *policy.ProtectedColumn) (pgvalue.Converter, error) {
	var conv pgvalue.Converter
	switch col.Type.Scalar().OID { // an array's elements are read and printed as the element type
	case policy.OIDDate, policy.OIDTimestamp, policy.OIDTimestamptz:
	case policy.OIDTimetz:
		return s.withZone(conv, col) // a timetz without an offset takes the zone's
	case policy.OIDInterval:
		return s.intervalConverter(col)
	default:
		return conv, nil
	}
	if ds := s.dateStyle.Load(); ds != nil {
		if !ds.ok {
			return conv, fmt.Errorf("phiguard cannot read or print encrypted %s column %s under DateStyle %q", col.Type.Name, col.QualifiedName(), ds.setting)
		}
		conv.DateStyle = ds.style
	}
	if col.Type.Scalar().OID != policy.OIDTimestamptz {
		return conv, nil
	}
	return s.withZone(conv, col)
}

// withZone sets the session's TimeZone in conv.
func (s *Session) withZone(conv pgvalue.Converter, col *policy.ProtectedColumn) (pgvalue.Converter, error) {
	z := s.timeZone.Load()
	if z == nil {
		return conv, nil // none reported: the server's default is UTC here
	}
	if z.loc == nil {
		return conv, fmt.Errorf(
			"phiguard cannot read or print encrypted %s column %s under TimeZone %q: use a zone name (SET TimeZone = 'Europe/Paris')",
			col.Type.Name, col.QualifiedName(), z.name)
	}
	conv.TimeZone = z.loc
	return conv, nil
}

// posixOffset is the form PostgreSQL reports for SET TIME ZONE INTERVAL
// '+05:30' (and a bare offset): <+05:30>-05:30, whose sign is POSIX's
// (west of Greenwich positive).
var posixOffset = regexp.MustCompile(`^<[^>]*>([+-]?)(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?$`)

// loadZone loads a TimeZone setting's location: an IANA name, or a fixed
// POSIX offset; nil for anything else.
func loadZone(name string) *time.Location {
	if loc, err := time.LoadLocation(name); err == nil {
		return loc
	}
	m := posixOffset.FindStringSubmatch(name)
	if m == nil {
		return nil
	}
	h, _ := strconv.Atoi(m[2])
	mi, _ := strconv.Atoi("0" + m[3])
	sec, _ := strconv.Atoi("0" + m[4])
	west := h*3600 + mi*60 + sec
	if m[1] == "-" {
		west = -west
	}
	abbr := name[1:strings.IndexByte(name, '>')] // PostgreSQL's abbreviation for it
	return time.FixedZone(abbr, -west)
}
