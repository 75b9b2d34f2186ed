package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam4SettingChangedInTheStatement: extra_float_digits changed by
// the very statement that reads an encrypted double precision column
// (set_config in its select list or WHERE) applies to that statement's
// rows in PostgreSQL; phiguard must print them so, or refuse.
func TestRedTeam4SettingChangedInTheStatement(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt4efd",
		twinColumn{"id", "int", ""},
		twinColumn{"d", "double precision", "{mode: randomized, key: rt4efd-k, type: double precision}"})
	tw.exec(t, "INSERT INTO %s (id, d) VALUES (1, 0.30000000000000004)", pgx.QueryExecModeSimpleProtocol)
	for _, mode := range bothModes {
		for _, q := range []string{
			"SELECT set_config('extra_float_digits', '0', false), d FROM %s",
			"SELECT d FROM %s WHERE set_config('extra_float_digits', '-3', false) IS NOT NULL",
		} {
			tw.both(t, "SET extra_float_digits = 1")
			rt4SameOrRefused(t, tw, q, mode)
		}
	}
}

// TestRedTeam4OutputSettingsAfterReload: extra_float_digits is read at
// login only when the policy has a real, double precision or bytea
// column, and followed only then. A session that set it before a reload
// added such a column has it printed under the default.
func TestRedTeam4OutputSettingsAfterReload(t *testing.T) {
	t.Parallel()
	rt4AfterReload(t, false)
}

// TestRedTeam4FirstReadAfterReload: the first request of a session after
// a reload that encrypts another column reads it before the session's
// catalog knows it.
func TestRedTeam4FirstReadAfterReload(t *testing.T) {
	t.Parallel()
	rt4AfterReload(t, true)
}

func rt4AfterReload(t *testing.T, readFirst bool) {
	ctx := testContext(t)
	plain, enc, other := uniqueName("rt4rl_plain"), uniqueName("rt4rl_enc"), uniqueName("rt4rl_other")
	su := superuser(t)
	for _, q := range []string{
		"CREATE TABLE " + plain + " (id int, d double precision)",
		"CREATE TABLE " + enc + " (id int, d text)",
		"CREATE TABLE " + other + " (id int, s text)",
		"GRANT ALL ON " + plain + ", " + enc + ", " + other + " TO " + appUser,
	} {
		if _, err := su.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	v1 := fmt.Sprintf("version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: rt4rl-k, type: text}\n", other)
	v2 := v1 + fmt.Sprintf("  public.%s:\n    columns:\n      d: {mode: randomized, key: rt4rl-k, type: double precision}\n", enc)
	p := startProxy(t, proxyOptions{protect: protection(t, v1)})
	old := p.app(t)
	dir := direct(t)
	for _, c := range []*pgx.Conn{old, dir} {
		if _, err := c.Exec(ctx, "SET extra_float_digits = 0"); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(path, []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.ReloadPolicyFile(path); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if _, err := p.app(t).Exec(ctx, "INSERT INTO "+enc+" (id, d) VALUES (1, '0.30000000000000004')"); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.Exec(ctx, "INSERT INTO "+plain+" (id, d) VALUES (1, '0.30000000000000004')"); err != nil {
		t.Fatal(err)
	}
	if readFirst {
		got, gerr := rt4Rows(old, "SELECT d FROM "+enc+" WHERE id = 1", pgx.QueryExecModeSimpleProtocol)
		if gerr == nil && strings.HasPrefix(got, "~phg~") {
			t.Errorf("the first read after the reload returned the cell %q", got)
		}
		return
	}
	if _, err := old.Exec(ctx, "INSERT INTO "+enc+" (id, d) VALUES (2, '1.5')"); err != nil {
		t.Logf("old session's INSERT: %v", err)
	}
	var plainCells int
	if err := dir.QueryRow(ctx, "SELECT count(*) FROM "+enc+" WHERE d NOT LIKE '~phg~%'").Scan(&plainCells); err != nil {
		t.Fatal(err)
	}
	if plainCells != 0 {
		t.Errorf("a session open across the reload wrote %d plaintext cell(s) into the newly encrypted column", plainCells)
	}
	mode := pgx.QueryExecModeSimpleProtocol
	want, werr := rt4Rows(dir, "SELECT d FROM "+plain, mode)
	got, gerr := rt4Rows(old, "SELECT d FROM "+enc+" WHERE id = 1", mode)
	if rt4Code(gerr) == "0A000" {
		return
	}
	if werr != nil || gerr != nil || got != want {
		t.Errorf("after a reload added a double precision column: through phiguard %q (%v), directly %q (%v)", got, gerr, want, werr)
	}
}
