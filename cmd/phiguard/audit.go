package main

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
)

const auditUsage = `usage: phiguard audit verify (--config FILE | --key-file FILE) [--checkpoint FILE|none]
                             [--partial] [--closed] FILE|DIR...
       phiguard audit report (--subject ID | --user U) [--since T] [--until T]
                             [--format table|json|csv] [--possible] FILE|DIR...

verify checks the HMAC chain of audit files given in chain order (a
directory stands for its audit files, in order) and prints "OK: N records",
or the first record that was altered, deleted, inserted, reordered or
truncated, with its file and line.

  By default the files must start with the log's first record (a new log's
  audit_start); --partial accepts files that begin in the middle of a chain
  (older files archived or removed). --closed also requires the last record
  to be an audit_stop (the proxy shut down cleanly and nothing after it is
  missing); without it an open log (still being written) is OK if it
  reaches its checkpoint.

  The end of an open log is checked against the checkpoint, the chain head
  the proxy keeps apart from the log (audit.checkpoint_file): a log that
  ends before the checkpoint's seq was cut at its end. The checkpoint is
  --checkpoint FILE, else the one --config names (it must then exist),
  else DIR/<prefix>.checkpoint when the last DIR holds one. --checkpoint
  none skips it (an archived copy that ends earlier on purpose).

report lists every access to one subject's data (--subject, the HIPAA
accounting of disclosures) or by one user (--user): when, who, from where,
which tables and protected columns, which decision and rule, how many rows.
--possible also lists statements that read a subject table without naming
the subject ids (the result lacked the subject column or the list was
full). T is RFC 3339 (2026-03-01T09:00:00Z) or a date (2026-03-01, UTC).
Run verify first: report does not check MACs.

The chain key: until phiguard reads keys from the key provider for this
command, --key-file names a file holding the 32-byte HMAC key in base64
(audit.DeriveKey derives it from the provider's "audit" data key).

Exit status: 0 OK, 1 a broken chain or an error, 2 a usage error.
`

func runAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(args[1:], stdout, stderr)
	case "report":
		return runAuditReport(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, auditUsage)
		return 0
	}
	fmt.Fprintf(stderr, "phiguard audit: unknown subcommand %q\n\n%s", args[0], auditUsage)
	return 2
}

func auditFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("audit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage); fs.PrintDefaults() }
	prefix := fs.String("prefix", "audit", "file name prefix of the audit files in a DIR argument")
	return fs, prefix
}

// auditFiles expands directory arguments into their audit files.
func auditFiles(args []string, prefix string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		fs, err := audit.Files(a, prefix)
		if err != nil {
			return nil, err
		}
		if len(fs) == 0 {
			return nil, fmt.Errorf("%s: no %s-*.jsonl files", a, prefix)
		}
		out = append(out, fs...)
	}
	return out, nil
}

func readKeyFile(path string) (keys.Secret, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return keys.Secret{}, err
	}
	s := strings.TrimSpace(string(raw))
	clear(raw)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			defer clear(b)
			if len(b) != audit.MACKeySize {
				return keys.Secret{}, fmt.Errorf("%s: the key must be %d bytes, got %d", path, audit.MACKeySize, len(b))
			}
			return keys.NewSecret(b), nil
		}
	}
	return keys.Secret{}, fmt.Errorf("%s: not base64", path)
}

func runAuditVerify(args []string, stdout, stderr io.Writer) int {
	fs, prefix := auditFlags("verify", stderr)
	keyFile := fs.String("key-file", "", "file holding the chain's HMAC key, 32 bytes in base64")
	configPath := fs.String("config", "", "derive the chain's keys from the key provider this configuration names (instead of --key-file)")
	partial := fs.Bool("partial", false, "accept files that begin in the middle of a chain")
	closed := fs.Bool("closed", false, "require the log to end with an audit_stop record")
	checkpoint := fs.String("checkpoint", "", "the checkpoint file to compare the log's end with, or none (default: the configuration's, else DIR/<prefix>.checkpoint)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if (*keyFile == "") == (*configPath == "") || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "phiguard audit verify: one of --config or --key-file, and at least one FILE, are required")
		return 2
	}
	var keyFunc audit.KeyFunc
	cp := verifyCheckpoint{path: *checkpoint, required: *checkpoint != "" && *checkpoint != config.AuditCheckpointNone}
	if *configPath != "" {
		kf, cfgCP, err := providerAuditKeys(*configPath, *prefix)
		if err != nil {
			fmt.Fprintf(stderr, "phiguard audit verify: %v\n", err)
			return 1
		}
		keyFunc = kf
		if cp.path == "" && cfgCP != "" {
			cp = verifyCheckpoint{path: cfgCP, required: true}
		}
	} else {
		key, err := readKeyFile(*keyFile)
		if err != nil {
			fmt.Fprintf(stderr, "phiguard audit verify: %v\n", err)
			return 1
		}
		keyFunc = audit.StaticKey(key)
	}
	if cp.path == "" {
		cp.path = dirCheckpoint(fs.Args(), *prefix)
	}
	r, err := cp.verify(keyFunc, func() ([]string, error) { return auditFiles(fs.Args(), *prefix) })
	if err != nil {
		fmt.Fprintf(stderr, "phiguard audit verify: %v\n", err)
		return 1
	}
	if r.Problem != nil {
		fmt.Fprintf(stdout, "BROKEN after %d good records: %v\n", r.Records, r.Problem)
		return 1
	}
	if r.Records == 0 {
		fmt.Fprintln(stdout, "BROKEN: no records")
		return 1
	}
	if !r.Anchored && !*partial {
		fmt.Fprintf(stdout, "BROKEN: the files begin at seq %d, not at the start of a log: earlier records are missing (use --partial if older files were archived)\n", r.FirstSeq)
		return 1
	}
	if !r.Ended && *closed {
		fmt.Fprintf(stdout, "BROKEN: the log ends at seq %d without an audit_stop record: it was truncated, or the proxy did not shut down cleanly\n", r.LastSeq)
		return 1
	}
	if r.Checkpoint == nil && cp.required {
		fmt.Fprintf(stdout, "BROKEN: there is no checkpoint at %s to compare the log's end with: it was removed, or the proxy never wrote one (--checkpoint none to verify without)\n", cp.path)
		return 1
	}
	fmt.Fprintf(stdout, "OK: %d records (seq %d to %d, %d chain starts)", r.Records, r.FirstSeq, r.LastSeq, r.Chains)
	if !r.Ended {
		fmt.Fprint(stdout, "; the log is open (no audit_stop after the last record)")
	}
	switch {
	case r.Checkpoint != nil:
		fmt.Fprintf(stdout, "; it reaches the checkpoint (seq %d at %s)", r.Checkpoint.Seq, r.Checkpoint.Time)
	case !r.Ended:
		fmt.Fprint(stdout, "; no checkpoint to tell whether records were cut from its end")
	}
	fmt.Fprintln(stdout)
	return 0
}

// verifyCheckpoint is the checkpoint verify compares the log's end with.
type verifyCheckpoint struct {
	path     string // "" or none: none
	required bool   // a missing file is a broken log
}

func (c verifyCheckpoint) verify(key audit.KeyFunc, list func() ([]string, error)) (audit.VerifyResult, error) {
	if c.path == "" || c.path == config.AuditCheckpointNone {
		files, err := list()
		if err != nil {
			return audit.VerifyResult{}, err
		}
		return audit.Verify(key, files...)
	}
	return audit.VerifyCheckpointListed(key, audit.FileCheckpoint{Path: c.path}, list)
}

// dirCheckpoint is DIR/<prefix>.checkpoint of the last DIR argument, if
// that file exists: the checkpoint the proxy writes by default.
func dirCheckpoint(args []string, prefix string) string {
	for i := len(args) - 1; i >= 0; i-- {
		if fi, err := os.Stat(args[i]); err != nil || !fi.IsDir() {
			continue
		}
		p := filepath.Join(args[i], prefix+".checkpoint")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		return ""
	}
	return ""
}

func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

func runAuditReport(args []string, stdout, stderr io.Writer) int {
	fs, prefix := auditFlags("report", stderr)
	var q audit.ReportQuery
	fs.StringVar(&q.Subject, "subject", "", "subject id (e.g. a patient id) whose accesses to list")
	fs.StringVar(&q.User, "user", "", "database user whose records to list")
	since := fs.String("since", "", "only records at or after T")
	until := fs.String("until", "", "only records before T")
	format := fs.String("format", "table", "table, json or csv")
	fs.BoolVar(&q.Possible, "possible", false, "also list statements that may concern the subject")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if (q.Subject == "") == (q.User == "") || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "phiguard audit report: give exactly one of --subject and --user, and at least one FILE")
		return 2
	}
	var err error
	if q.Since, err = parseWhen(*since); err != nil {
		fmt.Fprintf(stderr, "phiguard audit report: --since: %v\n", err)
		return 2
	}
	if q.Until, err = parseWhen(*until); err != nil {
		fmt.Fprintf(stderr, "phiguard audit report: --until: %v\n", err)
		return 2
	}
	if *format != "table" && *format != "json" && *format != "csv" {
		fmt.Fprintf(stderr, "phiguard audit report: --format must be table, json or csv, got %q\n", *format)
		return 2
	}
	files, err := auditFiles(fs.Args(), *prefix)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard audit report: %v\n", err)
		return 1
	}
	r, err := audit.Report(q, files...)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard audit report: %v\n", err)
		return 1
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if r.Accesses == nil {
			r.Accesses = []audit.Access{}
		}
		enc.Encode(r.Accesses)
	case "csv":
		w := csv.NewWriter(stdout)
		w.Write(reportHeader)
		for _, a := range r.Accesses {
			w.Write(reportRow(a))
		}
		w.Flush()
	default:
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, strings.Join(reportHeader, "\t"))
		for _, a := range r.Accesses {
			row := reportRow(a)
			for i, c := range row {
				if c == "" {
					row[i] = "-"
				}
			}
			fmt.Fprintln(w, strings.Join(row, "\t"))
		}
		w.Flush()
	}
	if r.PossibleOmitted > 0 {
		fmt.Fprintf(stderr, "%d more statements read protected columns of a subject table without naming their subjects; --possible lists them\n", r.PossibleOmitted)
	}
	return 0
}

var reportHeader = []string{"time", "user", "role", "client", "database", "event", "kind", "tables", "read", "written", "decision", "rule", "rows", "sqlstate", "match", "instance", "seq"}

func reportRow(a audit.Access) []string {
	rows := ""
	if a.Rows != nil {
		rows = strconv.FormatInt(*a.Rows, 10)
	}
	return []string{a.Time, a.User, a.Role, a.Client, a.Database, a.Event, a.Kind,
		strings.Join(a.Tables, ","), strings.Join(a.Read, ","), strings.Join(a.Written, ","),
		a.Decision, a.Rule, rows, a.SQLState, a.Match, a.Instance, strconv.FormatUint(a.Seq, 10)}
}

// providerAuditKeys loads the keyring of the configuration's key provider
// and derives each audit chain key (any version) from it, as serve does;
// checkpoint is the checkpoint file the configuration has serve (or,
// for the shred chain's prefix, shred) write for the files of prefix.
func providerAuditKeys(path, prefix string) (kf audit.KeyFunc, checkpoint string, err error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, "", err
	}
	p, err := keysconfig.Provider(cfg.Keys, prometheus.NewRegistry())
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), keysTimeout)
	defer cancel()
	kr, err := keysconfig.Load(ctx, p)
	if err != nil {
		return nil, "", err
	}
	return func(id string, version uint32) (keys.Secret, error) {
		dk, err := kr.DataKeyVersion(id, version)
		if err != nil {
			return keys.Secret{}, err
		}
		mk, err := audit.DeriveKey(dk)
		return mk.Secret, err
	}, configCheckpoint(cfg, prefix), nil
}

// configCheckpoint is the checkpoint the configuration writes for the
// chain of prefix; empty for a prefix it does not write.
func configCheckpoint(cfg config.Config, prefix string) string {
	switch prefix {
	case cfg.Audit.FilePrefix:
		return cfg.Audit.Checkpoint()
	case shredAuditPrefix(cfg):
		return shredAudit(cfg).Checkpoint()
	}
	return ""
}
