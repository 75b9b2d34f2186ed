package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sys/unix"
)

// action is one chaos action as it was done.
type action struct {
	kind     string
	at, took time.Duration // start, from the beginning of the chaos phase
	note     string
	problems []string // what phiguard did wrong; each fails the soak
}

// chaosKind is one kind of fault. run does it and waits until it is over
// (the database or OpenBao back, the disk freed, the sockets closed).
type chaosKind struct {
	name string
	run  func(t *testing.T, ctx context.Context, r *rig, rng *rand.Rand, a *action)
}

var chaosKinds = []chaosKind{
	{"kill_backends", killBackends},
	{"restart_postgres", restartPostgres},
	{"restart_openbao", restartOpenBao},
	{"fill_audit_disk", fillAuditDisk},
	{"idle_sockets", idleSockets},
	{"malformed", malformed},
}

// runChaos does the actions in rounds: each round is every kind once in
// an order drawn from the seed, with a gap of 0.5 to 2 s after each. The
// first round always runs whole, so a short run still does every kind;
// later rounds stop starting actions when the chaos time is up. It
// returns early if phiguard exits.
func runChaos(t *testing.T, ctx context.Context, r *rig, p params) []action {
	t.Helper()
	rng := rand.New(rand.NewPCG(p.seed, 0xc4a05))
	// The clients have just logged in again after the idle measurement:
	// let most of them have a session before the first fault.
	waitFor(10*time.Second, func() bool {
		return r.proc.metrics()["phiguard_proxy_connections_active"] >= float64(p.clients/2)
	})
	start := time.Now()
	var done []action
	for round := 0; round == 0 || time.Since(start) < p.chaos(); round++ {
		for _, k := range rng.Perm(len(chaosKinds)) {
			if round > 0 && time.Since(start) >= p.chaos() {
				break
			}
			kind := chaosKinds[k]
			a := action{kind: kind.name, at: time.Since(start)}
			r.sampler.setAction(kind.name)
			t0 := time.Now()
			kind.run(t, ctx, r, rng, &a)
			a.took = time.Since(t0)
			r.sampler.setAction("none")
			t.Logf("chaos %6.1fs %-17s %6.1fs  %s", a.at.Seconds(), a.kind, a.took.Seconds(), a.note)
			for _, pr := range a.problems {
				t.Logf("chaos %6.1fs %-17s problem: %s", a.at.Seconds(), a.kind, pr)
			}
			done = append(done, a)
			if r.proc.exited() {
				t.Logf("phiguard exited during %s: %v", a.kind, r.proc.waitErr)
				return done
			}
			gap := 500*time.Millisecond + time.Duration(rng.Int64N(int64(1500*time.Millisecond)))
			sleepCtx(ctx, gap)
		}
	}
	return done
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// killBackends terminates a random quarter (at least one) of the clients'
// backends with pg_terminate_backend, as a DBA or the OOM killer would.
func killBackends(t *testing.T, ctx context.Context, r *rig, rng *rand.Rand, a *action) {
	conn, err := pgx.Connect(ctx, r.pg.URL(r.pg.Superuser, r.pg.Password, "postgres"))
	if err != nil {
		t.Fatalf("kill_backends: connect to PostgreSQL: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE usename ~ '^(clin|bill|read)_' ORDER BY pid")
	if err != nil {
		t.Fatalf("kill_backends: %v", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatalf("kill_backends: %v", err)
	}
	n := max(1, len(pids)/4)
	killed := 0
	for _, k := range rng.Perm(len(pids))[:min(n, len(pids))] {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pids[k]).Scan(&ok); err == nil && ok {
			killed++
		}
	}
	a.note = fmt.Sprintf("terminated %d of %d client backends", killed, len(pids))
}

// restartPostgres restarts the server (fast shutdown: every session gets
// 57P01) on the same data directory and port.
func restartPostgres(t *testing.T, ctx context.Context, r *rig, _ *rand.Rand, a *action) {
	if err := r.pg.Restart(ctx); err != nil {
		t.Fatalf("restart_postgres: %v", err)
	}
	took, err := r.waitServing(ctx, 30*time.Second)
	a.note = fmt.Sprintf("restarted; a new session served PHI %s later", took.Round(time.Millisecond))
	if err != nil {
		a.problems = append(a.problems, fmt.Sprintf("no PHI statement served within 30s of PostgreSQL's restart: %v", err))
	}
}

// restartOpenBao stops OpenBao for params.baoOutage and starts it again:
// shorter than the offline grace, so phiguard must keep serving from the
// keys it holds (docs/kill-switch.md).
func restartOpenBao(t *testing.T, ctx context.Context, r *rig, _ *rand.Rand, a *action) {
	r.bao.Stop(t)
	var probeErr error
	notReady := ""
	deadline := time.Now().Add(r.p.baoOutage)
	for time.Now().Before(deadline) && probeErr == nil {
		probeErr = r.probe(ctx)
		if code, body := r.proc.get("/readyz"); code != http.StatusOK && notReady == "" {
			notReady = fmt.Sprintf("%d %s", code, strings.TrimSpace(body))
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	r.bao.Restart(t)
	a.note = fmt.Sprintf("OpenBao down for %s (offline grace 15m); PHI meanwhile: %s", r.p.baoOutage, errCodeOrOK(probeErr))
	if probeErr != nil {
		a.problems = append(a.problems, fmt.Sprintf("PHI refused while OpenBao was down for less than the grace: %v", probeErr))
	}
	if notReady != "" {
		a.problems = append(a.problems, fmt.Sprintf("/readyz said %q while OpenBao was down for less than the grace, with PHI served from the keys in memory", notReady))
	}
}

// fillAuditDisk fills the audit tmpfs to ENOSPC, holds it full, frees it,
// and checks that PHI statements are refused (58030) while it is full,
// with /readyz saying so, and served again once it is freed. To fill it
// cheaply, the tmpfs is first shrunk (remount) to what it holds plus
// 1 MiB, and a file takes the rest: writing gigabytes would take the CPU
// from the clients for half a minute.
func fillAuditDisk(t *testing.T, ctx context.Context, r *rig, _ *rand.Rand, a *action) {
	if !r.mounted {
		a.note = "skipped: no tmpfs for the audit directory"
		return
	}
	shrunk := r.resizeAuditFS(true)
	filler := filepath.Join(r.auditFS, "filler")
	n, err := fillFile(filler)
	if err != nil {
		t.Fatalf("fill_audit_disk: %v", err)
	}
	full := r.probe(ctx)
	ready, body := r.proc.get("/readyz")
	sleepCtx(ctx, r.p.fillHold)
	if err := os.Remove(filler); err != nil {
		t.Fatalf("fill_audit_disk: %v", err)
	}
	if shrunk && !r.resizeAuditFS(false) {
		t.Fatalf("fill_audit_disk: cannot give the tmpfs its %d MiB back", r.p.auditMB)
	}
	took, err := r.waitServing(ctx, 30*time.Second)
	how := "filled"
	if shrunk {
		how = "shrunk to its use + 1 MiB and filled"
	}
	a.note = fmt.Sprintf("%s (%d KiB written), held %s; PHI while full: %s, /readyz %d; served again %s after freeing",
		how, n>>10, r.p.fillHold, errCodeOrOK(full), ready, took.Round(time.Millisecond))
	if full != nil && ready == http.StatusOK {
		a.problems = append(a.problems, fmt.Sprintf("/readyz answered 200 %q while PHI statements were refused (%s) for the full audit disk", body, errCode(full)))
	}
	if err != nil {
		a.problems = append(a.problems, fmt.Sprintf("no PHI statement served within 30s of freeing the audit disk: %v", err))
	}
}

// resizeAuditFS shrinks the tmpfs to what it holds plus 1 MiB, or gives
// it back its size. A shrink can lose a race with phiguard's writes (the
// kernel refuses a size below the use), so it is tried a few times; it
// reports whether it worked.
func (r *rig) resizeAuditFS(shrink bool) bool {
	for attempt := 0; attempt < 5; attempt++ {
		size := fmt.Sprintf("%dm", r.p.auditMB)
		if shrink {
			var st unix.Statfs_t
			if unix.Statfs(r.auditFS, &st) != nil {
				return false
			}
			size = strconv.FormatUint((st.Blocks-st.Bfree)*uint64(st.Bsize)+1<<20, 10)
		}
		if exec.Command("mount", "-o", "remount,size="+size, r.auditFS).Run() == nil {
			return true
		}
	}
	return false
}

// fillFile fills the filesystem of path: fallocate for all but the last
// MiB (cheap, where writing gigabytes would take the CPU from the clients),
// then 1 MiB writes and 4 KiB ones until ENOSPC.
func fillFile(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	var st unix.Statfs_t
	if unix.Fstatfs(int(f.Fd()), &st) == nil {
		if n := int64(st.Bavail)*st.Bsize - 1<<20; n > 0 && unix.Fallocate(int(f.Fd()), 0, 0, n) == nil {
			total = n
			f.Seek(n, io.SeekStart)
		}
	}
	for _, size := range []int{1 << 20, 4 << 10} {
		buf := make([]byte, size)
		for {
			n, err := f.Write(buf)
			total += int64(n)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

func errCodeOrOK(err error) string {
	if err == nil {
		return "served"
	}
	return errCode(err)
}

// probeUser is a clinician user of the harness's own: its sessions are
// not a client's, so they do not disturb the per-user audit counts.
const probeUser = "soak_probe"

// probe opens a new session and runs one statement that reads PHI.
func (r *rig) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, r.url(probeUser))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var ssn *string
	err = conn.QueryRow(ctx, "SELECT ssn FROM patients WHERE id = 0").Scan(&ssn)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	return err
}

// waitServing probes until a probe succeeds or d passes.
func (r *rig) waitServing(ctx context.Context, d time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		err := r.probe(ctx)
		if err == nil || time.Since(start) > d || ctx.Err() != nil {
			return time.Since(start), err
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
}
