package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

const module = "github.com/phiguard/phiguard"

type rule struct {
	why    string
	from   []string // importer prefixes ("" = every package of the module)
	to     []string // imported prefixes (module-relative, or full for others)
	except map[string]string
}

var rules = []rule{
	{why: "pg_query (cgo, PostgreSQL's parser) only in sqlrewrite: all SQL text analysis and editing lives there",
		from: []string{""}, to: []string{"github.com/pganalyze/pg_query_go"},
		except: map[string]string{"sqlrewrite": "its home"}},
	{why: "Vault's client only in keys/vault",
		from: []string{""}, to: []string{"github.com/hashicorp/vault"},
		except: map[string]string{"keys/vault": "its home"}},
	{why: "keys knows nothing of SQL, the wire, the policy or the audit, nor of types and collations (search terms are computed from bytes cellcipher prepares)",
		from: []string{"keys"}, to: []string{"sqlrewrite", "proxy", "guard", "audit", "policy", "github.com/jackc/pgx", "cellcipher", "internal/pgvalue", "internal/pgorder", "internal/pgcollate"},
		except: map[string]string{"keys/keysconfig": "builds keyrings from the config and asks the policy which key ids it needs"}},
	{why: "policy is the YAML model: no rewriter, wire, keys or audit",
		from: []string{"policy"}, to: []string{"sqlrewrite", "proxy", "guard", "keys", "audit", "backfill"},
		except: map[string]string{}},
	{why: "sqlrewrite is pure: policy's types and the error vocabulary only, no I/O, no crypto, no wire",
		from: []string{"sqlrewrite"}, to: []string{"proxy", "guard", "keys", "audit", "backfill", "config", "github.com/jackc/pgx", "net", "os"},
		except: map[string]string{}},
	{why: "the wire (proxy) is imported only by the binary and the end-to-end tests",
		from: []string{""}, to: []string{"proxy"},
		except: map[string]string{"cmd/phiguard": "the binary", "integration": "end-to-end tests", "bench": "benchmarks", "proxy": "itself"}},
	{why: "the wire (proxy) knows messages and bytes, nothing of SQL or policy: statements reach sqlrewrite, the policy and the column ciphers through the guard",
		from: []string{"proxy"}, to: []string{"sqlrewrite", "policy", "keys", "cellcipher", "search", "backfill", "github.com/pganalyze"},
		except: map[string]string{}},
	{why: "the guard never imports the wire: the wire calls the guard (ClientMessage, BackendMessage), and what the guard asks of the wire is the guard.Wire interface",
		from: []string{"guard"}, to: []string{"proxy"},
		except: map[string]string{}},
	{why: "pgwire is the protocol's vocabulary below the wire and the guard: nothing of phiguard",
		from: []string{"internal/pgwire"}, to: []string{""},
		except: map[string]string{}},
	{why: "audit records events; it does not reach into the wire or the backfill",
		from: []string{"audit"}, to: []string{"proxy", "guard", "backfill"},
		except: map[string]string{}},
	{why: "cellcipher is the column cipher: keys, policy, value formats, orders and collations (pgvalue, pgorder, pgcollate), nothing of SQL, the wire, the audit or the backfill",
		from: []string{"cellcipher"}, to: []string{"sqlrewrite", "proxy", "guard", "audit", "backfill", "github.com/jackc/pgx/v5/pgproto3", "github.com/pganalyze"},
		except: map[string]string{}},
	{why: "search holds the install SQL and catalog reads of database-side search terms: no key, no term computation, no wire, no rewriter, no audit, no backfill (the backfill uses it)",
		from: []string{"search"}, to: []string{"keys", "cellcipher", "proxy", "guard", "sqlrewrite", "audit", "backfill"},
		except: map[string]string{}},
	{why: "cellcheck holds the SQL and catalog reads of the cells-only CHECK: no key, no cell computation, no wire, no rewriter, no audit, no backfill (the backfill and the guard use it)",
		from: []string{"cellcheck"}, to: []string{"keys", "cellcipher", "proxy", "guard", "sqlrewrite", "audit", "backfill", "search"},
		except: map[string]string{}},
	{why: "pgerr is the bottom of the graph: nothing of phiguard",
		from: []string{"internal/pgerr"}, to: []string{""},
		except: map[string]string{}},
}

func main() {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "layercheck: go list:", err)
		os.Exit(2)
	}
	var broken []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		for _, imp := range f[1:] {
			for _, r := range rules {
				if msg, bad := r.breaks(pkg, imp); bad {
					broken = append(broken, msg)
				}
			}
		}
	}
	for _, b := range broken {
		fmt.Println(b)
	}
	if len(broken) > 0 {
		fmt.Printf("layercheck: %d imports break the layout rules (internal/tools/layercheck)\n", len(broken))
		os.Exit(1)
	}
}

// breaks says whether pkg importing imp breaks r.
func (r rule) breaks(pkg, imp string) (string, bool) {
	if !matches(pkg, r.from) || excepted(pkg, r.except) {
		return "", false
	}
	for _, to := range r.to {
		if targets(to, imp) && strings.TrimPrefix(imp, module+"/") != pkg {
			return fmt.Sprintf("%s imports %s: %s", pkg, imp, r.why), true
		}
	}
	return "", false
}

// matches says whether a package of the module is under one of prefixes
// ("" is every package).
func matches(p string, prefixes []string) bool {
	for _, pre := range prefixes {
		if pre == "" || p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return false
}

func excepted(pkg string, except map[string]string) bool {
	for pre := range except {
		if matches(pkg, []string{pre}) {
			return true
		}
	}
	return false
}

// targets says whether an import is what a rule's "to" entry names: a
// package of the module by its relative prefix ("" for any of them), an
// outside module by its path prefix, or a standard package by name.
func targets(to, imp string) bool {
	if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
		return !strings.Contains(to, ".") && matches(rel, []string{to})
	}
	if to == "" {
		return false
	}
	return imp == to || strings.HasPrefix(imp, to+"/")
}
