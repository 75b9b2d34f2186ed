package guard

import (
	"errors"
	"sync"
	"sync/atomic"
)

// PostgreSQL refuses a Parse that names an existing prepared statement
// (42P05) and keeps the old statement; phiguard plans each Parse before
// the backend answers it. Until the answer, the name could mean either
// statement, and a Bind planned against the wrong one would encrypt the
// wrong parameters (a plaintext write) and record the wrong statement. So
// a Parse that reuses a known name keeps the statement it replaces
// (replacing.prev) until the backend settles it: ParseComplete confirms
// the new one, an error or a skip (after an earlier error) restores the
// old one.
//
// A Bind in the same pipeline segment (no Sync between) needs no answer:
// if the Parse failed, PostgreSQL skips the Bind too. After a Sync the
// backend has been told to answer, so the client pump waits for it.

// replacement is the unsettled state of a Parse that reuses a name.
type replacement struct {
	prev    *stmtInfo
	settled chan struct{}
	once    sync.Once
	failed  atomic.Bool
	// errored: the backend answered the Parse with an error (not
	// skipped it), which drops PostgreSQL's unnamed statement.
	errored atomic.Bool
	synced  bool // client pump: a Sync went out after the Parse
	// reprepare: the Parse is phiguard's re-prepare of the statement
	// (reprepare.go; client pump).
	reprepare bool
}

// settle records the backend's answer to the Parse. Backend pump (or the
// session's end).
func (r *replacement) settle(failed bool) {
	r.once.Do(func() {
		r.failed.Store(failed)
		if !failed {
			// The old statement is gone: let it go, or every Parse of the
			// unnamed statement would keep all the earlier ones alive.
			// The client pump reads prev only after settled is closed.
			r.prev = nil
		}
		close(r.settled)
	})
}

// noteParse makes info the statement a Parse names, remembering what it
// replaces. The unnamed statement too: PostgreSQL replaces it only if it
// gets to the Parse, not when an earlier error makes it skip it. Client
// pump.
func (s *Session) noteParse(name string, info *stmtInfo) {
	info.pathChanges = s.pathChanges // catalog_path_follow.go
	if prev := s.clientStmts[name]; prev != nil {
		info.replacing = &replacement{prev: prev, settled: make(chan struct{})}
		s.unsettled = append(s.unsettled, info.replacing)
	}
	s.clientStmts[name] = info
}

// noteClose closes a statement the same way: a tombstone stands for it
// until the backend's CloseComplete; if PostgreSQL skipped the Close, the
// statement comes back. It returns the tombstone for the Close's
// expectation to settle. Client pump.
func (s *Session) noteClose(name string) *stmtInfo {
	prev := s.clientStmts[name]
	if prev == nil {
		return nil
	}
	tomb := &stmtInfo{closed: true, replacing: &replacement{prev: prev, settled: make(chan struct{})}}
	s.unsettled = append(s.unsettled, tomb.replacing)
	s.clientStmts[name] = tomb
	return tomb
}

// noteSync marks every unsettled Parse as answerable. Client pump.
func (s *Session) noteSync() {
	kept := s.unsettled[:0]
	for _, r := range s.unsettled {
		select {
		case <-r.settled:
			continue
		default:
		}
		r.synced = true
		kept = append(kept, r)
	}
	clear(s.unsettled[len(kept):])
	s.unsettled = kept
}

// boundStatement is the statement a Bind of name means, waiting for the
// backend's answer to a Parse that reused the name when it must. Client
// pump.
func (s *Session) boundStatement(name string) (*stmtInfo, error) {
	for {
		info := s.clientStmts[name]
		if info == nil || info.replacing == nil {
			if info != nil && info.closed {
				return nil, nil // closed: PostgreSQL will say it does not exist
			}
			return info, nil
		}
		r := info.replacing
		select {
		case <-r.settled:
		default:
			if !r.synced {
				if info.closed {
					// Closed in this segment: PostgreSQL says it does
					// not exist, or skips this Bind with the Close (a
					// tombstone has no plan to bind).
					return nil, nil
				}
				return info, nil // same segment: a failed Parse skips this Bind
			}
			if err := s.flushBackend(); err != nil {
				return nil, err
			}
			select {
			case <-r.settled:
			case <-s.backendDone:
				return nil, errBackendDone
			}
		}
		info.replacing = nil
		if r.failed.Load() {
			s.clientStmts[name] = r.prev // PostgreSQL kept the old statement
			if name == "" && r.errored.Load() && r.prev != nil {
				// A failed Parse of the unnamed statement drops it: the
				// backend's is gone too (plan_reuse.go), not the old one
				// under phiguard's name.
				r.prev.virt = nil
				// PostgreSQL drops the client's unnamed statement at the
				// client's own failed Parse, not at phiguard's re-Parse
				// of it (reprepare_unnamed.go).
				r.prev.dropped = r.prev.dropped || !r.reprepare
			}
			if name == "" && r.prev != nil && info.dropped {
				// A later Query or failed Parse of the client's dropped
				// the unnamed statement while this failed Parse was
				// unresolved: what it falls back to is dropped as well
				// (a failed re-Parse, then the client's failed Parse:
				// TestReview39ClientParseAfter).
				r.prev.virt, r.prev.dropped = nil, true
			}
		}
	}
}

// errBackendDone ends a client pump that waited for an answer the backend
// will never give.
var errBackendDone = errors.New("the backend pump ended while a Bind waited for its statement")
