package proxy

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
	_ "time/tzdata" // every zone name PostgreSQL accepts, whatever the host has

	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/policy"
)

// The session's TimeZone. PostgreSQL reads a timestamptz written without
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
func (s *session) noteTimeZone(name string) {
	s.timeZone.Store(&sessionZone{name: name, loc: loadZone(name)})
}

// converterFor is how values of col are read and printed in this
// session: only timestamptz depends on the session (its TimeZone).
func (s *session) converterFor(col *policy.ProtectedColumn) (pgvalue.Converter, error) {
	if col.Type.OID != policy.OIDTimestamptz {
		return pgvalue.Converter{}, nil
	}
	z := s.timeZone.Load()
	if z == nil {
		return pgvalue.Converter{}, nil // none reported: the server's default is UTC here
	}
	if z.loc == nil {
		return pgvalue.Converter{}, fmt.Errorf(
			"phiguard cannot read or print encrypted timestamptz column %s under TimeZone %q: use a zone name (SET TimeZone = 'Europe/Paris')",
			col.QualifiedName(), z.name)
	}
	return pgvalue.Converter{TimeZone: z.loc}, nil
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
	return time.FixedZone(name, -west)
}
