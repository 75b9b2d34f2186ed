// Package audit writes phiguard's tamper-evident audit trail: one JSON line
// per statement, connection open and close, authentication failure, policy
// refusal, break-glass, key event and policy reload, chained with
// HMAC-SHA256 so that Verify finds the first altered, deleted, inserted,
// reordered or truncated record; with Options.Checkpoint the chain head is
// also stored apart from the log, and VerifyCheckpoint finds records cut
// from the end of a log that is still open. docs/audit.md is the format and the
// operator's guide; this comment is for the proxy that calls it.
//
// # Use from the proxy
//
//	key, _ := audit.DeriveKey(dataKey)            // the provider's "audit" data key
//	a, err := audit.Open(cfg.Audit, key, log, reg) // or audit.New(audit.Options{...})
//	defer a.Close(ctx)                             // writes what is queued and audit_stop
//
//	sess := &audit.Session{ID: ..., Client: ..., User: ..., Role: ..., Database: ...}
//	a.Record(&audit.ConnectionOpen{Session: sess})
//	if err := a.Record(&audit.Statement{Session: sess, Analysis: an, Index: i, ...}); err != nil {
//		// errors.Is(err, audit.ErrUnavailable): refuse PHI statements with
//		// SQLSTATE audit.SQLState (58030) and err's message.
//	}
//
// Record never blocks: it stamps the event's time and hands the event
// itself to a bounded queue, so the session's goroutine pays for a channel
// send and nothing else; the event then belongs to the auditor and must
// not change. One writer goroutine encodes records (a hand-written encoder
// that writes exactly what encoding/json would, jsonenc.go), seals them
// into the chain in queue order and writes them in batches, lingering
// BatchDelay after a wake-up so that batches form under load. When the
// queue is full or the sink fails, Record and Healthy return an
// *UnavailableError until a write succeeds again (Healthy is also what
// phiguard's /readyz asks); records already queued are retried, never
// dropped, and refused ones are counted (and totalled in the
// audit_recovered record that ends the outage).
//
// # One writer per chain, and a directory it can write
//
// Two processes appending to one chain interleave their records and break
// it. A FileSink therefore holds the lock file <dir>/<prefix>.lock
// (flock(2), dropped by the kernel if the process dies) from Resume to
// Close, with its pid, host and start time inside; a second writer of the
// same directory and prefix gets ErrChainInUse naming them, and New fails.
// Other prefixes in the same directory are other chains (phiguard shred
// writes <prefix>-shred next to a running proxy). Resume also creates,
// writes, fsyncs and removes <prefix>.probe, so that a directory that is
// read-only, not ours or full stops the start with an error naming it,
// instead of an auditor that starts and then refuses every PHI statement.
//
// A proxy that needs the decision before the statement runs (fail closed)
// calls Healthy first and Record after the statement, with its rows,
// subjects, duration and SQLSTATE; a Record error then is counted and
// logged, and the next PHI statement is refused by Healthy.
//
// # No values
//
// Events are a closed set of types; SQL enters only as a
// *sqlrewrite.Analysis, whose normalized text (constants replaced by $n)
// and fingerprint are recorded. There is no field for parameters, row
// values or backend error messages. The test TestPrivacyNoPHIValues feeds
// a sentinel value through every path and greps the output.
//
// # Pieces
//
//	event.go, encode.go   the event types and their encoding to Entry
//	entry.go              the record's JSON keys (also what Verify and Report read)
//	jsonenc.go            Entry to JSON without reflection (decoding uses encoding/json)
//	chain.go              DeriveKey, sealing a line, the MAC
//	auditor.go, writer.go Record, the queue, health, the writer goroutine
//	sink.go, filesink.go  stdout and rotating-file sinks, resume after restart
//	chainlock.go          the chain's lock file and the start-up write probe
//	alerts.go             per-user thresholds in tumbling windows
//	checkpoint*.go        the chain head kept apart from the log, so that
//	                      VerifyCheckpoint finds records cut from its end
//	verify.go, report.go  Verify and the accounting-of-disclosures Report
package audit
