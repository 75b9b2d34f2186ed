package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
)

// roundsMetric counts the rounds of ORDER BY … LIMIT through an order
// term after a statement's first (design §4.6); a phiguard without it
// reports "n/a".
const roundsMetric = "phiguard_proxy_search_rounds_total"

// queryCounts are a query's load-insensitive figures: rows, allocations
// per execution on each side (the whole process: through phiguard that
// is phiguard's and the client's, on plaintext the client's alone; CPU
// time likewise), and rounds per execution through phiguard.
type queryCounts struct {
	name                   string
	rows                   int
	viaAllocs, plainAllocs float64
	viaBytes, plainBytes   float64
	viaCPU, plainCPU       time.Duration // CPU time of the process
	rounds                 float64
	roundsKnown, refused   bool
}

// measure runs q on both sides, alternating, checks that every answer
// through phiguard is the plaintext one (or a refusal), and returns its
// table line and counts.
func measure(ctx context.Context, c sides, q query, runs int) (string, queryCounts, error) {
	var args []string
	if q.args != nil {
		args = q.args()
	}
	counts := queryCounts{name: q.name}
	rounds0, known := counterSum(c.reg, roundsMetric)
	var plainTimes, viaTimes []time.Duration
	var plainAlloc, viaAlloc allocs
	// One untimed run per side first: the statement's first Parse,
	// Describe and plan, and phiguard's first look at its shape.
	_, _, _ = timed(ctx, c.plain, q.sql, args, nil)
	_, _, _ = timed(ctx, c.via, q.sql, args, nil)
	for range runs {
		want, d, err := timed(ctx, c.plain, q.sql, args, &plainAlloc)
		if err != nil {
			return "", counts, fmt.Errorf("plaintext: %w", err)
		}
		plainTimes = append(plainTimes, d)
		got, d, err := timed(ctx, c.via, q.sql, args, &viaAlloc)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "0A000" || pe.Code == "54000") {
			counts.refused = true
			return fmt.Sprintf("| %s | %s | refused (%s) | %v | — |\n", q.name, q.target, pe.Code, median(plainTimes).Round(time.Microsecond)), counts, nil
		}
		if err != nil {
			return "", counts, fmt.Errorf("through phiguard: %w", err)
		}
		if !sameAnswer(q, want, got) {
			return "", counts, fmt.Errorf("a different answer through phiguard: %d rows where plaintext gave %d", len(got), len(want))
		}
		viaTimes = append(viaTimes, d)
		counts.rows = len(got)
	}
	counts.plainAllocs, counts.plainBytes = plainAlloc.per()
	counts.viaAllocs, counts.viaBytes = viaAlloc.per()
	counts.plainCPU, counts.viaCPU = plainAlloc.cpuPer(), viaAlloc.cpuPer()
	if rounds1, ok := counterSum(c.reg, roundsMetric); ok {
		// The metric counts the rounds after the first; runs + 1
		// executions went through phiguard (the untimed one too).
		counts.rounds, counts.roundsKnown = 1+(rounds1-rounds0)/float64(runs+1), true
	} else if known {
		return "", counts, errors.New(roundsMetric + " went away")
	}
	mv, mp := median(viaTimes), median(plainTimes)
	return fmt.Sprintf("| %s | %s | %v | %v | %.2f× |\n", q.name, q.target, mv.Round(time.Microsecond), mp.Round(time.Microsecond), float64(mv)/float64(mp)), counts, nil
}

// allocs adds up the process's allocations and CPU time (user and
// system, all threads: the client's and, through phiguard, phiguard's)
// over the executions timed measures.
type allocs struct {
	n, objects, bytes uint64
	cpu               time.Duration
}

func (a *allocs) per() (objects, bytes float64) {
	if a.n == 0 {
		return 0, 0
	}
	return float64(a.objects) / float64(a.n), float64(a.bytes) / float64(a.n)
}

func (a *allocs) cpuPer() time.Duration {
	if a.n == 0 {
		return 0
	}
	return a.cpu / time.Duration(a.n)
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timed runs sql with text parameters and text results. With a, it adds
// the process's allocations during the execution (read outside the
// timing: ReadMemStats stops the world).
func timed(ctx context.Context, c *pgx.Conn, sql string, args []string, a *allocs) ([][][]byte, time.Duration, error) {
	params := make([][]byte, len(args))
	for i, v := range args {
		params[i] = []byte(v)
	}
	var m0, m1 runtime.MemStats
	var cpu0 time.Duration
	if a != nil {
		runtime.ReadMemStats(&m0)
		cpu0 = cpuTime()
	}
	start := time.Now()
	res := c.PgConn().ExecParams(ctx, sql, params, nil, nil, nil).Read()
	d := time.Since(start)
	if a != nil {
		a.cpu += cpuTime() - cpu0
		runtime.ReadMemStats(&m1)
		a.n++
		a.objects += m1.Mallocs - m0.Mallocs
		a.bytes += m1.TotalAlloc - m0.TotalAlloc
	}
	return res.Rows, d, res.Err
}

// sameAnswer compares the rows value by value (NULL apart from empty),
// without allocating: garbage made here would be collected during the
// next timed executions.
func sameAnswer(q query, want, got [][][]byte) bool {
	if len(want) != len(got) {
		return false
	}
	if q.unordered {
		return true
	}
	for i, row := range want {
		if len(row) != len(got[i]) {
			return false
		}
		for j, v := range row {
			if (v == nil) != (got[i][j] == nil) || !bytes.Equal(v, got[i][j]) {
				return false
			}
		}
	}
	return true
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// counterSum is the sum of the counter name's series in g, and whether g
// has it.
func counterSum(g prometheus.Gatherer, name string) (float64, bool) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, false
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
		return sum, true
	}
	return 0, false
}

// countsTable is the rows, rounds and allocations of each query.
func countsTable(cs []queryCounts) string {
	var b strings.Builder
	b.WriteString("\n| query | rows | rounds per query | allocations per query through phiguard (process) | plaintext (client only) | difference (≈ phiguard's) | bytes allocated, difference | CPU per query, difference |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cs {
		if c.refused {
			fmt.Fprintf(&b, "| %s | refused | | | | | | |\n", c.name)
			continue
		}
		rounds := "n/a"
		if c.roundsKnown {
			rounds = fmt.Sprintf("%.2f", c.rounds)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %.0f | %.0f | %.0f | %v |\n", c.name, c.rows, rounds, c.viaAllocs, c.plainAllocs, c.viaAllocs-c.plainAllocs,
			c.viaBytes-c.plainBytes, (c.viaCPU - c.plainCPU).Round(time.Microsecond))
	}
	return b.String()
}
