package integration

import (
	"fmt"
	"testing"

	"github.com/phiguard/phiguard/guard"
)

// ssnTable creates a table (id int PRIMARY KEY, ssn text) that the app
// user may use, named after prefix, and the protection that encrypts its
// ssn deterministically under the key <prefix>-ssn.
func ssnTable(t *testing.T, prefix string) (string, *guard.Protection) {
	t.Helper()
	table := uniqueName(prefix)
	if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf("CREATE TABLE %[1]s (id int PRIMARY KEY, ssn text); GRANT ALL ON %[1]s TO %[2]s", table, appUser)); err != nil {
		t.Fatal(err)
	}
	return table, protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      ssn: {mode: deterministic, key: %s-ssn, type: text}
`, table, prefix))
}
