package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// ReadEntries calls fn with every record of files, in order. It parses
// without checking MACs: run Verify first to know the records are genuine.
func ReadEntries(fn func(file string, line int, e *Entry) error, files ...string) error {
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		r := bufio.NewReaderSize(f, 1<<20)
		for n := 1; ; n++ {
			b, err := r.ReadBytes('\n')
			if len(b) > 0 && b[len(b)-1] == '\n' {
				var e Entry
				if jerr := json.Unmarshal(b, &e); jerr != nil {
					f.Close()
					return fmt.Errorf("audit: %s:%d: not a record: %v", name, n, jerr)
				}
				if ferr := fn(name, n, &e); ferr != nil {
					f.Close()
					return ferr
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("audit: read %s: %w", name, err)
			}
		}
		f.Close()
	}
	return nil
}

// ReportQuery selects the records of an accounting of disclosures: those
// naming Subject among the subject ids they list, or those of User; within
// [Since, Until) when set.
type ReportQuery struct {
	Subject, User string
	Since, Until  time.Time
	// Possible also lists statements that read protected columns of a
	// subject table without a complete subject list (the result lacked the
	// subject column, or the list was full): they may concern Subject.
	Possible bool
}

// Access is one line of a report.
type Access struct {
	Time     string   `json:"time"`
	User     string   `json:"user"`
	Role     string   `json:"role,omitempty"`
	Database string   `json:"database,omitempty"`
	Client   string   `json:"client,omitempty"`
	Session  string   `json:"session,omitempty"`
	Event    string   `json:"event"`
	Kind     string   `json:"kind,omitempty"`
	Tables   []string `json:"tables,omitempty"`
	Read     []string `json:"read,omitempty"`
	Written  []string `json:"written,omitempty"`
	Decision string   `json:"decision,omitempty"`
	Rule     string   `json:"rule,omitempty"`
	Rows     *int64   `json:"rows,omitempty"`
	SQLState string   `json:"sqlstate,omitempty"`
	// Match is "listed" (the record names the subject), "possible" (see
	// ReportQuery.Possible) or empty for a --user report.
	Match    string `json:"match,omitempty"`
	Instance string `json:"instance"`
	Seq      uint64 `json:"seq"`
}

// ReportResult is a report's lines and, for a subject report, how many
// possible accesses were left out (Possible not set).
type ReportResult struct {
	Accesses        []Access
	PossibleOmitted int
}

// Report reads files and returns the accesses q selects, oldest first.
func Report(q ReportQuery, files ...string) (ReportResult, error) {
	var res ReportResult
	err := ReadEntries(func(_ string, _ int, e *Entry) error {
		if q.User != "" && e.User != q.User {
			return nil
		}
		if !q.Since.IsZero() || !q.Until.IsZero() {
			t, err := time.Parse(time.RFC3339Nano, e.Time)
			if err != nil || (!q.Since.IsZero() && t.Before(q.Since)) || (!q.Until.IsZero() && !t.Before(q.Until)) {
				return nil
			}
		}
		match := ""
		if q.Subject != "" {
			match = subjectMatch(e, q.Subject)
			if match == "" {
				return nil
			}
			if match == "possible" && !q.Possible {
				res.PossibleOmitted++
				return nil
			}
		}
		res.Accesses = append(res.Accesses, Access{
			Time: e.Time, User: e.User, Role: e.Role, Database: e.Database, Client: e.Client, Session: e.Session,
			Event: e.Event, Kind: e.Kind, Tables: e.Tables, Read: e.Read, Written: e.Written,
			Decision: e.Decision, Rule: e.Rule, Rows: e.Rows, SQLState: e.SQLState, Match: match,
			Instance: e.Instance, Seq: e.Seq,
		})
		return nil
	}, files...)
	slices.SortStableFunc(res.Accesses, func(a, b Access) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	return res, err
}

func subjectMatch(e *Entry, subject string) string {
	if e.Event != EventStatement {
		return ""
	}
	possible := false
	for _, s := range e.Subjects {
		if slices.Contains(s.IDs, subject) {
			return "listed"
		}
		if s.NotInResult || s.Omitted > 0 {
			possible = true
		}
	}
	if possible && (len(e.Read) > 0 || len(e.Written) > 0) {
		return "possible"
	}
	return ""
}
