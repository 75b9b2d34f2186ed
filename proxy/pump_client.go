package proxy

import (
	"time"

	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// pumpClient forwards client messages to the backend. Every statement
// (simple Query and extended Parse) passes through sqlrewrite; every other
// message is forwarded as its original bytes without being decoded.
//
// Writes toward the backend are flushed at the messages after which a
// client waits for an answer (Sync, Flush, Query, CopyDone, CopyFail,
// FunctionCall) and whenever no more client input is buffered, so that a
// pipeline arriving in one read leaves in one write.
func (s *session) pumpClient() error {
	atBoundary := true // the last message forwarded ends a request (Query, Sync, ...)
	for {
		if !s.cr.buffered() {
			if err := s.flushBackend(); err != nil {
				return err
			}
			if err := s.waitForClient(atBoundary); err != nil {
				return err
			}
		}
		typ, _, err := s.cr.next()
		if err != nil {
			return err
		}
		if err := checkFrontendMessage(typ); err != nil {
			return err
		}
		atBoundary = false
		var a *sqlrewrite.Analysis
		switch typ {
		case feQuery:
			body, err := s.cr.body()
			if err != nil {
				return err
			}
			a = s.observe(body[:max(len(body)-1, 0)]) // drop the terminating NUL
			s.startRequest()
			atBoundary = true
		case feParse:
			body, err := s.cr.body()
			if err != nil {
				return err
			}
			if sql, ok := parseQueryText(body); ok {
				a = s.observe(sql)
			}
		case feSync, feFunctionCall:
			s.startRequest()
			atBoundary = true
		case feTerminate:
			s.terminating.Store(true)
			if err := s.cr.forward(s.bw); err != nil {
				return err
			}
			return s.flushBackend()
		}
		var replaced []byte
		if s.tracking {
			if replaced, err = s.protectClient(typ, a); err != nil {
				return err
			}
		}
		if replaced != nil {
			_, err = s.bw.Write(replaced)
		} else {
			err = s.cr.forward(s.bw)
		}
		if err == nil && s.tracking && s.srv.protect != nil {
			err = s.refreshCatalogAfterDDL(typ)
		}
		if err != nil {
			return err
		}
		switch typ {
		case feSync, feFlush, feQuery, feCopyDone, feCopyFail, feFunctionCall:
			if err := s.flushBackend(); err != nil {
				return err
			}
		}
	}
}

// parseQueryText returns the SQL of a Parse message body: a statement name,
// then the query, both NUL-terminated.
func parseQueryText(body []byte) ([]byte, bool) {
	_, rest, ok := cstring(body)
	if !ok {
		return nil, false
	}
	sql, _, ok := cstring(rest)
	return sql, ok
}

// observe sends one statement text through sqlrewrite, counts and logs it,
// and returns its analysis. Without a policy the statement is forwarded
// unchanged, and text pg_query rejects still goes to the backend so that
// the client gets PostgreSQL's own syntax error.
func (s *session) observe(sql []byte) *sqlrewrite.Analysis {
	a, cached := s.srv.analyzer.Analyze(sql)
	m := s.srv.metrics
	if cached {
		m.CacheHits.Inc()
	} else {
		m.CacheMisses.Inc()
	}
	if a.Err != nil {
		m.countStatement(sqlrewrite.KindUnknown)
	} else {
		for i := range a.Statements {
			m.countStatement(a.Statements[i].Kind)
		}
	}
	if ce := s.log.Check(zap.DebugLevel, "statement"); ce != nil {
		ce.Write(zap.Stringers("kinds", a.Kinds()), zap.String("sql", a.Normalized()))
	}
	return a
}

// startRequest records that the client now awaits one ReadyForQuery.
func (s *session) startRequest() {
	now := time.Now()
	s.mu.Lock()
	s.inflight = append(s.inflight, now)
	s.mu.Unlock()
}
