package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

func triple(c map[Outcome]int, pkgFail bool) string {
	s := fmt.Sprintf("%d/%d/%d", c[Pass], c[Fail], c[Skip])
	if pkgFail && c[Fail] == 0 {
		s += " (package failed)"
	}
	return s
}

func printReport(w io.Writer, rep Report) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "package\tdirect pass/fail/skip\tphiguard pass/fail/skip\t")
	tot := [2]map[Outcome]int{{}, {}}
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", r.Package, triple(r.Direct, r.DirectPkgFail), triple(r.Proxied, r.ProxiedPkgFail))
		for o, n := range r.Direct {
			tot[0][o] += n
		}
		for o, n := range r.Proxied {
			tot[1][o] += n
		}
	}
	fmt.Fprintf(tw, "total\t%s\t%s\t\n", triple(tot[0], false), triple(tot[1], false))
	tw.Flush()

	fmt.Fprintf(w, "\nPassed directly, not through phiguard: %d (%d expected, %d unexplained)\n",
		len(rep.Differences), len(rep.Differences)-rep.Unexplained, rep.Unexplained)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, d := range rep.Differences {
		verdict := "UNEXPLAINED"
		if d.Reason != "" {
			verdict = "expected: " + d.Reason
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", d.ID, d.Proxied, verdict)
	}
	tw.Flush()

	if len(rep.Improved) > 0 {
		fmt.Fprintf(w, "\nFailed directly, passed through phiguard (flaky?): %d\n", len(rep.Improved))
		for _, id := range rep.Improved {
			fmt.Fprintf(w, "  %s\n", id)
		}
	}
	if len(rep.FailedDirect) > 0 {
		fmt.Fprintf(w, "\nFailed directly and through phiguard (the setup, not the proxy): %d\n", len(rep.FailedDirect))
		for _, id := range rep.FailedDirect {
			fmt.Fprintf(w, "  %s\n", id)
		}
	}
	if len(rep.Unused) > 0 {
		fmt.Fprintf(w, "\nExpected differences that did not occur: %d\n", len(rep.Unused))
		for _, e := range rep.Unused {
			fmt.Fprintf(w, "  %s  # %s\n", e.Pattern, e.Reason)
		}
	}
	fmt.Fprintf(w, "\npgxsuite: %d passed, %d failed\n", rep.PassedBoth, rep.Unexplained)
}

func printDirectOnly(w io.Writer, r *Run) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "package\tdirect pass/fail/skip\t")
	for _, p := range r.Packages {
		fmt.Fprintf(tw, "%s\t%s\t\n", p, triple(r.count(p), r.PkgFail[p]))
	}
	c := r.count()
	fmt.Fprintf(tw, "total\t%s\t\n", triple(c, false))
	tw.Flush()
	var failed []ID
	for id, o := range r.Tests {
		if o == Fail || o == Missing {
			failed = append(failed, id)
		}
	}
	sortIDs(failed)
	if len(failed) > 0 {
		fmt.Fprintf(w, "\nFailed directly: %d\n", len(failed))
		for _, id := range failed {
			fmt.Fprintf(w, "  %s\n", id)
		}
	}
	fmt.Fprintf(w, "\npgxsuite: %d passed, %d failed\n", c[Pass], c[Fail])
}
