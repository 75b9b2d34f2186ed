package ehrdemo

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestDemoPolicy keeps the embedded demo policy, examples/demo-policy.yml
// and examples/policy.yml in step: the demo shows the example's encryption
// unchanged, and binds every demo user to a role.
func TestDemoPolicy(t *testing.T) {
	example, err := os.ReadFile("../../examples/demo-policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(example, DemoPolicy()) {
		t.Fatal("examples/demo-policy.yml and internal/ehrdemo/demo-policy.yml differ: copy one onto the other")
	}
	demo := mustPolicy(t, DemoPolicy())
	plain, err := os.ReadFile("../../examples/policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tablesOf(demo), tablesOf(mustPolicy(t, plain)); !reflect.DeepEqual(got, want) {
		t.Logf("demo-policy.yml: %v\nexamples/policy.yml: %v", got, want)
		t.Error("the tables: section of demo-policy.yml differs from examples/policy.yml's")
	}
	for _, u := range DemoUsers() {
		if demo.RoleFor(u, "") == nil || demo.RoleFor(u, "").Name == policy.DefaultRoleName {
			t.Errorf("demo user %s is bound to no role of demo-policy.yml", u)
		}
	}
}

func mustPolicy(t *testing.T, raw []byte) *policy.Policy {
	t.Helper()
	pol, err := sqlrewrite.ParsePolicy(raw)
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// tablesOf describes pol's protected tables without source positions.
func tablesOf(pol *policy.Policy) []string {
	var out []string
	for _, t := range pol.Tables() {
		out = append(out, fmt.Sprintf("%s subject=%s state=%v", t.Name, t.SubjectColumn, t.State))
		for _, c := range t.Columns {
			out = append(out, fmt.Sprintf("  %s %v key=%s type=%v state=%v", c.Name, c.Mode, c.Key, c.Type, c.State))
		}
	}
	return out
}
