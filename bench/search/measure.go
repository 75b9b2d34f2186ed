package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
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
// is phiguard's and the client's, on plaintext the client's alone), and
// rounds per execution through phiguard.
type queryCounts struct {
	name                   string
	rows                   int
	viaAllocs, plainAllocs float64
	viaBytes, plainBytes   float64
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

// allocs adds up the process's allocations over the executions timed
// measures.
type allocs struct{ n, objects, bytes uint64 }

func (a *allocs) per() (objects, bytes float64) {
	if a.n == 0 {
		return 0, 0
	}
	return float64(a.objects) / float64(a.n), float64(a.bytes) / float64(a.n)
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
	if a != nil {
		runtime.ReadMemStats(&m0)
	}
	start := time.Now()
	res := c.PgConn().ExecParams(ctx, sql, params, nil, nil, nil).Read()
	d := time.Since(start)
	if a != nil {
		runtime.ReadMemStats(&m1)
		a.n++
		a.objects += m1.Mallocs - m0.Mallocs
		a.bytes += m1.TotalAlloc - m0.TotalAlloc
	}
	return res.Rows, d, res.Err
}

func sameAnswer(q query, want, got [][][]byte) bool {
	if q.unordered {
		return len(want) == len(got)
	}
	return fmt.Sprintf("%q", want) == fmt.Sprintf("%q", got)
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
	b.WriteString("\n| query | rows | rounds per query | allocations per query through phiguard (process) | plaintext (client only) | difference (≈ phiguard's) | bytes allocated, difference |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cs {
		if c.refused {
			fmt.Fprintf(&b, "| %s | refused | | | | | |\n", c.name)
			continue
		}
		rounds := "n/a"
		if c.roundsKnown {
			rounds = fmt.Sprintf("%.2f", c.rounds)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %.0f | %.0f | %.0f |\n", c.name, c.rows, rounds, c.viaAllocs, c.plainAllocs, c.viaAllocs-c.plainAllocs, c.viaBytes-c.plainBytes)
	}
	return b.String()
}
