package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestCatalogReadAfterFailedTransaction: a reload that encrypts another
// column reaches a session inside a failed transaction, where phiguard's
// catalog read fails too. The session keeps its old catalog and tries
// again before its next statement (catalog_fresh.go): after ROLLBACK, the
// first read of the newly encrypted column decrypts it, in both protocols.
func TestCatalogReadAfterFailedTransaction(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	enc, other := uniqueName("cfresh_enc"), uniqueName("cfresh_other")
	su := superuser(t)
	for _, q := range []string{
		"CREATE TABLE " + enc + " (id int, s text)",
		"CREATE TABLE " + other + " (id int, s text)",
		"GRANT ALL ON " + enc + ", " + other + " TO " + appUser,
	} {
		if _, err := su.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	v1 := fmt.Sprintf("version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: cfresh-k, type: text}\n", other)
	v2 := v1 + fmt.Sprintf("  public.%s:\n    columns:\n      s: {mode: randomized, key: cfresh-k, type: text}\n", enc)
	p := startProxy(t, proxyOptions{protect: protection(t, v1)})
	for _, mode := range bothModes {
		if err := p.srv.ReloadPolicyFile(writePolicy(t, v1)); err != nil {
			t.Fatal(err)
		}
		old := p.app(t)
		if _, err := old.Exec(ctx, "BEGIN", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Exec(ctx, "SELECT 1/0", pgx.QueryExecModeSimpleProtocol); err == nil {
			t.Fatal("1/0 did not fail")
		}
		if err := p.srv.ReloadPolicyFile(writePolicy(t, v2)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.app(t).Exec(ctx, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')"); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Exec(ctx, "SELECT 2", mode); err == nil || rt4Code(err) != "25P02" {
			t.Fatalf("%v: in the failed transaction: %v, want 25P02", mode, err)
		}
		if _, err := old.Exec(ctx, "ROLLBACK", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
		got, err := rt4Rows(old, "SELECT s FROM "+enc+" WHERE id = 1", mode)
		if err != nil || strings.TrimSpace(got) != "secret" {
			t.Fatalf("%v: first read after the rollback: %q, %v", mode, got, err)
		}
		if _, err := su.Exec(ctx, "DELETE FROM "+enc); err != nil {
			t.Fatal(err)
		}
	}
}

func writePolicy(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
