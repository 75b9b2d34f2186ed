package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/internal/pgcluster"
	"go.uber.org/zap"
)

// The demo database is owned by the administrator, who loads it; every
// demo user has the same per-run password.
const demoOwner = "admin_ann"

// demoRun is a running protected demo: what the banner and the smoke
// checks need to reach it.
type demoRun struct {
	files    demoFiles
	cluster  *pgcluster.Cluster
	proxy    net.Addr
	password string
	counts   ehrdemo.Counts
}

// proxyURL connects through phiguard as user.
func (d *demoRun) proxyURL(user string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", user, d.password, d.proxy, demoDatabase)
}

// directURL connects straight to PostgreSQL as user, bypassing phiguard.
func (d *demoRun) directURL(user string) string {
	return d.cluster.URL(user, d.password, demoDatabase)
}

// demoProtected is `phiguard demo`: phiguard's main job on an embedded
// default. A throwaway PostgreSQL, a local keyring, the demo policy
// (encryption and four roles), the Synthea patients loaded through
// phiguard so their PHI is ciphertext at rest, and the audit trail on.
func demoProtected(ctx context.Context, listen, adminAddr string, smoke bool, out io.Writer, log *zap.Logger) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "phiguard-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d := &demoRun{files: newDemoFiles(dir), password: randomPassword()}

	fmt.Fprintln(out, "Starting a throwaway PostgreSQL 15 ...")
	setupCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if d.cluster, err = pgcluster.Start(setupCtx, pgcluster.Options{}); err != nil {
		return err
	}
	defer d.cluster.Stop()
	for _, u := range ehrdemo.DemoUsers() {
		if err := d.cluster.CreateUser(setupCtx, u, d.password, false); err != nil {
			return err
		}
	}
	if err := d.cluster.CreateDatabase(setupCtx, demoDatabase, demoOwner); err != nil {
		return err
	}

	if err := d.files.write(listen, adminAddr, d.cluster.Host, d.cluster.Port); err != nil {
		return err
	}
	created, err := d.files.initKeys()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Created %d data keys in a local keyring (%s).\n", created, d.files.Keyring)
	cfg, err := loadConfig(d.files.Config)
	if err != nil {
		return err
	}
	srv, err := startDemoServe(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.stop()
	d.proxy = srv.addr

	if err := d.load(setupCtx); err != nil {
		return err
	}
	fmt.Fprintf(out, "Loaded the Synthea sample, patients through phiguard: %d patients, %d encounters, %d conditions, %d medications (%.1fs).\n",
		d.counts["patients"], d.counts["encounters"], d.counts["conditions"], d.counts["medications"], time.Since(start).Seconds())
	d.banner(out, adminAddr)

	if smoke {
		err := demoSmoke(ctx, out, d)
		// Stopping phiguard closes the audit log (audit_stop), which the
		// last check requires.
		if serveErr := srv.stop(); err == nil {
			err = serveErr
		}
		if err == nil {
			err = d.verifyAudit(out)
		}
		return err
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop; everything is removed on exit.")
	return srv.wait()
}

// load fills the demo database: ehrdemo.LoadProtected with the patients
// copied through phiguard as the administrator (the admin role may COPY
// and sees plaintext, so phiguard encrypts the stream), then the care
// teams and grants of demo.sql straight on PostgreSQL.
func (d *demoRun) load(ctx context.Context) error {
	direct, err := pgx.Connect(ctx, d.directURL(demoOwner))
	if err != nil {
		return err
	}
	defer direct.Close(context.Background())
	via, err := pgx.Connect(ctx, d.proxyURL(demoOwner))
	if err != nil {
		return fmt.Errorf("connect through phiguard: %w", err)
	}
	defer via.Close(context.Background())
	if d.counts, err = ehrdemo.LoadProtected(ctx, direct, via); err != nil {
		return err
	}
	if _, err := direct.PgConn().Exec(ctx, ehrdemo.DemoSQL()).ReadAll(); err != nil {
		return fmt.Errorf("demo.sql: %w", err)
	}
	return nil
}

// demoRoles says what each demo user is shown, for the banner.
var demoRoles = map[string]string{
	"dr_alice":   "clinician: her care team's patients, in plaintext",
	"dr_bob":     "clinician: his care team's patients, in plaintext",
	"biller":     "billing: every patient, SSN masked, no other identifier",
	"researcher": "research: every patient under pseudonyms, no direct identifier",
	"admin_ann":  "admin: everything, in plaintext",
}

func (d *demoRun) banner(out io.Writer, adminAddr string) {
	host, port, _ := net.SplitHostPort(d.proxy.String())
	fmt.Fprintf(out, `
phiguard is listening on %s in front of PostgreSQL at %s,
with the demo policy (examples/demo-policy.yml): the PHI columns of patients
encrypted under a local keyring, four roles, and the audit trail on.

Connect through phiguard as a demo user (the password is the same for all):
`, d.proxy, d.cluster.Addr())
	for _, u := range ehrdemo.DemoUsers() {
		fmt.Fprintf(out, "    PGPASSWORD=%s psql -h %s -p %s -U %-10s %s   # %s\n", d.password, host, port, u, demoDatabase, demoRoles[u])
	}
	fmt.Fprintf(out, `and try: SELECT id, first, last, ssn, birthdate FROM patients LIMIT 5;
(each role sees its own answer; billing is refused birthdate, research the SSN)

Straight to PostgreSQL, bypassing phiguard (the same columns are ciphertext at rest):
    PGPASSWORD=%s psql -h %s -p %d -U %s %s

Audit trail (one JSON line per statement): %s
Verify its HMAC chain (bin/phiguard after make build, or go run ./cmd/phiguard):
    phiguard audit verify --config %s %s

Configuration, policy, keyring and master key: %s (removed on exit).
Metrics: http://%s/metrics    Readiness: http://%s/readyz
`, d.password, d.cluster.Host, d.cluster.Port, demoOwner, demoDatabase,
		d.files.Audit, d.files.Config, d.files.Audit, d.files.Dir, adminAddr, adminAddr)
}
