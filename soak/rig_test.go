package soak

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phiguard/phiguard/internal/baotest"
	"github.com/phiguard/phiguard/internal/pgcluster"
)

// rig is everything the soak runs against: PostgreSQL, OpenBao, the audit
// tmpfs and phiguard as a subprocess.
type rig struct {
	p        params
	dir      string
	pg       *pgcluster.Cluster
	bao      *baotest.Server
	token    string // phiguard's OpenBao token (phiguardVaultPolicy); never logged
	password string // every client user's password; never logged

	auditFS  string // the tmpfs mount point, or a plain directory when mounting failed
	mounted  bool
	auditDir string

	bin, configFile string
	addr, admin     string   // phiguard's listener and admin listener
	users           []string // the clients', in client order
	proc            *phiguard
	sampler         *sampler // during the chaos
}

// tokenEnv names the variable phiguard reads its OpenBao token from.
const tokenEnv = "PHIGUARD_SOAK_VAULT_TOKEN"

// phiguardVaultPolicy is the policy keys/vault's documentation gives a
// proxy that also runs `keys init` (as cmd/phiguard's kill switch tests).
const phiguardVaultPolicy = `
path "transit/encrypt/phiguard"        { capabilities = ["update"] }
path "transit/decrypt/phiguard"        { capabilities = ["update"] }
path "secret/data/phiguard/keys/*"     { capabilities = ["create", "read", "update"] }
path "secret/metadata/phiguard/keys"   { capabilities = ["list"] }
path "secret/metadata/phiguard/keys/*" { capabilities = ["list", "read"] }
`

func startRig(t *testing.T, ctx context.Context, p params, f *figures) *rig {
	t.Helper()
	r := &rig{p: p, dir: t.TempDir(), password: randomHex(t, 16)}
	f.nofile = nofile(t, p)
	if p.nofile == 0 {
		r.p.nofile = f.nofile.phiguard
	}
	r.bin = buildPhiguard(t, ctx, r.dir)
	r.bao = baotest.Start(t, baotest.Options{})
	r.token = r.bao.Token(t, phiguardVaultPolicy, 0)
	r.startPostgres(t, ctx)
	r.mountAuditFS(t, f)
	r.writeConfig(t)
	if out, err := r.command(ctx, "keys", "init", "--config", r.configFile).CombinedOutput(); err != nil {
		t.Fatalf("phiguard keys init: %v\n%s", err, out)
	}
	r.proc = startPhiguard(t, ctx, r)
	return r
}

// nofile reads the file limit the test runs with. phiguard gets the
// hard limit (or PHIGUARD_SOAK_NOFILE): the machine's limit for a
// service, which the idle sockets are meant to press against. The test
// needs few descriptors itself: holder processes keep the idle sockets.
func nofile(t *testing.T, p params) nofileFigures {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	nf := nofileFigures{test: lim.Cur, phiguard: lim.Max}
	if p.nofile > 0 {
		nf.phiguard = p.nofile
	}
	return nf
}

// buildPhiguard builds the binary under test, without -race: its RSS is
// one of the figures, and the race detector multiplies memory.
func buildPhiguard(t *testing.T, ctx context.Context, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "phiguard")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/phiguard")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/phiguard: %v\n%s", err, out)
	}
	return bin
}

// soakSchema: ssn deterministic (searchable by equality), name
// randomized, birthdate a date stored as a text cell; writer is plain.
const soakSchema = `CREATE TABLE patients (
	id bigint PRIMARY KEY, ssn text, name text, birthdate text, writer text NOT NULL)`

func (r *rig) startPostgres(t *testing.T, ctx context.Context) {
	t.Helper()
	pg, err := pgcluster.Start(ctx, pgcluster.Options{
		// Room for every client's backend and a reconnect storm's
		// stragglers; beyond it PostgreSQL answers 53300, which the
		// clients count.
		Settings: map[string]string{"max_connections": strconv.Itoa(r.p.clients + 30)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	r.pg = pg
	if err := pg.Exec(ctx, soakSchema); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < r.p.clients; i++ {
		u := userName(i)
		if err := pg.CreateUser(ctx, u, r.password, false); err != nil {
			t.Fatal(err)
		}
		r.users = append(r.users, u)
	}
	if err := pg.CreateUser(ctx, probeUser, r.password, false); err != nil {
		t.Fatal(err)
	}
	// Generous grants, so that only phiguard stands between the reader
	// role and a write.
	if err := pg.Exec(ctx, "GRANT SELECT, INSERT ON patients TO "+probeUser+", "+strings.Join(r.users, ", ")); err != nil {
		t.Fatal(err)
	}
}

// mountAuditFS puts the audit directory on a tmpfs of auditMB, so the
// disk-full action fills a small filesystem and nothing else. Without
// the mount (not root, no tmpfs) only that action is skipped, except
// under CI=true, where the run must be whole.
func (r *rig) mountAuditFS(t *testing.T, f *figures) {
	t.Helper()
	r.auditFS = filepath.Join(r.dir, "auditfs")
	if err := os.Mkdir(r.auditFS, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm,mode=0700", r.p.auditMB), "phiguard-soak", r.auditFS).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("mount tmpfs on %s: %v %s", r.auditFS, err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so the disk-full action may not be skipped")
		}
		t.Log(msg + ": the disk-full action is skipped")
		f.mountErr = msg
	} else {
		r.mounted = true
		t.Cleanup(func() {
			if out, err := exec.Command("umount", r.auditFS).CombinedOutput(); err != nil {
				t.Logf("umount %s: %v %s; detaching it", r.auditFS, err, out)
				exec.Command("umount", "-l", r.auditFS).Run()
			}
		})
	}
	r.auditDir = filepath.Join(r.auditFS, "audit")
}

func (r *rig) writeConfig(t *testing.T) {
	t.Helper()
	policyFile := filepath.Join(r.dir, "policy.yml")
	if err := os.WriteFile(policyFile, []byte(soakPolicy(r.users)), 0o600); err != nil {
		t.Fatal(err)
	}
	r.addr, r.admin = freeAddr(t), freeAddr(t)
	r.configFile = filepath.Join(r.dir, "phiguard.yml")
	cfg := fmt.Sprintf(`listen: %s
admin: %s
admin_pprof: true
backend: {host: %s, port: %d}
policy_file: %s
keys:
  provider: vault
  vault: {address: %q, token_env: %s, timeout: 2s, recheck: 2s}
audit: {dir: %s}
log: {level: info}
`, r.addr, r.admin, r.pg.Host, r.pg.Port, policyFile, r.bao.Addr, tokenEnv, r.auditDir)
	if err := os.WriteFile(r.configFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// command runs the phiguard binary with the token in its environment and
// nothing else of ours (no VAULT_* or PG* from the developer's shell).
func (r *rig) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + r.dir, tokenEnv + "=" + r.token}
	return cmd
}

// url is a client URL through phiguard for user.
func (r *rig) url(user string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/postgres?sslmode=disable&connect_timeout=5", user, r.password, r.addr)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// waitFor polls cond every 100 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}
