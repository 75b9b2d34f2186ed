package guard

import (
	"encoding/binary"

	"github.com/phiguard/phiguard/internal/pgwire"
)

// A result's shape. phiguard decrypts a row only when it knows which of
// its fields hold cells, and applies column rules only when it knows
// which column each field is: a RowDescription tells it. Clients need not
// ask for one: pgjdbc, past its prepareThreshold, binds and executes a
// server-prepared statement without Describe (it described a portal of
// it once); other clients never describe at all. So when the client
// executes a portal of a statement that touches protected data and has
// described neither, phiguard sends a Describe of that portal just before
// the Execute, and keeps the answer to itself (expectation.injected): the
// client sees the same messages as without phiguard. A portal of a FETCH
// is described every time: its shape is its cursor's at the Execute.

// needsDescribe says whether phiguard must describe a portal itself before
// it runs. Client pump.
func (s *Session) needsDescribe(portal string, st *stmtInfo) bool {
	if s.describedPortals[portal] {
		return false
	}
	if len(st.cursors) > 0 && s.srv.protect != nil {
		// A prepared FETCH returns the rows of the cursor it names as
		// that cursor is at this Execute, which may have been declared
		// again, with other columns, since the statement was described.
		return true
	}
	if st.clientDescribed {
		return false
	}
	return st.plan != nil && st.plan.Protected || s.restricted() != nil
}

// describeThenExecute is a Describe of the portal followed by the
// client's Execute (its body as received), and queues the Describe's
// expectation: the caller queues the Execute's after it. Client pump.
func (s *Session) describeThenExecute(portal string, executeBody []byte) []byte {
	s.describedPortals[portal] = true // one Describe per Bind, however many Executes
	x := &expectation{kind: expDescribePortal, name: portal, injected: true}
	s.expects.push(x)
	out := make([]byte, 0, 1+4+2+len(portal)+1+4+len(executeBody))
	out = append(out, pgwire.FeDescribe)
	out = binary.BigEndian.AppendUint32(out, uint32(4+1+len(portal)+1))
	out = append(out, 'P')
	out = append(out, portal...)
	out = append(out, 0)
	out = append(out, pgwire.FeExecute)
	out = binary.BigEndian.AppendUint32(out, uint32(4+len(executeBody)))
	return append(out, executeBody...)
}
