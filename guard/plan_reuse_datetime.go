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

// maxDatetimeTexts bounds the texts a session remembers as holding such
// constants; beyond, it forgets them all and scans them again.
const maxDatetimeTexts = 1024

// datetimeSeed hashes the remembered texts (a collision only keeps a
// text from being reused).
var datetimeSeed = maphash.MakeSeed()

// datetimeFree reports whether text (its plan key key) may be prepared
// for reuse as far as date and time constants go, scanning it once: a
// text found to hold one is remembered, so that its next executions, all
// misses, do not scan it again. Client pump.
func (c *planCache) datetimeFree(key, text string) bool {
	h := maphash.String(datetimeSeed, key)
	if _, seen := c.datetime[h]; seen {
		return false
	}
	if sqlrewrite.DatetimeConstantsFree(text) {
		return true
	}
	if c.datetime == nil || len(c.datetime) >= maxDatetimeTexts {
		c.datetime = map[uint64]struct{}{}
	}
	c.datetime[h] = struct{}{}
	return false
}

// roundsDatetimeFree is datetimeFree of a statement in rounds' first
// round's text (roundsLiteral, at each Parse, before reusePlan knows
// whether it holds the text): a text held is not scanned again.
// oids are its parameter types with the multiplier's. Client pump.
func (c *planCache) roundsDatetimeFree(text []byte, oids []uint32) bool {
	if len(oids) > 0 {
		oids = oids[:len(oids)-1] // the multiplier is literal (reusePlan)
	}
	key := reuseKey(string(text), oids)
	if _, held := c.entries[key]; held {
		return true
	}
	return c.datetimeFree(key, string(text))
}
