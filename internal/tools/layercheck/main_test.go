package main

import "testing"

// TestRules: imports that break a rule are caught, and those the layout
// allows are not.
func TestRules(t *testing.T) {
	cases := []struct {
		pkg, imp string
		bad      bool
	}{
		{"sqlrewrite", "github.com/pganalyze/pg_query_go/v5", false},
		{"proxy", "github.com/pganalyze/pg_query_go/v5", true},
		{"policy", "github.com/pganalyze/pg_query_go/v5", true},
		{"keys", "github.com/phiguard/phiguard/sqlrewrite", true},
		{"keys/local", "github.com/jackc/pgx/v5/pgproto3", true},
		{"keys/keysconfig", "github.com/phiguard/phiguard/policy", false},
		{"sqlrewrite", "github.com/phiguard/phiguard/proxy", true},
		{"sqlrewrite", "net", true},
		{"sqlrewrite", "fmt", false},
		{"sqlrewrite", "github.com/phiguard/phiguard/internal/pgerr", false},
		{"audit", "github.com/phiguard/phiguard/proxy", true},
		{"guard", "github.com/phiguard/phiguard/proxy", true},
		{"proxy", "github.com/phiguard/phiguard/sqlrewrite", true},
		{"proxy", "github.com/phiguard/phiguard/policy", true},
		{"proxy", "github.com/phiguard/phiguard/guard", false},
		{"internal/pgwire", "github.com/phiguard/phiguard/internal/pgerr", true},
		{"internal/pgwire", "bufio", false},
		{"cmd/phiguard", "github.com/phiguard/phiguard/proxy", false},
		{"bench/phi", "github.com/phiguard/phiguard/proxy", false},
		{"backfill", "github.com/phiguard/phiguard/proxy", true},
		{"internal/pgerr", "github.com/phiguard/phiguard/policy", true},
		{"internal/pgerr", "github.com/jackc/pgx/v5/pgproto3", false},
		{"keys", "github.com/hashicorp/vault/api", true},
		{"keys/vault", "github.com/hashicorp/vault/api", false},
		{"cellcheck", "github.com/phiguard/phiguard/keys", true},
		{"cellcheck", "github.com/phiguard/phiguard/guard", true},
		{"cellcheck", "github.com/phiguard/phiguard/policy", false},
		{"guard", "github.com/phiguard/phiguard/cellcheck", false},
	}
	for _, c := range cases {
		bad := false
		for _, r := range rules {
			if _, b := r.breaks(c.pkg, c.imp); b {
				bad = true
			}
		}
		if bad != c.bad {
			t.Errorf("%s importing %s: broken %v, want %v", c.pkg, c.imp, bad, c.bad)
		}
	}
}
