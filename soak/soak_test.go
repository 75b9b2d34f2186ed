package soak

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// params are the soak's knobs, from PHIGUARD_SOAK_* (doc.go lists them).
type params struct {
	duration    time.Duration // warm-up + chaos + cool-down, with clients running
	clients     int
	seed        uint64
	idleSockets int
	auditMB     int           // size of the audit tmpfs
	settle      time.Duration // idle time before RSS and goroutines are read
	nofile      uint64        // phiguard's RLIMIT_NOFILE; 0 = the test's own hard limit at start
	rssSlackMB  int           // what the end's RSS may exceed the 10% by (checks_test.go)
	out         string        // where to keep profiles, phiguard's log and the figures; "" = nowhere

	warmup, cooldown time.Duration // derived from duration
	malformed        int           // connections per malformed-messages action
	baoOutage        time.Duration // how long OpenBao stays down
	fillHold         time.Duration // how long the audit disk stays full
	idleHold         time.Duration // how long the idle sockets are held
}

func loadParams(t *testing.T) params {
	t.Helper()
	p := params{
		duration:    envDuration(t, "PHIGUARD_SOAK_DURATION", 45*time.Second),
		clients:     envInt(t, "PHIGUARD_SOAK_CLIENTS", 20),
		seed:        uint64(envInt(t, "PHIGUARD_SOAK_SEED", 1)),
		idleSockets: envInt(t, "PHIGUARD_SOAK_IDLE_SOCKETS", 2000),
		auditMB:     envInt(t, "PHIGUARD_SOAK_AUDIT_MB", 512),
		settle:      envDuration(t, "PHIGUARD_SOAK_SETTLE", 10*time.Second),
		nofile:      uint64(envInt(t, "PHIGUARD_SOAK_NOFILE", 0)),
		rssSlackMB:  envInt(t, "PHIGUARD_SOAK_RSS_SLACK_MB", 8),
		out:         os.Getenv("PHIGUARD_SOAK_OUT"),
		malformed:   24,
		baoOutage:   3 * time.Second,
		fillHold:    3 * time.Second,
		idleHold:    5 * time.Second,
	}
	if p.clients < 8 {
		t.Fatalf("PHIGUARD_SOAK_CLIENTS=%d: at least 8 (every role in both protocols)", p.clients)
	}
	if p.out != "" {
		if err := os.MkdirAll(p.out, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p.warmup = clamp(p.duration/6, 10*time.Second, time.Minute)
	p.cooldown = clamp(p.duration/10, 5*time.Second, 30*time.Second)
	if p.duration < p.warmup+p.cooldown+10*time.Second {
		t.Fatalf("PHIGUARD_SOAK_DURATION=%s is too short: warm-up %s, cool-down %s and at least 10s of chaos", p.duration, p.warmup, p.cooldown)
	}
	return p
}

func (p params) chaos() time.Duration { return p.duration - p.warmup - p.cooldown }

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration such as 45s or 10m", name, v)
	}
	return d
}

// TestSoak is the chaos soak (doc.go): phiguard as a subprocess in front
// of its own PostgreSQL and OpenBao, clients of three roles in both
// protocols, a fixed-seed schedule of faults, then the checks and the
// figures.
func TestSoak(t *testing.T) {
	p := loadParams(t)
	ctx, cancel := context.WithTimeout(context.Background(), p.duration+15*time.Minute)
	defer cancel()
	f := &figures{params: p}
	r := startRig(t, ctx, p, f)
	w := newWorkload(r, p)

	t.Logf("warm-up: %d clients for %s", p.clients, p.warmup)
	w.runFor(ctx, p.warmup, nil)
	f.warm = r.measureIdle(t, ctx, "warm")
	t.Logf("post-warm-up, idle: %s", f.warm)

	t.Logf("chaos: %s on seed %d, then %s cool-down", p.chaos(), p.seed, p.cooldown)
	sampler := r.startSampler(ctx)
	w.runFor(ctx, 0, func() {
		f.actions = runChaos(t, ctx, r, p)
		f.chaosEnd = time.Now()
		if !r.proc.exited() {
			sleepCtx(ctx, p.cooldown)
		}
	})
	f.samples = sampler.stop()
	f.clients = w.totals()
	if r.proc.exited() {
		f.check("phiguard stays up", false, "exited during the chaos: %v; its last lines above info level:\n%s", r.proc.waitErr, tailSevere(r.logFile(), 10))
		// What does not need a running phiguard is still checked and
		// printed: the data at rest, the trail, the log.
		f.shutdown = fmt.Sprintf("died during the chaos: %v", r.proc.waitErr)
	} else {
		f.check("phiguard stays up", true, "running after %d actions", len(f.actions))
		f.end = r.measureIdle(t, ctx, "end")
		t.Logf("end, idle: %s", f.end)
		checkReadThrough(t, ctx, r, w, f)
		f.shutdown = r.proc.terminate(30 * time.Second)
	}
	checkAudit(t, ctx, r, w, f)
	checkAtRest(t, ctx, r, w, f)
	checkLog(t, r, w, f)
	if p.out != "" {
		if b, err := os.ReadFile(r.logFile()); err == nil {
			os.WriteFile(p.out+"/phiguard.log", b, 0o644)
		}
	}
	judge(t, w, f)
	f.print(t)
	for _, c := range f.checks {
		if !c.ok {
			t.Errorf("FAILED %s: %s", c.name, c.detail)
		}
	}
}

// check is one pass/fail line of the report.
type check struct {
	name, detail string
	ok           bool
}

func (f *figures) check(name string, ok bool, format string, args ...any) {
	f.checks = append(f.checks, check{name: name, ok: ok, detail: fmt.Sprintf(format, args...)})
}
