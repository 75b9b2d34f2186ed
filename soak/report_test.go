package soak

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// figures are everything the soak prints at the end.
type figures struct {
	params   params
	nofile   nofileFigures
	mountErr string

	warm, end idle
	actions   []action
	chaosEnd  time.Time
	samples   []sample
	clients   stats
	shutdown  string

	readThrough struct{ ids, missing, wrong int }
	atRest      struct{ rows, notCell, ackedMissing int }
	audit       auditFigures
	log         logFigures
	checks      []check
}

type nofileFigures struct{ test, phiguard uint64 }

// print logs the figures as one block, so `go test -v` shows them
// together.
func (f *figures) print(t *testing.T) {
	t.Helper()
	var b strings.Builder
	f.printRun(&b)
	f.printWorkload(&b)
	f.printChaos(&b)
	f.printProcess(&b)
	f.printAudit(&b)
	fmt.Fprintf(&b, "\nChecks\n")
	for _, c := range f.checks {
		mark := "PASS"
		if !c.ok {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s  %s: %s\n", mark, c.name, c.detail)
	}
	t.Log("soak figures\n" + b.String())
	if out := f.params.out; out != "" {
		if err := os.WriteFile(filepath.Join(out, "figures.txt"), []byte(b.String()), 0o644); err != nil {
			t.Log(err)
		}
	}
}

func (f *figures) printRun(b *strings.Builder) {
	p := f.params
	counts := map[string]int{}
	for i := 0; i < p.clients; i++ {
		counts[roleOf(i).String()+" "+modeName(modeOf(i))]++
	}
	fmt.Fprintf(b, "\nRun\n")
	fmt.Fprintf(b, "  clients            %d (%s)\n", p.clients, countsString(counts))
	fmt.Fprintf(b, "  duration           %s: warm-up %s, chaos %s (planned; the first round runs whole), cool-down %s\n", p.duration, p.warmup, p.chaos(), p.cooldown)
	fmt.Fprintf(b, "  seed               %d\n", p.seed)
	fmt.Fprintf(b, "  idle sockets       %d per action, from %d addresses, held %s\n", p.idleSockets, idleSources, p.idleHold)
	fmt.Fprintf(b, "  RLIMIT_NOFILE      phiguard %d; test %d (idle sockets in holder processes of up to %d)\n", f.nofile.phiguard, f.nofile.test, holderShare)
	disk := fmt.Sprintf("tmpfs %d MiB", p.auditMB)
	if f.mountErr != "" {
		disk = "plain directory; disk-full action SKIPPED: " + f.mountErr
	}
	fmt.Fprintf(b, "  audit disk         %s\n", disk)
}

func (f *figures) printWorkload(b *strings.Builder) {
	c := f.clients
	fmt.Fprintf(b, "\nWorkload (client side)\n")
	for _, k := range []string{"connect", "insert", "select", "transaction"} {
		fmt.Fprintf(b, "  %-18s %d ok of %d\n", k, c.ok[k], c.attempts[k])
	}
	var stmts int64
	for k, v := range c.ok {
		if k != "connect" {
			stmts += v
		}
	}
	fmt.Fprintf(b, "  statements ok      %d\n", stmts)
	fmt.Fprintf(b, "  acknowledged rows  %d\n", c.acked)
	fmt.Fprintf(b, "  reader refusals    %d (42501, as they should be)\n", c.refused)
	fmt.Fprintf(b, "  reconnects         %d\n", c.reconnects)
	fmt.Fprintf(b, "  wrong reads        %d\n", c.wrongReads)
	fmt.Fprintf(b, "  errors             %s\n", countsString(int64Counts(c.errors)))
	for _, k := range slices.Sorted(maps.Keys(c.errSample)) {
		fmt.Fprintf(b, "    e.g. %-14s %.160s\n", k, c.errSample[k])
	}
	fmt.Fprintf(b, "  read back at end   %d ids: %d missing, %d wrong\n", f.readThrough.ids, f.readThrough.missing, f.readThrough.wrong)
	fmt.Fprintf(b, "  at rest            %d rows; %d cells not encrypted; %d acknowledged ids missing\n", f.atRest.rows, f.atRest.notCell, f.atRest.ackedMissing)
}

func (f *figures) printChaos(b *strings.Builder) {
	kinds := map[string]int{}
	for _, a := range f.actions {
		kinds[a.kind]++
	}
	fmt.Fprintf(b, "\nChaos: %d actions (%s)\n", len(f.actions), countsString(kinds))
	for _, a := range f.actions {
		fmt.Fprintf(b, "  %6.1fs %-17s %6.1fs  %s\n", a.at.Seconds(), a.kind, a.took.Seconds(), a.note)
	}
	ready := map[string]map[string]int{}
	health := 0
	for _, s := range f.samples {
		if ready[s.action] == nil {
			ready[s.action] = map[string]int{}
		}
		code := fmt.Sprint(s.readyz)
		if s.readyz != 200 {
			code += " " + firstLine(s.readyzBody)
			if len(code) > 60 {
				code = code[:60]
			}
		}
		ready[s.action][code]++
		if s.healthz != 200 {
			health++
		}
	}
	fmt.Fprintf(b, "  /readyz once a second, by action in progress:\n")
	for _, k := range slices.Sorted(maps.Keys(ready)) {
		fmt.Fprintf(b, "    %-17s %s\n", k, countsString(ready[k]))
	}
	fmt.Fprintf(b, "  /healthz not 200   %d of %d samples\n", health, len(f.samples))
}

func (f *figures) printProcess(b *strings.Builder) {
	var peakG, peakFD int
	var peakS float64
	for _, s := range f.samples {
		peakG, peakFD, peakS = max(peakG, s.goroutines), max(peakFD, s.fds), max(peakS, s.sessions)
	}
	fmt.Fprintf(b, "\nphiguard process (idle: no sessions, GC forced, %s settle, median of 5)\n", f.params.settle)
	fmt.Fprintf(b, "  RSS                post-warm-up %.1f MiB, end %.1f MiB (%+.1f%%), peak %.1f MiB\n",
		mib(f.warm.rssKB), mib(f.end.rssKB), 100*(float64(f.end.rssKB)/float64(f.warm.rssKB)-1), mib(f.end.hwmKB))
	fmt.Fprintf(b, "  RSS after the GC   post-warm-up %s (MiB, a reading a second)\n", seriesString(f.warm.series))
	fmt.Fprintf(b, "                     end %s\n", seriesString(f.end.series))
	fmt.Fprintf(b, "  RSS by mapping     post-warm-up %s (MiB)\n", f.warm.partsString())
	fmt.Fprintf(b, "                     end %s\n", f.end.partsString())
	fmt.Fprintf(b, "  Go runtime (MiB)   ")
	for i, k := range goMemOrder {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "%s %.1f → %.1f", k, f.warm.memstats[k]/(1<<20), f.end.memstats[k]/(1<<20))
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "  OS threads         post-warm-up %d, end %d\n", f.warm.threads, f.end.threads)
	fmt.Fprintf(b, "  goroutines         post-warm-up %d, end %d, peak sampled %d\n", f.warm.goroutines, f.end.goroutines, peakG)
	fmt.Fprintf(b, "  descriptors        post-warm-up %d, end %d, peak sampled %d\n", f.warm.fds, f.end.fds, peakFD)
	fmt.Fprintf(b, "  sessions           peak sampled %.0f\n", peakS)
	fmt.Fprintf(b, "  shutdown           %s\n", f.shutdown)
}

func (f *figures) printAudit(b *strings.Builder) {
	a := f.audit
	fmt.Fprintf(b, "\nAudit trail\n")
	fmt.Fprintf(b, "  records            %d (%s)\n", a.records, countsString(a.events))
	fmt.Fprintf(b, "  size               %.1f MiB in %d files (tmpfs %d MiB)\n", float64(a.bytes)/(1<<20), a.files, f.params.auditMB)
	fmt.Fprintf(b, "  statements         by sqlstate: %s\n", countsString(a.sqlstates))
	fmt.Fprintf(b, "                     by protocol: %s; interrupted: %d\n", countsString(a.protocols), a.interrupted)
	fmt.Fprintf(b, "  outages            %d audit_recovered, %d records rejected meanwhile\n", a.recovered, a.rejected)
	fmt.Fprintf(b, "  verify             %s\n", strings.ReplaceAll(a.verify, "\n", "\n                     "))
	l := f.log
	fmt.Fprintf(b, "\nphiguard log: %d lines, %.1f MiB; PHI-shaped lines %d\n", l.lines, float64(l.bytes)/(1<<20), l.phi)
	top := slices.SortedFunc(maps.Keys(l.messages), func(x, y string) int { return l.messages[y] - l.messages[x] })
	for _, m := range top[:min(10, len(top))] {
		fmt.Fprintf(b, "  %8d  %.120s\n", l.messages[m], m)
	}
}

func seriesString(kb []int64) string {
	parts := make([]string, len(kb))
	for i, v := range kb {
		parts[i] = fmt.Sprintf("%.1f", mib(v))
	}
	return strings.Join(parts, " ")
}

func int64Counts(m map[string]int64) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = int(v)
	}
	return out
}
