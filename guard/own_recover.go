package guard

import (
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// A read of phiguard's own (own_messages.go) can still fail part way: a
// cancel the client sends while it runs, or the client's
// statement_timeout at the read's first statement. Two things were then
// left behind. The error skips the read's Closes up to its Sync, so its
// statement stayed in pg_prepared_statements, which then listed a name
// the client never made, until the next read closed it
// (TestReview40ReadTimesOut). And in the client's transaction block the
// error aborted the block, silently: the client's next statement met
// 25P02 and its COMMIT rolled back what it had done before the read
// (TestReview40ReadFailsInBlock).
//
// So a read in the client's block runs inside a savepoint of phiguard's
// (inSavepoint), released at its end; and after a read that failed,
// recoverOwnRead sends a segment of phiguard's own that rolls back to
// that savepoint and releases it, and closes the read's statement and
// portal. The block then goes on as if the read had not run, and the
// request the read came before runs on the catalog from before, as one
// outside a block does after a failed read (readFailedUsable, which
// unreadCopyRefusal reads). A read queued behind requests not yet
// answered (a pipeline) cannot know whether it will run in a block: it
// has no savepoint, and its failure there still aborts the block; its
// recovery closes the names.

// ownSavepoint is the savepoint's name: planPrefix and a random part, so
// that no client's RELEASE or ROLLBACK TO names it.
var ownSavepoint = randomName(planPrefix + "savepoint_") // protect_query.go

// ownReadInBlock says whether a read sent now runs inside the client's
// transaction block: nothing of the client's is unanswered, and the last
// ReadyForQuery said 'T'. Client pump.
func (s *Session) ownReadInBlock() bool {
	return s.expects.head() == none && s.readyStatus.Load() == 'T'
}

// inSavepoint wraps msg, phiguard's own statements ending in a Sync, in
// ownSavepoint.
func inSavepoint(msg []byte) []byte {
	out := appendOwnStatement(make([]byte, 0, len(msg)+256), "SAVEPOINT "+ownSavepoint)
	out = append(out, msg[:len(msg)-5]...)
	out = appendOwnStatement(out, "RELEASE SAVEPOINT "+ownSavepoint)
	return appendSync(out)
}

// recoverOwnRead puts back what a failed read x left (above): the
// savepoint rolled back to and released when the read had one, the
// read's names closed. Its answer is swallowed (ownRecoverAnswer). Client
// pump, after x was answered.
func (s *Session) recoverOwnRead(x *expectation, savepointed bool) {
	if !x.ownFailed {
		return
	}
	msg := closeOwn(nil)
	// A read whose first error is 25P02 met a block the client's own
	// statement had failed: its savepoint was never made, and the block
	// stays failed as in PostgreSQL.
	if savepointed && x.ownCode != inFailedTransaction {
		msg = appendOwnStatement(msg, "ROLLBACK TO SAVEPOINT "+ownSavepoint)
		msg = appendOwnStatement(msg, "RELEASE SAVEPOINT "+ownSavepoint)
	}
	r := &expectation{kind: expRecover, done: make(chan struct{})}
	if s.sendOwn(r, appendSync(msg)) != answered {
		return
	}
	if r.ownFailed {
		s.log.Warn("phiguard could not put back what its failed read left", zap.Bool("savepoint", savepointed))
		return
	}
	if savepointed && r.ownStatus == 'T' && x.kind == expCatalog {
		s.readFailedUsable.Store(true) // the block goes on: unreadCopyRefusal
	}
}

// noteOwnAnswer records, for any read of phiguard's own, whether it
// failed and the ReadyForQuery that ended it, before the read's own
// handler takes the message (which may let the client pump read them).
// Backend pump.
func (s *Session) noteOwnAnswer(head *expectation, typ byte) error {
	switch typ {
	case pgwire.BeErrorResponse:
		if !head.ownFailed {
			body, err := s.br.Body()
			if err != nil {
				return err
			}
			code, _ := pgwire.ErrorField(body, 'C')
			head.ownCode = string(code)
		}
		head.ownFailed = true
	case pgwire.BeReadyForQuery:
		body, err := s.br.Body()
		if err != nil {
			return err
		}
		if len(body) == 1 {
			head.ownStatus = body[0]
			// The session's status now, which a read of its own can
			// change (a failure aborts the block): ownReadInBlock reads
			// it.
			s.readyStatus.Store(uint32(body[0]))
		}
	}
	return nil
}

// inFailedTransaction is 25P02, what PostgreSQL answers every statement
// in a failed transaction block.
const inFailedTransaction = "25P02"

// queuedRead is the catalog read queued behind the session's own DDL
// (refreshCatalogAfterDDL), which the next request waits for
// (awaitCatalogInFlight) and, should it have failed, recovers.
type queuedRead struct {
	x           *expectation
	savepointed bool
}

// ddlReadInBlock says whether the catalog read queued behind this Query's
// DDL will run in the client's transaction block: the Query starts with
// nothing of the client's unanswered after a ReadyForQuery 'T', and has
// no transaction statement (BEGIN, COMMIT, ...) to change that. The
// read then gets its savepoint (TestReview41ReadAfterDDLFailsInBlock). A
// Sync's read, behind an extended segment that may hold any of these,
// gets none. Client pump, before the Query's expectation is pushed.
func (s *Session) ddlReadInBlock(typ byte, a *sqlrewrite.Analysis) bool {
	if typ != pgwire.FeQuery || a == nil || !s.ownReadInBlock() {
		return false
	}
	for _, st := range a.Statements {
		if st.Kind == sqlrewrite.KindTransaction {
			return false
		}
	}
	return true
}

// ownRecoverAnswer swallows the answer to recoverOwnRead's segment.
// Backend pump.
func (s *Session) ownRecoverAnswer(head *expectation, typ byte) error {
	if typ == pgwire.BeReadyForQuery {
		s.expects.pop()
		if head.ownStatus == 'I' {
			s.transactionEnded()
		}
		close(head.done)
	}
	return nil
}
