package guard

import (
	"fmt"
	"strings"

	"github.com/phiguard/phiguard/internal/pgerr"

	"github.com/phiguard/phiguard/sqlrewrite"
	"go.uber.org/zap"
)

// A statement prepared at the protocol level (Parse) was checked and
// planned under the policy of that moment. When a reload swaps the policy,
// its next Bind checks it again under the new one: if the new policy
// makes exactly the same of it (same verdict, same rewritten text, same
// values to encrypt with the same keys), it goes on and is marked as
// checked under the new policy; otherwise the Bind is refused with 0A000,
// PostgreSQL's own code for a cached plan that no longer holds, and the
// client must prepare it again. Reloads that do not touch a statement's
// tables therefore disturb no prepared statement.

// recheckPrepared returns the refusal for a Bind of a statement prepared
// under an older policy whose rules or plan changed, or nil.
func (s *Session) recheckPrepared(info *stmtInfo) *pgerr.Error {
	if info == nil || info.pol == nil || info.pol == s.policy() {
		return nil
	}
	v := s.checkAccess([]byte(info.sql), info.analysis)
	same := v.refusal == nil && string(v.sql) == info.sent && decisionsKey(v.access) == info.decisions
	if same && v.analysis != nil {
		same = planKey(s.planOf(v.analysis)) == planKey(info.plan)
	} else if same {
		same = !info.plan.Protected
	}
	if !same {
		s.log.Info("prepared statement refused at Bind: planned under an older policy",
			zap.String("policy_version", short(s.policy().Version())))
		return pgerr.New(pgerr.FeatureNotSupported, "prepared under an older policy; prepare it again (phiguard's policy was reloaded and changes what this statement may do)")
	}
	info.pol = s.policy()
	info.decision, info.rule, info.glass = v.decision, v.rule, v.glass
	return nil
}

// decisionsKey names every rule an Access applied and its effect.
func decisionsKey(acc *sqlrewrite.Access) string {
	if acc == nil {
		return ""
	}
	var b strings.Builder
	for _, d := range acc.Decisions {
		fmt.Fprintf(&b, "%s|%s|%s|%s\n", d.Table, d.Column, d.Rule, d.Effect)
	}
	return b.String()
}

// planKey names everything a plan makes the proxy do.
func planKey(p *sqlrewrite.Plan) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%t|", p.Protected)
	if p.Refusal != nil {
		fmt.Fprintf(&b, "refused %s %s|", p.Refusal.Code, p.Refusal.Error())
	}
	for _, v := range p.Values {
		fmt.Fprintf(&b, "%d %d %s %s %s %s|", v.Literal, v.Param, v.Use, v.Column.QualifiedName(), v.Column.Key, v.Column.Mode)
	}
	for _, c := range p.Defaults {
		fmt.Fprintf(&b, "default %s|", c.QualifiedName())
	}
	if p.Copy != nil {
		fmt.Fprintf(&b, "copy %t|", p.Copy.In)
	}
	return b.String()
}
