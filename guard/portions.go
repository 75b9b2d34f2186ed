package guard

import (
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
)

// Proxy-side results read in portions (docs/search.md). A client may
// execute a portal phiguard sorts, filters, de-duplicates, groups or
// aggregates with a row limit (Execute with max_rows n: a JDBC fetch
// size, a portal read n rows at a time). phiguard needs all the rows
// before it sends the first, so every Execute of such a portal reaches
// the database without a limit: the first runs the portal to its end,
// and any later one finds it done and is answered SELECT 0 with no rows.
// The expectation queue keeps one entry per Execute, as for any other.
//
// The backend pump answers each Execute from the rows it holds, as
// PostgreSQL does (exec_execute_message, PortalRunSelect): up to n rows,
// then PortalSuspended when n were sent, even if none remain (PostgreSQL
// does not look ahead: the next Execute then gets SELECT 0), or
// CommandComplete SELECT k with the k rows of this last portion. What is
// left stays on the portal (portalInfo.rest) for its next Execute and
// goes with the portal: at its Close, at a Bind of its name, at the end
// of its transaction (a Sync outside a transaction block, COMMIT,
// ROLLBACK). Each Execute has its own audit record, of the rows it
// served, as for a portal phiguard does not sort.

// portion is what is left of a portal's result after an Execute: rows in
// the order the client gets them, already presented.
type portion struct {
	rows     [][][]byte
	subjects []*resultField // the fields whose values are subject ids
	read     []string       // the protected columns read, for the records
	bytes    int64
	// failed: phiguard failed the portal's result (failSort); any later
	// Execute of it is refused, as PostgreSQL refuses a portal whose
	// run failed (reachable after ROLLBACK TO SAVEPOINT).
	failed bool
}

// suspendedTag stands for the tag of an Execute that ended in
// PortalSuspended: its record counts the rows it served
// (expectation.dataRows), as rowsFromTag reads no count from it.
var suspendedTag = []byte{}

// executeLimit reads an Execute's row limit (0 for none: PostgreSQL reads
// 0 and a negative one as all rows) and returns the body to send
// instead: the same without the limit.
func executeLimit(body []byte) (uint32, []byte, *pgerr.Error) {
	_, rest, ok := pgwire.Cstring(body)
	if !ok || len(rest) < 4 {
		return 0, nil, pgerr.New(pgerr.ProtocolViolation, "malformed Execute message")
	}
	n := binary.BigEndian.Uint32(rest)
	if int32(n) <= 0 {
		return 0, body, nil
	}
	out := slices.Clone(body)
	binary.BigEndian.PutUint32(out[len(body)-len(rest):], 0)
	return n, out, nil
}

// executeMessage frames an Execute's body.
func executeMessage(body []byte) []byte {
	out := make([]byte, 0, 5+len(body))
	out = append(out, pgwire.FeExecute)
	out = binary.BigEndian.AppendUint32(out, uint32(4+len(body)))
	return append(out, body...)
}

// portalRest is what is left of the result of the portal an Execute
// under head runs, when an earlier Execute ran it to its end; nil for
// any other request.
func (s *Session) portalRest(head *expectation) *portion {
	if head.kind != expExecute {
		return nil
	}
	if p := s.portals[head.name]; p != nil {
		return p.rest
	}
	return nil
}

// resumePortion answers an Execute of a portal whose rows phiguard holds
// (portalRest): the database, which ran it to its end before, sent none.
func (s *Session) resumePortion(head *expectation, rest *portion) ([]byte, error) {
	if rest.failed {
		return nil, s.failSort(head, pgerr.Newf(pgerr.PortalCannotRun, "portal %q cannot be run", head.name))
	}
	if head.sort.started {
		return nil, s.failSort(head, pgerr.New(pgerr.InternalError,
			"phiguard received rows of a portal it had read to its end"))
	}
	head.sort = nil
	if head.read == nil {
		head.read = rest.read
	}
	return s.serveRows(head, rest.rows, rest.subjects)
}

// serveRows sends a held result's rows, in the order the client gets
// them: all of them, or for an Execute with a row limit its portion,
// keeping the rest on the portal. subjects are the fields whose values
// are subject ids, noted for the rows sent. It returns the tag for the
// statement's record: CommandComplete's, or suspendedTag.
func (s *Session) serveRows(head *expectation, rows [][][]byte, subjects []*resultField) ([]byte, error) {
	var rest [][][]byte
	suspend := head.kind == expExecute && head.portion > 0 && len(rows) >= int(head.portion)
	if suspend {
		rows, rest = rows[:head.portion], rows[head.portion:]
	}
	buf, err := s.writeRows(head, rows, subjects)
	if err != nil {
		return nil, err
	}
	if head.kind == expExecute {
		if p := s.portals[head.name]; p != nil {
			// Set after a full read too: a later Execute gets SELECT 0,
			// not a second answer (an aggregate's row).
			p.rest = newPortion(rest, subjects, head.read)
		}
	}
	tag := suspendedTag
	if suspend {
		head.dataRows = int64(len(rows))
		buf = append(buf, pgwire.BePortalSuspended, 0, 0, 0, 4)
	} else {
		tag = strconv.AppendInt(append(make([]byte, 0, 24), "SELECT "...), int64(len(rows)), 10)
		if buf, err = (&pgproto3.CommandComplete{CommandTag: tag}).Encode(buf); err != nil {
			return nil, err
		}
	}
	_, err = s.cw.Write(buf)
	s.sortSpare.keepWire(buf) // written: the writer copied it
	return tag, err
}

// portionKept: an Execute under head left rows on its portal for a
// later Execute, which still refer to its result's buffers.
func (s *Session) portionKept(head *expectation) bool {
	if head.kind != expExecute {
		return false
	}
	p := s.portals[head.name]
	return p != nil && p.rest != nil && len(p.rest.rows) > 0
}

// writeRows sends rows as DataRows, noting their subjects, and returns
// what it has not written yet.
func (s *Session) writeRows(head *expectation, rows [][][]byte, subjects []*resultField) ([]byte, error) {
	max := s.srv.maxSubjects()
	buf := s.sortSpare.wireBuf() // sort_spare.go
	for _, values := range rows {
		for i, v := range values {
			if i < len(subjects) && subjects[i] != nil && subjects[i].subject != nil && v != nil {
				head.noteSubject(subjects[i].subject, subjectID(v, subjects[i].format), max)
			}
		}
		// The DataRow written by hand (appendRowBody, datarow.go) where
		// pgproto3's Encode was a seventh of a 2,000-row sort's time in
		// phiguard (bench/search's care-team list).
		start := len(buf)
		buf = appendRowBody(append(buf, pgwire.BeDataRow, 0, 0, 0, 0), values)
		binary.BigEndian.PutUint32(buf[start+1:], uint32(len(buf)-start-1))
		if len(buf) > 64<<10 {
			if _, err := s.cw.Write(buf); err != nil {
				return nil, err
			}
			buf = buf[:0]
		}
	}
	return buf, nil
}

func newPortion(rows [][][]byte, subjects []*resultField, read []string) *portion {
	p := &portion{rows: rows, subjects: subjects, read: read}
	for _, r := range rows {
		p.bytes += 24 + 24*int64(len(r))
		for _, v := range r {
			p.bytes += int64(len(v))
		}
	}
	return p
}

// heldPortions are the rows and bytes the session's portals keep for
// their next Executes, which count against the sort caps of a result
// (checkSortCap).
func (s *Session) heldPortions() (rows int, bytes int64) {
	for _, p := range s.portals {
		if p.rest != nil {
			rows += len(p.rest.rows)
			bytes += p.rest.bytes
		}
	}
	return rows, bytes
}

// portalFailed marks the portal of an Execute under head whose result
// phiguard failed.
func (s *Session) portalFailed(head *expectation) {
	if head.kind != expExecute {
		return
	}
	if p := s.portals[head.name]; p != nil {
		p.rest = &portion{failed: true}
	}
}
