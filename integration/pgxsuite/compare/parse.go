package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Outcome is what a test reported last.
type Outcome string

const (
	Pass    Outcome = "pass"
	Fail    Outcome = "fail"
	Skip    Outcome = "skip"
	Missing Outcome = "missing" // never ran, or ran without reporting a result
)

// ID names one test or subtest: the package path with the module prefix
// trimmed ("pgx" for the module root) and the test name as go test prints it.
type ID struct {
	Package string
	Test    string
}

func (id ID) String() string { return id.Package + "." + id.Test }

// Run is one go test -json stream reduced to each test's outcome.
type Run struct {
	Tests    map[ID]Outcome
	Packages []string        // in the order first seen
	PkgFail  map[string]bool // package binary failed (tests failed, panic, timeout, build)
	pkgSeen  map[string]bool
}

// event is the subset of cmd/test2json's TestEvent that compare needs.
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output / build-fail events
	Test       string
}

// Parse reads a go test -json stream. Lines that are not JSON objects (go
// may print build errors as plain text) are ignored; a malformed JSON object
// is an error. module is trimmed from package paths.
func Parse(r io.Reader, module string) (*Run, error) {
	run := &Run{Tests: map[ID]Outcome{}, PkgFail: map[string]bool{}, pkgSeen: map[string]bool{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		pkgPath := ev.Package
		if pkgPath == "" {
			pkgPath = ev.ImportPath
		}
		if pkgPath == "" {
			continue
		}
		// An ImportPath may carry a test variant suffix: "p [p.test]".
		pkgPath, _, _ = strings.Cut(pkgPath, " ")
		pkg := shortPackage(pkgPath, module)
		if !run.pkgSeen[pkg] {
			run.pkgSeen[pkg] = true
			run.Packages = append(run.Packages, pkg)
		}
		if ev.Test == "" {
			if ev.Action == "fail" || ev.Action == "build-fail" {
				run.PkgFail[pkg] = true
			}
			continue
		}
		id := ID{pkg, normalizeTest(ev.Test)}
		switch ev.Action {
		case "pass", "fail", "skip":
			run.Tests[id] = Outcome(ev.Action)
		case "run":
			if _, ok := run.Tests[id]; !ok {
				run.Tests[id] = Missing
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return run, nil
}

// tempDir matches the random part of a t.TempDir() path ("/tmp/TestX123456789/001/"),
// which some pgx tests put into subtest names.
var tempDir = regexp.MustCompile(`([A-Za-z_])[0-9]+(/[0-9]{3}/)`)

// normalizeTest makes a test name the same in every run.
func normalizeTest(name string) string {
	return tempDir.ReplaceAllString(name, "${1}*${2}")
}

func shortPackage(path, module string) string {
	if path == module {
		i := strings.LastIndex(module, "/")
		base := module[i+1:]
		// Major-version suffix: github.com/jackc/pgx/v5 is package pgx.
		if len(base) > 1 && base[0] == 'v' && strings.Trim(base[1:], "0123456789") == "" && i > 0 {
			j := strings.LastIndex(module[:i], "/")
			base = module[j+1 : i]
		}
		return base
	}
	if rest, ok := strings.CutPrefix(path, module+"/"); ok {
		return rest
	}
	return path
}

// count tallies outcomes over all tests, or over the given package's.
func (r *Run) count(pkg ...string) map[Outcome]int {
	c := map[Outcome]int{}
	for id, o := range r.Tests {
		if len(pkg) > 0 && id.Package != pkg[0] {
			continue
		}
		if o == Missing {
			o = Fail // ran but never finished: its binary died under it
		}
		c[o]++
	}
	return c
}
