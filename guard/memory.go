package guard

import (
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
)

// The terms of docs/memory.md, each measured on amd64 by the test named
// there and rounded up.
const (
	// sessionBytes is an idle session: four 16 KiB buffers, the pumps'
	// state, TLS records on both legs, and its goroutines' stacks
	// (measured 72 KiB without TLS).
	sessionBytes = 192 << 10
	// analysisFactor is the heap a statement's analysis (parse tree,
	// access rewrite, plan, encrypted text) takes per byte of its SQL
	// while it runs, garbage included: measured from 80 (an IN-list of
	// six-digit numbers) to 322 (of one-digit numbers, the densest in
	// literals); a row-checked rewrite of a multi-row INSERT, 235.
	analysisFactor = 400
	// messageCopies is how many copies of a statement's text a session
	// holds while it handles it: the message, the analysis's text, the
	// access rewrite and the encrypted text sent on.
	messageCopies = 4
	// auditRecordBytes is a queued audit record without its subject ids;
	// auditSubjectBytes one listed subject id.
	auditRecordBytes  = 1 << 10
	auditSubjectBytes = 64
	// auditEncoderBytes bounds the audit writer's cache of recorded
	// statement texts (audit/encode.go).
	auditEncoderBytes = 4 << 20
	// subjectKeyBytes is one cached subject key (measured 174 bytes).
	subjectKeyBytes = 512
	// baseBytes is the rest: the runtime, pg_query, the policy, keyring,
	// catalogs and metrics.
	baseBytes = 32 << 20
)

// WorstCaseHeap is docs/memory.md's bound on phiguard's live Go heap with
// cfg, sessions open sessions, and largest the largest statement text a
// client sends (0: limits.max_message_bytes). It leaves out what clients
// choose to keep, as PostgreSQL does: each prepared statement a session
// keeps costs about twice its text and its analysis. The process's RSS
// may reach (1 + GOGC/100) times the bound, since the collector lets the
// heap grow that far past what is live before it runs.
func WorstCaseHeap(cfg config.Config, sessions, largest int) int64 {
	if largest <= 0 || largest > cfg.Limits.MaxMessageBytes {
		largest = cfg.Limits.MaxMessageBytes
	}
	l := cfg.Limits
	caches := l.ParseCacheBytes + l.RewriteCacheBytes
	// Statements over gatedStatementBytes are analysed within
	// parse_inflight_bytes, or alone when larger; smaller ones at once.
	gated := analysisFactor * max(l.ParseInflightBytes, int64(largest))
	perSession := int64(sessionBytes + sortSpareBytes + sortWireBytes + analysisFactor*min(largest, gatedStatementBytes) + messageCopies*largest)
	audit := int64(cfg.Audit.QueueSize)*int64(auditRecordBytes+auditSubjectBytes*cfg.Audit.MaxSubjectIDs) + auditEncoderBytes
	subjectKeys := cfg.Keys.Subjects.CacheEntries
	if subjectKeys == 0 {
		subjectKeys = keys.DefaultSubjectCacheEntries
	}
	subjects := int64(subjectKeys) * subjectKeyBytes
	return baseBytes + caches + gated + int64(sessions)*perSession + audit + subjects
}
