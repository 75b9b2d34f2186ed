package guard

import (
	"encoding/binary"

	"github.com/phiguard/phiguard/internal/pgwire"
)

// boundNames is what bindSummary reads of a Bind, read once per Bind for
// protectBind and sortedBind.
type boundNames struct {
	portal, stmt string
	results      []int16 // result format codes
}

// bindSummary reads a Bind's portal and statement names and its result
// format codes without decoding (and copying) its parameters, which most
// Binds do not need changed.
func bindSummary(b []byte) (portal, stmt []byte, results []int16, ok bool) {
	p, rest, ok := pgwire.Cstring(b)
	if !ok {
		return nil, nil, nil, false
	}
	st, rest, ok := pgwire.Cstring(rest)
	if !ok {
		return nil, nil, nil, false
	}
	skip := func(n int) bool {
		if n < 0 || n > len(rest) {
			return false
		}
		rest = rest[n:]
		return true
	}
	u16 := func() (int, bool) {
		if len(rest) < 2 {
			return 0, false
		}
		v := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		return v, true
	}
	nf, ok := u16()
	if !ok || !skip(2*nf) {
		return nil, nil, nil, false
	}
	np, ok := u16()
	if !ok {
		return nil, nil, nil, false
	}
	for i := 0; i < np; i++ {
		if len(rest) < 4 {
			return nil, nil, nil, false
		}
		n := int(int32(binary.BigEndian.Uint32(rest)))
		rest = rest[4:]
		if n > 0 && !skip(n) {
			return nil, nil, nil, false
		}
	}
	nr, ok := u16()
	if !ok || len(rest) < 2*nr {
		return nil, nil, nil, false
	}
	switch {
	case nr == 1 && rest[1] == 0 && rest[0] == 0:
		results = allText
	case nr == 1 && rest[1] == 1 && rest[0] == 0:
		results = allBinary
	case nr > 0:
		results = make([]int16, nr)
		for i := range results {
			results[i] = int16(binary.BigEndian.Uint16(rest[2*i:]))
		}
	}
	return p, st, results, true
}

// allText and allBinary are the result formats of almost every Bind (one
// code for all columns; libpq sends one), shared so that a Bind does not
// allocate them. Nothing writes into a Bind's result formats.
var (
	allText   = []int16{0}
	allBinary = []int16{1}
)

// nameTable interns the statement and portal names Binds carry: a client
// reuses a few names for every execution, and converting them anew would
// allocate at each Bind. Client pump.
type nameTable map[string]string

// intern returns b as a string, allocating only for a name not seen yet
// (the table starts over past maxInternedNames, so a client that makes a
// new name per statement costs what it did).
func (t *nameTable) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := (*t)[string(b)]; ok {
		return s
	}
	if *t == nil || len(*t) >= maxInternedNames {
		*t = nameTable{}
	}
	s := string(b)
	(*t)[s] = s
	return s
}

const maxInternedNames = 1024
