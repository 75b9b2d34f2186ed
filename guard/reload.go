package guard

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// Policy reload. ReloadPolicyFile reads and validates the file again; an
// invalid file, or one naming keys the keyring does not hold, is rejected
// with every problem logged, and the policy in force stays. A valid one is
// swapped in atomically. No session is interrupted: each picks the new
// policy up at its next statement (role re-bound, protected-column catalog
// re-read when the protected columns changed), and a statement prepared
// under the old policy is checked again at its next Bind (access_bind.go).
// Every attempt is counted (phiguard_policy_reload_total{result}) and
// audited (policy_reload).

// ReloadPolicyFile reloads the policy from path. It returns the problems of
// a rejected file; the policy in force is then unchanged.
func (srv *Shared) ReloadPolicyFile(path string) error {
	if srv.protect == nil {
		return errors.New("phiguard runs without a policy: nothing to reload")
	}
	pol, err := sqlrewrite.LoadPolicy(path)
	if err == nil {
		err = pol.Validate()
	}
	if err == nil {
		if missing := srv.protect.missingKeys(pol); len(missing) > 0 {
			err = fmt.Errorf("the policy names keys phiguard has not loaded: %s (run phiguard keys init, then restart)", strings.Join(missing, ", "))
		}
	}
	if err != nil {
		n := 1
		var ps policy.Problems
		if errors.As(err, &ps) {
			n = len(ps)
		}
		srv.metrics.PolicyReloads.WithLabelValues("rejected").Inc()
		srv.log.Error("policy reload rejected: the policy in force stays", zap.String("policy", path),
			zap.Int("problems", n), zap.Error(err))
		srv.recordReload(&audit.PolicyReload{Time: time.Now(), File: path, Accepted: false, Problems: n})
		return err
	}
	prev := srv.protect.Current()
	srv.protect.current.Store(pol)
	srv.metrics.PolicyReloads.WithLabelValues("accepted").Inc()
	srv.log.Info("policy reloaded", zap.String("policy", path), zap.String("policy_version", short(pol.Version())),
		zap.String("previous_version", short(prev.Version())), zap.Int("roles", len(pol.Roles())))
	srv.recordReload(&audit.PolicyReload{Time: time.Now(), File: path, Version: pol.Version(), Accepted: true})
	return nil
}

func (srv *Shared) recordReload(ev *audit.PolicyReload) {
	if srv.auditor == nil {
		return
	}
	if err := srv.auditor.Record(ev); err != nil {
		srv.log.Warn("audit record rejected", zap.Error(err))
	}
}

// missingKeys lists the key ids pol needs (protected columns, pseudonym
// rules) that the keyring lacks (the last keys held, while withdrawn),
// and the search_key_versions it lacks.
func (p *Protection) missingKeys(pol *policy.Policy) []string {
	var ids []string
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			ids = append(ids, c.Key)
		}
	}
	for _, r := range pol.Roles() {
		for _, c := range r.ColumnRules() {
			if c.Action == policy.ActionPseudonym {
				ids = append(ids, c.Key)
			}
		}
	}
	// While the keys are withdrawn, the keys last held are what counts
	// (knownKeys).
	known := p.keySet().known
	var out []string
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			if c.PerSubject() && !known.perSubject && !containsString(out, "per-subject keys") {
				// Per-subject sealing is set up at start (and again
				// when the kill switch gives the keys back) only.
				out = append(out, "per-subject keys")
			}
		}
	}
	for _, id := range ids {
		if _, ok := known.versions[id]; !ok && !containsString(out, id) {
			out = append(out, id)
		}
	}
	// A column's search_key_version must be a loaded version of its key
	// (docs/design/search-terms.md §3): writes compute terms under it.
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			v := strconv.FormatUint(uint64(c.SearchKeyVersion), 10) + ","
			if vs, ok := known.versions[c.Key]; c.Search != 0 && ok && !strings.HasPrefix(vs, v) && !strings.Contains(vs, ","+v) {
				out = append(out, fmt.Sprintf("%s version %d (search_key_version of %s)", c.Key, c.SearchKeyVersion, c.QualifiedName()))
			}
		}
	}
	return out
}
