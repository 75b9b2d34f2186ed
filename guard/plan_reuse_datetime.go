package guard

import (
	"hash/maphash"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// A configuration reload that changes DateStyle, TimeZone or
// IntervalStyle reaches the backend before the next command, and the
// backend reports the new value only after that command (before its
// ReadyForQuery): the settings key (plan_reuse_settings.go) learns of it
// one execution late. A text phiguard would prepare that holds a date or
// time constant is therefore never reused (sqlrewrite's
// DatetimeConstantsFree, which looks at the text phiguard sends: the
// client's constants on an encrypted column are terms there, so the
// search statements keep their plan; TestRedTeam33aDateStyleReload).

// maxDatetimeTexts bounds the texts a session remembers the verdict of;
// beyond, it forgets them all and scans them again.
const maxDatetimeTexts = 1024

// datetimeSeed hashes the remembered texts (a collision gives one text
// another's verdict: the texts a session sends are few, and a wrong
// "free" needs a reload of a datetime setting as well to matter).
var datetimeSeed = maphash.MakeSeed()

// datetimeFree reports whether text may be prepared for reuse as far as
// date and time constants go, scanning it once: the verdict is
// remembered, so that neither a text not reused (every execution a
// miss) nor a statement in rounds (whose first round's text roundsLiteral
// checks at each Parse, before the operator gate, which adds only
// phiguard's own checks) is scanned again. Client pump.
func (c *planCache) datetimeFree(text string) bool {
	h := maphash.String(datetimeSeed, text)
	if free, seen := c.datetime[h]; seen {
		return free
	}
	free := sqlrewrite.DatetimeConstantsFree(text)
	if c.datetime == nil || len(c.datetime) >= maxDatetimeTexts {
		c.datetime = map[uint64]bool{}
	}
	c.datetime[h] = free
	return free
}
