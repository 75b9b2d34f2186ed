package main

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Expectation is one line of the expected-differences file: a test ID
// ("pgconn.TestConnect/Unix_socket"), or an ID prefix ending in "*", and the
// reason from its "# ..." comment.
type Expectation struct {
	Pattern string
	Reason  string
	used    bool
}

func (e *Expectation) matches(id ID) bool {
	s := id.String()
	if p, ok := strings.CutSuffix(e.Pattern, "*"); ok {
		return strings.HasPrefix(s, p)
	}
	return s == e.Pattern
}

// ParseExpected reads an expected-differences file. Blank lines and lines
// that are only a comment are ignored; every other line must be one pattern
// followed by a "# reason".
func ParseExpected(r io.Reader) ([]Expectation, error) {
	var out []Expectation
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pat, reason, ok := strings.Cut(line, "#")
		pat, reason = strings.TrimSpace(pat), strings.TrimSpace(reason)
		if !ok || reason == "" {
			return nil, fmt.Errorf("line %d: %q has no \"# reason\"", n, pat)
		}
		if strings.ContainsAny(pat, " \t") {
			return nil, fmt.Errorf("line %d: %q: one test per line", n, pat)
		}
		out = append(out, Expectation{Pattern: pat, Reason: reason})
	}
	return out, sc.Err()
}

// Difference is a test that passed directly but not through phiguard.
type Difference struct {
	ID      ID
	Proxied Outcome // Fail, Skip or Missing
	Reason  string  // why it is expected; "" when unexplained
}

// PackageRow is one line of the per-package table.
type PackageRow struct {
	Package         string
	Direct, Proxied map[Outcome]int
	DirectPkgFail   bool
	ProxiedPkgFail  bool
}

// Report is the outcome of comparing two runs.
type Report struct {
	Rows         []PackageRow
	Differences  []Difference // sorted by ID
	PassedBoth   int
	Unexplained  int
	FailedDirect []ID          // did not pass directly: no evidence either way
	Improved     []ID          // failed directly, passed through phiguard
	Unused       []Expectation // expected differences that did not occur
}

// Compare lines up two runs. A test whose own result differs only because
// subtests differ is explained when all its differing subtests are.
func Compare(direct, proxied *Run, expected []Expectation) Report {
	var rep Report
	pkgs := append([]string(nil), direct.Packages...)
	for _, p := range proxied.Packages {
		if !direct.pkgSeen[p] {
			pkgs = append(pkgs, p)
		}
	}
	for _, p := range pkgs {
		rep.Rows = append(rep.Rows, PackageRow{
			Package: p, Direct: direct.count(p), Proxied: proxied.count(p),
			DirectPkgFail: direct.PkgFail[p], ProxiedPkgFail: proxied.PkgFail[p],
		})
	}

	for id, d := range direct.Tests {
		p, ok := proxied.Tests[id]
		if !ok {
			p = Missing
		}
		switch {
		case d == Pass && p == Pass:
			rep.PassedBoth++
		case d == Pass:
			rep.Differences = append(rep.Differences, Difference{ID: id, Proxied: p})
		case p == Pass:
			rep.Improved = append(rep.Improved, id)
		case d != Skip:
			rep.FailedDirect = append(rep.FailedDirect, id)
		}
	}

	// Deepest first, so a parent sees its subtests' verdicts.
	diffs := rep.Differences
	sort.Slice(diffs, func(i, j int) bool {
		di, dj := strings.Count(diffs[i].ID.Test, "/"), strings.Count(diffs[j].ID.Test, "/")
		if di != dj {
			return di > dj
		}
		return diffs[i].ID.String() < diffs[j].ID.String()
	})
	for i := range diffs {
		d := &diffs[i]
		for k := range expected {
			if expected[k].matches(d.ID) {
				expected[k].used = true
				d.Reason = expected[k].Reason
				break
			}
		}
		if d.Reason != "" {
			continue
		}
		children, explained := 0, 0
		prefix := d.ID.Test + "/"
		for _, c := range diffs[:i] {
			if c.ID.Package == d.ID.Package && strings.HasPrefix(c.ID.Test, prefix) {
				children++
				if c.Reason != "" {
					explained++
				}
			}
		}
		if children > 0 && children == explained && d.Proxied == Fail {
			d.Reason = "only its expected subtests differ"
		}
	}
	for _, d := range diffs {
		if d.Reason == "" {
			rep.Unexplained++
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].ID.String() < diffs[j].ID.String() })
	for _, e := range expected {
		if !e.used {
			rep.Unused = append(rep.Unused, e)
		}
	}
	sortIDs(rep.FailedDirect)
	sortIDs(rep.Improved)
	return rep
}

func sortIDs(ids []ID) {
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
}
