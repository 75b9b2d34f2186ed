package proxy

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"

	"go.uber.org/zap"
)

// pumpBackend forwards backend messages to the client as their original
// bytes. It decodes only what it must: ReadyForQuery (to time statements
// and see when the session is idle) and the SQLSTATE of ErrorResponses (to
// count them).
//
// Writes toward the client are flushed at ReadyForQuery, when a COPY
// starts (the client must see CopyInResponse before it sends data), and
// whenever no more backend output is buffered, which also delivers
// asynchronous NotificationResponse, ParameterStatus and NoticeResponse
// messages promptly.
func (s *session) pumpBackend() error {
	lastWasFatal := false
	for {
		if !s.br.Buffered() {
			if err := s.flushClient(); err != nil {
				return err
			}
		}
		typ, _, err := s.br.Next()
		if err != nil {
			return s.backendGone(err, lastWasFatal)
		}
		lastWasFatal = false
		if s.g.Tracking() {
			handled, err := s.g.BackendMessage(typ)
			if err != nil {
				return err
			}
			if handled {
				continue
			}
		}
		switch typ {
		case pgwire.BeReadyForQuery:
			body, err := s.br.Body()
			if err != nil {
				return s.backendGone(err, false)
			}
			status := byte('I')
			if len(body) > 0 {
				status = body[0]
			}
			// Counted answered before the client can see it: a request
			// it sends at once must find the session settled
			// (guard.Wire.Settled), not the one before still in flight.
			s.answerRequest(status)
			if err := s.br.Forward(s.cw); err != nil {
				return err
			}
			if err := s.flushClient(); err != nil {
				return err
			}
			s.answerForwarded()
			continue
		case pgwire.BeErrorResponse:
			body, err := s.br.Body()
			if err != nil {
				return s.backendGone(err, false)
			}
			s.srv.metrics.Errors.WithLabelValues(pgwire.SQLStateClass(body), "backend").Inc()
			lastWasFatal = pgwire.IsFatal(body)
		}
		if err := s.br.Forward(s.cw); err != nil {
			return err
		}
		switch typ {
		case pgwire.BeCopyInResponse, pgwire.BeCopyOutResponse, pgwire.BeCopyBothResponse:
			if err := s.flushClient(); err != nil {
				return err
			}
		}
	}
}

// backendGone handles the end of the backend stream. Unless phiguard ended
// it or the backend already said why (a FATAL error), the client is told
// that the backend was lost rather than seeing a bare disconnect.
func (s *session) backendGone(err error, backendExplained bool) error {
	if pe := s.abortReason(); pe != nil {
		s.cw.Write(pe.Encode())
		s.srv.metrics.Errors.WithLabelValues(string(pe.Code[:2]), "phiguard").Inc()
		s.flushClient()
		return errAborted
	}
	if s.terminating.Load() || errors.Is(err, net.ErrClosed) {
		return err
	}
	var proto *pgwire.ProtocolError
	switch {
	case errors.As(err, &proto):
		// The backend is still there but sent something phiguard will not
		// pass on (an oversized or malformed message): say that, not "lost".
		s.log.Warn("backend protocol violation", zap.Error(err))
		s.cw.Write(pgerr.Fatal(pgerr.ProtocolViolation, "phiguard refused a message from the database: "+proto.Msg).Encode())
		s.srv.metrics.Errors.WithLabelValues("08", "phiguard").Inc()
		s.flushClient()
	case !backendExplained:
		s.cw.Write(pgerr.Fatal(pgerr.ConnectionFailure, "phiguard lost the connection to the database backend").Encode())
		s.srv.metrics.Errors.WithLabelValues("08", "phiguard").Inc()
		s.flushClient()
	}
	if errors.Is(err, io.EOF) {
		return errors.New("backend closed the connection")
	}
	return err
}

// finishRequest pairs a ReadyForQuery already sent to the client with the
// oldest request in flight (answerRequest, answerForwarded).
func (s *session) finishRequest(status byte) {
	s.answerRequest(status)
	s.answerForwarded()
}

// answerRequest pairs a ReadyForQuery about to be sent to the client with
// the oldest request in flight and records its duration; the session is
// not idle until answerForwarded.
func (s *session) answerRequest(status byte) {
	now := time.Now()
	s.mu.Lock()
	var started time.Time
	if s.head < len(s.inflight) {
		started = s.inflight[s.head]
		s.head++
		if s.head == len(s.inflight) { // all answered: reuse the array from its start
			s.inflight, s.head = s.inflight[:0], 0
		}
	}
	s.txStatus = status
	s.forwarding = true
	s.mu.Unlock()
	if !started.IsZero() {
		s.srv.metrics.StatementDuration.Observe(now.Sub(started).Seconds())
	}
}

// answerForwarded notes the ReadyForQuery flushed to the client, and wakes
// the client pump if the server is draining and the session just became
// idle: a drain ends it only once the client has its answer.
func (s *session) answerForwarded() {
	s.mu.Lock()
	s.forwarding = false
	if s.draining && s.idleLocked() {
		s.wakeLocked()
	}
	s.mu.Unlock()
}
