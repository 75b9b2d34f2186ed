package guard

import (
	"testing"
	"time"

	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// policyAndKeyring is what the guard's unit tests and benchmarks build a
// Protection from: the policy read and validated from its YAML, and a
// keyring of one fresh data key named "k" (version 1).
func policyAndKeyring(tb testing.TB, yaml string) (*policy.Policy, *keys.Keyring) {
	tb.Helper()
	pol, err := sqlrewrite.ParsePolicy([]byte(yaml))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		tb.Fatal(err)
	}
	dk, err := keys.GenerateDataKey("k", 1, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	kr, err := keys.NewKeyring([]keys.DataKey{dk})
	if err != nil {
		tb.Fatal(err)
	}
	return pol, kr
}
