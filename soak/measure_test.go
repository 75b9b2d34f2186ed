package soak

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// idle is phiguard at rest: no client session open, two GCs forced
// through the profiler (/debug/pprof/heap?gc=1; two, so sync.Pool's victim
// caches go too), then at least params.settle of quiet and until RSS has
// stopped falling (five readings a second apart within 1%, at most
// settleMax), and the median of those five. The post-warm-up and the end
// figures are taken the same way, so their difference is what the chaos
// left behind, not what the load in flight happened to hold (docs/soak.md).
type idle struct {
	rssKB, hwmKB         int64
	goroutines, fds      int
	heapInuse, heapIdle  float64 // bytes, from go_memstats
	heapReleased         float64
	goMapped             float64            // go_memstats_sys_bytes - heap_released: the most Go can hold resident
	memstats             map[string]float64 // goMapped by part, bytes (goMemParts)
	threads              int
	parts                map[string]int64 // RSS by mapping kind, KiB (rssParts)
	waitedForSessionsEnd time.Duration
	settled              time.Duration // from the GC to the last reading
	series               []int64       // RSS in KiB, one reading a second after the GC
}

// settleMax bounds the wait for RSS to stop falling.
const settleMax = 2 * time.Minute

func (i idle) String() string {
	return fmt.Sprintf("RSS %.1f MiB (peak so far %.1f MiB) after %s, %d goroutines, %d fds, %d threads, heap in use %.1f MiB, idle %.1f MiB, released %.1f MiB",
		mib(i.rssKB), mib(i.hwmKB), i.settled.Round(time.Second), i.goroutines, i.fds, i.threads, i.heapInuse/(1<<20), i.heapIdle/(1<<20), i.heapReleased/(1<<20))
}

// partsString renders the RSS breakdown in MiB: file-backed, anonymous,
// what of the anonymous Go can account for at most, and the rest (thread
// stacks, C malloc).
func (i idle) partsString() string {
	goMiB := i.goMapped / (1 << 20)
	return fmt.Sprintf("files %.1f, anonymous %.1f, of which Go mapped at most %.1f, the rest (C malloc, thread stacks) at least %.1f",
		mib(i.parts["files"]), mib(i.parts["anon"]), goMiB, max(0, mib(i.parts["anon"])-goMiB))
}

func (r *rig) measureIdle(t *testing.T, ctx context.Context, label string) idle {
	t.Helper()
	pg := r.proc
	if pg.exited() {
		t.Fatalf("phiguard exited: %v; log:\n%s", pg.waitErr, tailFile(r.logFile(), 30))
	}
	var m idle
	start := time.Now()
	waitFor(time.Minute, func() bool { return pg.metrics()["phiguard_proxy_connections_active"] == 0 })
	m.waitedForSessionsEnd = time.Since(start)
	for i := 0; i < 2; i++ {
		if code, body := pg.get("/debug/pprof/heap?gc=1"); code != http.StatusOK {
			t.Fatalf("force a GC through /debug/pprof/heap?gc=1: %d %.200s", code, body)
		}
	}
	gc := time.Now()
	var gor, fds []int64
	for {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Second):
		}
		v, hwm := pg.status()
		m.series, m.hwmKB = append(m.series, v), hwm
		met := pg.metrics()
		gor = append(gor, int64(met["go_goroutines"]))
		fds = append(fds, int64(pg.fds()))
		m.heapInuse, m.heapIdle = met["go_memstats_heap_inuse_bytes"], met["go_memstats_heap_idle_bytes"]
		m.heapReleased = met["go_memstats_heap_released_bytes"]
		if time.Since(gc) >= r.p.settle && stable(m.series) || time.Since(gc) > settleMax {
			break
		}
	}
	m.settled = time.Since(gc)
	met := pg.metrics()
	m.goMapped = met["go_memstats_sys_bytes"] - met["go_memstats_heap_released_bytes"]
	m.memstats = goMemParts(met)
	m.threads, m.parts = pg.threads(), pg.rssParts()
	r.saveOut(t, "heap-"+label+".pprof", "/debug/pprof/heap")
	r.saveOut(t, "goroutines-"+label+".txt", "/debug/pprof/goroutine?debug=1")
	last := func(v []int64) []int64 { return v[max(0, len(v)-5):] }
	m.rssKB, m.goroutines, m.fds = median(last(m.series)), int(median(last(gor))), int(median(last(fds)))
	return m
}

// goMemParts splits what the Go runtime holds and has not released, from
// its memstats: the heap in use, heap pages free but kept, goroutine
// stacks, span structures (never freed), GC metadata and the rest.
func goMemParts(met map[string]float64) map[string]float64 {
	p := func(n string) float64 { return met["go_memstats_"+n+"_bytes"] }
	return map[string]float64{
		"heap in use": p("heap_inuse"),
		"heap kept":   p("heap_idle") - p("heap_released"),
		"stacks":      p("stack_sys"),
		"spans":       p("mspan_sys"),
		"GC metadata": p("gc_sys"),
		"other":       p("other_sys") + p("mcache_sys") + p("buck_hash_sys"),
	}
}

// goMemOrder is the order the report lists goMemParts in.
var goMemOrder = []string{"heap in use", "heap kept", "stacks", "spans", "GC metadata", "other"}

// saveOut writes an admin page (a profile) to PHIGUARD_SOAK_OUT, when set.
func (r *rig) saveOut(t *testing.T, name, path string) {
	t.Helper()
	if r.p.out == "" {
		return
	}
	code, body := r.proc.get(path)
	if code != http.StatusOK {
		t.Logf("save %s: %d", path, code)
		return
	}
	if err := os.WriteFile(filepath.Join(r.p.out, name), []byte(body), 0o644); err != nil {
		t.Logf("save %s: %v", name, err)
	}
}

// stable: the last five readings are within 1% of each other.
func stable(series []int64) bool {
	if len(series) < 5 {
		return false
	}
	last := series[len(series)-5:]
	return float64(slices.Max(last)) <= 1.01*float64(slices.Min(last))
}

func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// sample is phiguard seen once a second during the chaos.
type sample struct {
	at                    time.Time
	action                string
	rssKB                 int64
	goroutines, fds       int
	sessions              float64
	readyz                int // status code; 0 when the admin listener did not answer
	readyzBody            string
	healthz               int
	statementsTotal       float64
	refusedConnectionsTot float64
}

// sampler polls phiguard during the chaos; action names the chaos action
// in progress, so /readyz can be judged per fault.
type sampler struct {
	r       *rig
	mu      sync.Mutex
	action  string
	samples []sample
	stopc   chan struct{}
	done    chan struct{}
}

func (r *rig) startSampler(ctx context.Context) *sampler {
	s := &sampler{r: r, action: "none", stopc: make(chan struct{}), done: make(chan struct{})}
	r.sampler = s
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.stopc:
				return
			case <-tick.C:
				s.take()
			}
		}
	}()
	return s
}

func (s *sampler) setAction(a string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.action = a
	s.mu.Unlock()
}

func (s *sampler) take() {
	pg := s.r.proc
	if pg.exited() {
		return
	}
	s.mu.Lock()
	smp := sample{at: time.Now(), action: s.action}
	s.mu.Unlock()
	smp.rssKB, _ = pg.status()
	smp.fds = pg.fds()
	smp.readyz, smp.readyzBody = pg.get("/readyz")
	smp.readyzBody = strings.TrimSpace(smp.readyzBody)
	smp.healthz, _ = pg.get("/healthz")
	met := pg.metrics()
	smp.goroutines = int(met["go_goroutines"])
	smp.sessions = met["phiguard_proxy_connections_active"]
	smp.statementsTotal = met["phiguard_proxy_statements_total"]
	smp.refusedConnectionsTot = met["phiguard_proxy_connections_refused_total"]
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
}

func (s *sampler) stop() []sample {
	close(s.stopc)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}
