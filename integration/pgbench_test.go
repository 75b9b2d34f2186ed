package integration

import (
	"regexp"
	"strings"
	"testing"
)

const pgbenchBin = "/usr/bin/pgbench"

func TestPgbench(t *testing.T) {
	p := startProxy(t, proxyOptions{clientTLS: true})
	ctx := testContext(t)
	const db = "bench"
	if err := pg.CreateDatabase(ctx, db, appUser); err != nil {
		t.Fatal(err)
	}
	env := libpqEnv(t, p.addr.IP.String(), p.addr.Port, true)
	for i, kv := range env {
		if strings.HasPrefix(kv, "PGDATABASE=") {
			env[i] = "PGDATABASE=" + db
		}
	}

	res := runCmd(t, env, t.TempDir(), pgbenchBin, "-i", "-s", "1")
	if res.exit != 0 {
		t.Fatalf("pgbench -i: exit %d\n%s", res.exit, res.stderr)
	}
	su := connect(t, directURL(pg.Superuser, pg.Password, db))
	if n := queryInt(t, su, "SELECT count(*) FROM pgbench_accounts"); n != 100000 {
		t.Fatalf("pgbench_accounts has %d rows after -i -s 1, want 100000", n)
	}

	processed := regexp.MustCompile(`number of transactions actually processed: (\d+)/(\d+)`)
	for _, mode := range []string{"simple", "extended", "prepared"} {
		t.Run(mode, func(t *testing.T) {
			res := runCmd(t, env, t.TempDir(), pgbenchBin, "-M", mode, "-c", "4", "-j", "2", "-t", "200", "-n")
			if res.exit != 0 {
				t.Fatalf("pgbench -M %s: exit %d\n%s\n%s", mode, res.exit, res.stdout, res.stderr)
			}
			m := processed.FindStringSubmatch(res.stdout)
			if m == nil || m[1] != "800" || m[2] != "800" {
				t.Fatalf("pgbench -M %s did not process 800/800 transactions:\n%s", mode, res.stdout)
			}
			if !strings.Contains(res.stdout, "number of failed transactions: 0 (0.000%)") {
				t.Errorf("pgbench -M %s reports failed transactions:\n%s", mode, res.stdout)
			}
			if strings.Contains(res.stderr, "error") {
				t.Errorf("pgbench -M %s: %s", mode, res.stderr)
			}
		})
	}
	// Every transaction's history row arrived.
	if n := queryInt(t, su, "SELECT count(*) FROM pgbench_history"); n != 3*800 {
		t.Errorf("pgbench_history has %d rows, want %d", n, 3*800)
	}
}
