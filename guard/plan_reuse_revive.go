package guard

import (
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// A DEALLOCATE ALL or DISCARD ALL drops every named statement but
// leaves PostgreSQL's unnamed one: a client that runs one (a statement
// prepared earlier, bound) between its Parse of the unnamed statement
// and the Bind binds that unnamed statement still. When the client's
// unnamed statement is virtual (plan_reuse.go), the backend's statement
// behind it went with the DEALLOCATE; forgetPlans marks it gone, and the
// next Bind or Describe of it prepares it again under its name first
// (TestRedTeam32aDeallocateBetween).

// reviveVirtual returns what prepares the client's virtual unnamed
// statement again before a Bind or Describe of stmt, when a DEALLOCATE
// ALL or DISCARD ALL went to the backend since its Parse, or the last
// such revival failed or was skipped (nil otherwise), and queues the
// expectations of its answers, which are phiguard's. A Close goes first:
// when the DEALLOCATE failed (an aborted transaction) the backend has
// the name still, and the Parse of a name it has fails. The Close runs
// even in an aborted transaction, where the Parse fails: the backend
// then has the name no more, and the next Bind or Describe revives it
// again (TestRedTeam33aReviveAborted), as after a revival an earlier
// error skipped (TestRedTeam33aReviveSkipped) or one whose Parse failed
// (TestRedTeam33aReviveDropped: the table renamed meanwhile; PostgreSQL
// answers each Bind of the client's statement 42P01 then, and runs it
// once the name is back). Called before the Bind's or Describe's
// expectation is queued. Client pump.
func (s *Session) reviveVirtual(stmt string) ([]byte, error) {
	info := s.clientStmts[stmt]
	if stmt != "" || virtualName(info) == "" {
		return nil, nil
	}
	v := info.virt
	if !v.gone {
		if v.revival == nil {
			return nil, nil
		}
		// Its Parse went out in this segment (a failure skips the Bind
		// too), or the backend has the name.
		if ok, err := s.variantUsable(v.revival); ok || err != nil { // protect_search_variants.go
			return nil, err
		}
	}
	v.gone = false
	name := v.entry.v.name
	v.revival = &likeVariant{name: name, parsed: &replacement{settled: make(chan struct{})}}
	s.unsettled = append(s.unsettled, v.revival.parsed) // noteSync marks it synced
	out := s.injectClose(nil, name, nil)
	x := s.expects.fresh(expParse)
	x.name, x.analysis, x.start, x.injected, x.variant = name, info.analysis, time.Now(), true, v.revival
	s.expects.push(x)
	parse := v.entry.parseMessage()
	return parse.Encode(out)
}

// markVirtualGone notes that the backend drops the statement behind the
// client's virtual unnamed statement (forgetPlans). Client pump.
func (s *Session) markVirtualGone() {
	if info := s.clientStmts[""]; virtualName(info) != "" {
		info.virt.gone = true
	}
}

// parseMessage is the Parse that prepares e's text under its name: the
// key's text and declared types (reuseKey).
func (e *planEntry) parseMessage() pgproto3.Parse {
	text, types, _ := strings.Cut(e.key, "\x00")
	var oids []uint32
	for i := 0; i+4 <= len(types); i += 4 {
		oids = append(oids, uint32(types[i])<<24|uint32(types[i+1])<<16|uint32(types[i+2])<<8|uint32(types[i+3]))
	}
	return pgproto3.Parse{Name: e.v.name, Query: text, ParameterOIDs: oids}
}
