package guard

import (
	"bytes"
	"time"

	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Code of the database's users runs unseen in more ways than a function
// call in the text: an operator or a cast backed by a user function, a
// function of a built-in's name taking other arguments (PostgreSQL
// resolves reverse(1) to a user's reverse(integer) whatever comes first
// in search_path), a trigger, a column default, a domain CHECK, a view
// or a row security policy calling a function
// (TestRedTeam14DateStyleUncounted). Any of them may set DateStyle,
// TimeZone or IntervalStyle. So every statement that executes anything
// but transaction control, SET, RESET or SHOW counts as one that may
// change them when it runs (a simple Query's statement before the last,
// an Execute): phiguard cannot tell which do.
//
// What it refuses behind one is narrowed instead to what the settings
// change: a text value that reads the same under every DateStyle field
// order, a TimeZone far from the others and either IntervalStyle
// ('2024-03-02', a timestamptz with its offset, what drivers send) is
// the value PostgreSQL reads whatever was set, and is accepted; one that
// reads otherwise under one of them ('02/03/2024', a timestamptz without
// an offset after a possible SET TimeZone) is refused (0A000).

// mayRunCode: st may run code of the database's users when it executes,
// or changes the date/time settings in its text.
func mayRunCode(st sqlrewrite.Statement) bool {
	switch st.Kind {
	case sqlrewrite.KindTransaction, sqlrewrite.KindSet, sqlrewrite.KindEmpty:
		return st.MayChangeDatetime()
	}
	return true
}

// settingsProbeZones are time zones whose offsets differ from UTC's and
// from each other's at every instant: +14 and -11 hours, 25 apart, so
// that 'today' is never one date in all of them, and a 45-minute one.
var settingsProbeZones = func() []*time.Location {
	out := []*time.Location{time.UTC}
	for _, name := range []string{"Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu"} {
		if loc, err := time.LoadLocation(name); err == nil {
			out = append(out, loc)
		}
	}
	return out
}()

// settingsFree reports whether v reads as the same canonical text under
// every DateStyle field order, the probe zones and both IntervalStyles
// PostgreSQL reads differently (postgres and sql_standard): which of
// them the session has now does not change it. A zone not loaded (no
// tz database): false.
func settingsFree(conv pgvalue.Converter, col *policy.ProtectedColumn, format int16, v []byte,
	canonicalize func(pgvalue.Converter, *policy.ProtectedColumn, int16, []byte) ([]byte, error)) bool {
	if len(settingsProbeZones) < 4 {
		return false
	}
	var first []byte
	n := 0
	for _, order := range []string{"MDY", "DMY", "YMD"} {
		for _, zone := range settingsProbeZones {
			for _, is := range []string{"postgres", "sql_standard"} {
				c := conv
				c.DateStyle.Order, c.TimeZone, c.IntervalStyle = order, zone, is
				got, err := canonicalize(c, col, format, v)
				if err != nil {
					return false
				}
				if n == 0 {
					first = append([]byte(nil), got...)
				} else if !bytes.Equal(first, got) {
					return false
				}
				n++
			}
		}
	}
	return true
}
