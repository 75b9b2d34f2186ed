package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

const shredUsage = `usage: phiguard shred --config FILE --subject ID --reason TEXT
       phiguard shred --config FILE --subject ID --terms-only

Destroys the data subject's key in the key provider (crypto-shredding, see
docs/shredding.md): every cell phiguard sealed for the subject, in the live
database and in every backup, becomes unreadable for good. Reads through
phiguard then return NULL (or keys.subjects.shredded_marker) in their place,
and new writes for the subject are refused.

--subject is the value of the subject column exactly as stored (a UUID in
any case); --reason is recorded in the audit trail (a ticket or request
reference, not the patient's details). Running proxies stop using a cached
key within keys.subjects.cache_ttl (default 1m).

When the policy has per-subject columns with search terms, shred then
waits keys.subjects.cache_ttl (or --wait), until no running proxy still
holds the key, and connects to the database (backend:, as phiguard
encrypt does) to give the subject's cells in them the terms of what they
now read as (the shredded marker's, or none), so that no term of the old
value finds the row (docs/design/search-terms.md §5.2). Until then the
cells keep their old terms, which phiguard's reads allow for
(docs/shredding.md). If that step fails or is interrupted the key stays
destroyed: run the command again with --terms-only (no --reason needed)
to finish it.

Exit status: 0 when the key is destroyed or was already and the terms
are rewritten, 1 when the provider or the database fails, 2 on a usage
error.
`

func runShred(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shred", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, shredUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (its keys: and audit: sections)")
	subject := fs.String("subject", "", "the subject id, as stored in the subject column")
	reason := fs.String("reason", "", "why (recorded in the audit trail)")
	termsOnly := fs.Bool("terms-only", false, "only rewrite the search terms of an already shredded subject's cells (resume)")
	wait := fs.Duration("wait", -1, "how long to wait between destroying the key and rewriting the terms (default keys.subjects.cache_ttl)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "phiguard shred: unexpected argument %q\n", fs.Arg(0))
		return 2
	case *path == "":
		fmt.Fprintln(stderr, "phiguard shred: --config is required")
		return 2
	case strings.TrimSpace(*subject) == "":
		fmt.Fprintln(stderr, "phiguard shred: --subject is required")
		return 2
	case strings.TrimSpace(*reason) == "" && !*termsOnly:
		fmt.Fprintln(stderr, "phiguard shred: --reason is required (it goes into the audit trail)")
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard shred: %s: %v\n", *path, err)
		return 1
	}
	if *termsOnly {
		return shredTermsStep(cfg, *subject, 0, stdout, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), keysTimeout)
	defer cancel()
	res, err := shred(ctx, cfg, *subject, *reason)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard shred: %v\n", err)
		return 1
	}
	switch res.outcome {
	case keys.ShredAlready:
		fmt.Fprintf(stdout, "subject key %s was already shredded; nothing changed\n", res.keyID)
	case keys.ShredNoKey:
		fmt.Fprintf(stdout, "no key existed for the subject (nothing was written for it through phiguard); "+
			"a tombstone %s now refuses new writes for it\n", res.keyID)
	default:
		fmt.Fprintf(stdout, "shredded subject key %s in %v: the subject's sealed cells are unreadable from now on, in the database and in every backup\n", res.keyID, res.provider)
		fmt.Fprintf(stdout, "running proxies stop using a cached copy within %v (keys.subjects.cache_ttl)\n", cacheTTL(cfg))
	}
	if len(res.kept) > 0 {
		fmt.Fprintf(stdout, "not shredded: deterministic columns stay under their column keys so equality search works: %s; "+
			"clear them for this subject in the database if they must go too\n", strings.Join(res.kept, ", "))
	}
	if res.audited {
		fmt.Fprintf(stdout, "audit record written to %s (prefix %s)\n", cfg.Audit.Dir, shredAuditPrefix(cfg))
	}
	pause := time.Duration(0)
	if res.outcome != keys.ShredNoKey { // no key existed: no proxy holds one
		pause = *wait
		if pause < 0 {
			pause = cacheTTL(cfg)
		}
	}
	return shredTermsStep(cfg, *subject, pause, stdout, stderr) // shred_terms.go
}

type shredResult struct {
	keyID    string
	outcome  keys.ShredOutcome
	provider keys.Provider
	kept     []string // deterministic columns of subject tables
	audited  bool
}

func shred(ctx context.Context, cfg config.Config, subject, reason string) (shredResult, error) {
	var res shredResult
	p, err := keysconfig.Provider(cfg.Keys, nil)
	if err != nil {
		return res, err
	}
	res.provider = p
	if err := keysconfig.Reachable(ctx, p); err != nil {
		return res, err
	}
	kr, err := keysconfig.Load(ctx, p)
	if err != nil {
		return res, err
	}
	sk, err := keysconfig.SubjectKeys(cfg.Keys, p, kr, nil)
	if err != nil {
		return res, err
	}
	if cfg.PolicyFile != "" {
		if pol, err := sqlrewrite.LoadPolicy(cfg.PolicyFile); err == nil {
			res.kept = deterministicSubjectColumns(pol)
		}
	}
	// The audit record comes first: a shred the trail cannot record is
	// not done (fail closed), and a failure after it is recorded as such.
	auditor, err := openShredAuditor(cfg, kr)
	if err != nil {
		return res, err
	}
	tag, outcome, serr := sk.Shred(ctx, subject)
	res.keyID, res.outcome = keys.SubjectKeyIDOf(tag), outcome
	if auditor != nil {
		ev := &audit.KeyEvent{Action: "shred", KeyID: res.keyID, Subject: keys.CanonicalSubject(subject), Reason: reason, Outcome: outcome.String()}
		if serr != nil {
			ev.Error, ev.Outcome = keysconfig.Explain(p, serr).Error(), ""
		}
		rerr := auditor.Record(ev)
		cerr := auditor.Close(ctx)
		if err := errors.Join(rerr, cerr); err != nil && serr == nil {
			return res, fmt.Errorf("the key is shredded but the audit record could not be written: %w", err)
		}
		res.audited = true
	}
	if serr != nil {
		return res, keysconfig.Explain(p, serr)
	}
	return res, nil
}

// openShredAuditor opens the audit trail for the shred's record, in a
// chain of its own (prefix <file_prefix>-shred) so that it never
// interleaves with a running proxy's chain in the same directory.
func openShredAuditor(cfg config.Config, kr *keys.Keyring) (*audit.Auditor, error) {
	if cfg.Audit.Sink == config.AuditSinkNone {
		return nil, nil
	}
	dk, err := kr.DataKey(cfg.Audit.KeyID)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	key, err := audit.DeriveKey(dk)
	if err != nil {
		return nil, err
	}
	return audit.Open(shredAudit(cfg), key, zap.NewNop(), nil)
}

func shredAuditPrefix(cfg config.Config) string { return cfg.Audit.FilePrefix + "-shred" }

// shredAudit is the audit section of the shred's chain: its own file
// prefix and its own checkpoint.
func shredAudit(cfg config.Config) config.Audit {
	ac := cfg.Audit
	ac.FilePrefix = shredAuditPrefix(cfg)
	if f := ac.CheckpointFile; f != "" && f != config.AuditCheckpointNone {
		ac.CheckpointFile = strings.TrimSuffix(f, ".checkpoint") + "-shred.checkpoint"
	}
	return ac
}

func cacheTTL(cfg config.Config) time.Duration {
	if d := cfg.Keys.Subjects.CacheTTL.Std(); d > 0 {
		return d
	}
	return keys.DefaultSubjectCacheTTL
}

// deterministicSubjectColumns lists the deterministic columns of tables
// with a subject column: a shred does not reach them.
func deterministicSubjectColumns(pol *policy.Policy) []string {
	var out []string
	for _, t := range pol.Tables() {
		if t.SubjectColumn == "" {
			continue
		}
		for _, c := range t.Columns {
			if c.Mode == policy.ModeDeterministic {
				out = append(out, c.QualifiedName())
			}
		}
	}
	return out
}
