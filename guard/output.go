package guard

import (
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The session's extra_float_digits and bytea_output decide how
// PostgreSQL prints a real, double precision or bytea in text, and the
// backend does not report them in ParameterStatus (PostgreSQL 15 reports
// IntervalStyle, TimeZone and DateStyle, which datetime.go follows). So
// phiguard asks: at login, when the policy has a column of those types,
// it reads both with current_setting (which sees the login's options,
// ALTER ROLE and ALTER DATABASE settings and postgresql.conf); and
// behind every request holding a statement that may change them (SET,
// RESET, set_config, COMMIT, ROLLBACK and savepoints, which undo SET,
// CALL, DO, DISCARD, a statement it cannot classify, and a fast-path
// FunctionCall, which may be set_config itself) it queues the same
// query, answered before anything the client sends next, and swallows
// the answer. Between such a statement's completion and that answer the
// settings are unknown, and an encrypted value of those types asked for
// in text is refused (0A000) rather than printed in a format that may
// be stale: a client that sends SET and a SELECT of such a column in one
// request (one Query, or one Sync's batch) is told to split them, and so
// is one whose statement both changes them (set_config in its select
// list or WHERE) and reads such a column. A function that runs SET
// inside itself is not seen.

// outputSettings is what the backend last said, or stale while it may
// have changed since.
type outputSettings struct {
	extraFloatDigits int
	byteaEscape      bool
	stale            bool
}

const outputQuery = "SELECT pg_catalog.current_setting('extra_float_digits'), pg_catalog.current_setting('bytea_output')"

// needsOutput reports whether the policy has a column whose text
// depends on extra_float_digits or bytea_output.
func needsOutput(pol *policy.Policy) bool {
	if pol == nil {
		return false
	}
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			switch c.Type.Scalar().OID { // an array's elements print as the element type
			case policy.OIDFloat4, policy.OIDFloat8, policy.OIDBytea:
				return true
			}
		}
	}
	return false
}

// loadOutputSettings reads the settings at login.
func (s *Session) loadOutputSettings() error {
	if !needsOutput(s.policy()) {
		return nil
	}
	b := &outputBuilder{}
	if err := s.ownQuery(ownMessages(outputQuery), b.add); err != nil {
		return err
	}
	b.store(s)
	return nil
}

// mayChangeOutput reports whether a request's analysis holds a statement
// after which the settings must be read again.
func mayChangeOutput(a *sqlrewrite.Analysis) bool {
	if a == nil {
		return false
	}
	for _, st := range a.Statements {
		if st.MayChangeSettings() {
			return true
		}
	}
	return false
}

// noteOutputChange marks the settings stale when a statement that may
// change them completes (backend pump).
func (s *Session) noteOutputChange(head *expectation) {
	if head.analysis == nil || !mayChangeOutput(head.analysis) {
		return
	}
	s.markOutputStale()
}

// noteOutputChanging marks the settings stale before a row of a
// statement that may change them itself: set_config in its select list
// or WHERE runs before PostgreSQL prints the row (backend pump).
func (s *Session) noteOutputChanging(head *expectation) {
	a := head.analysis
	if a == nil {
		return
	}
	i := 0
	if head.kind == expQuery {
		i = head.completed
	}
	if i < len(a.Statements) && a.Statements[i].MayChangeSettings() {
		s.markOutputStale()
	}
}

func (s *Session) markOutputStale() {
	if cur := s.output.Load(); cur != nil && !cur.stale {
		next := *cur
		next.stale = true
		s.output.Store(&next)
	}
}

// noteOutputPolicy follows a reload that gave the policy its first
// column whose text depends on the settings: they were not read at
// login, and the session may have changed them since, so they are
// stale until read behind this request (client pump).
func (s *Session) noteOutputPolicy() {
	if s.output.Load() == nil && needsOutput(s.policy()) {
		s.output.Store(&outputSettings{stale: true})
		s.outputSeen = true
	}
}

// queueOutputQuery sends the settings query behind a request that may
// have changed them (client pump, at a Query or Sync).
func (s *Session) queueOutputQuery() error {
	if !s.outputSeen || s.output.Load() == nil {
		s.outputSeen = false
		return nil
	}
	s.outputSeen = false
	s.expects.push(&expectation{kind: expOutput, output: &outputBuilder{}})
	_, err := s.bw.Write(ownMessages(outputQuery))
	return err
}

// outputAnswer takes the queued query's answer (backend pump).
func (s *Session) outputAnswer(head *expectation, typ byte) error {
	body, err := s.br.Body()
	if err != nil {
		return err
	}
	if err := head.output.add(typ, body); err != nil {
		return err
	}
	if typ == pgwire.BeReadyForQuery {
		s.expects.pop()
		head.output.store(s)
	}
	return nil
}

// outputBuilder collects the settings query's answer.
type outputBuilder struct {
	got outputSettings
	ok  bool
}

func (b *outputBuilder) add(typ byte, body []byte) error {
	if typ != pgwire.BeDataRow {
		return nil
	}
	var row pgproto3.DataRow
	if err := row.Decode(body); err != nil || len(row.Values) != 2 {
		return nil
	}
	n, err := strconv.Atoi(string(row.Values[0]))
	if err != nil {
		return nil
	}
	b.got = outputSettings{extraFloatDigits: n, byteaEscape: string(row.Values[1]) == "escape"}
	b.ok = true
	return nil
}

// store keeps what was read; a failed read (in an aborted transaction)
// leaves the settings stale until the next one.
func (b *outputBuilder) store(s *Session) {
	if b.ok {
		got := b.got
		s.output.Store(&got)
		return
	}
	s.output.Store(&outputSettings{stale: true})
}

// intervalConverter is how an interval column is read and printed in
// this session: in the IntervalStyle the backend reported.
func (s *Session) intervalConverter(col *policy.ProtectedColumn) (pgvalue.Converter, error) {
	var conv pgvalue.Converter
	if st := s.intervalStyle.Load(); st != nil {
		switch *st {
		case "postgres", "postgres_verbose", "sql_standard", "iso_8601":
			conv.IntervalStyle = *st
		default:
			return conv, fmt.Errorf("phiguard cannot read or print encrypted interval column %s under IntervalStyle %q", col.QualifiedName(), *st)
		}
	}
	return conv, nil
}

// printConverter is converterFor for printing a value in format: a
// real, double precision or bytea in text follows extra_float_digits
// and bytea_output as last read (reading a value never depends on them).
func (s *Session) printConverter(col *policy.ProtectedColumn, format int16) (pgvalue.Converter, error) {
	conv, err := s.converterFor(col)
	if err != nil || format != pgvalue.FormatText {
		return conv, err
	}
	switch col.Type.Scalar().OID {
	case policy.OIDFloat4, policy.OIDFloat8, policy.OIDBytea:
	default:
		return conv, nil
	}
	out := s.output.Load()
	if out == nil {
		return conv, nil // not read: the policy had no such column at login
	}
	if out.stale {
		return conv, fmt.Errorf("phiguard cannot print encrypted %s column %s in text right after a statement that may change extra_float_digits or bytea_output in the same request: send that statement in a request of its own",
			col.Type.Name, col.QualifiedName())
	}
	conv.RoundFloats, conv.ExtraFloatDigits = out.extraFloatDigits <= 0, out.extraFloatDigits
	conv.ByteaEscape = out.byteaEscape
	return conv, nil
}
