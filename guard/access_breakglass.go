package guard

import (
	"bytes"
	"strings"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/internal/pgerr"
	"go.uber.org/zap"
)

// Break-glass: a role whose rules allow it may run
// `SET phiguard.break_glass = '<reason>'` (the rewriter checks the
// permission and the reason's length). phiguard forwards the SET — the
// backend accepts any dotted custom setting — and only when the backend
// confirms it with CommandComplete does the session's flag go up: from the
// next statement on, the rewriter no longer injects the role's row rules
// (column and statement rules stay). The grant is a high-severity log line
// without the reason (free text a user typed), a metric, and an audit
// record that keeps the reason, since reviewing it is the point. The flag
// lasts for the session; a ROLLBACK of the transaction that ran the SET
// does not lower it (the audit record already says it was granted).

// grantBreakGlass raises the session's break-glass flag once the backend
// confirmed the request's SET.
func (s *Session) grantBreakGlass(head *expectation, tag []byte) {
	if !bytes.HasPrefix(tag, []byte("SET")) {
		return
	}
	g := head.glass
	head.glass = nil
	s.acc.breakGlass.Store(true)
	role := roleName(s.acc.role.Load())
	s.srv.metrics.BreakGlass.WithLabelValues(role).Inc()
	s.log.Warn("break-glass granted: row rules lifted for the rest of the session",
		zap.String("severity", "high"), zap.String("role", role))
	s.record(&audit.BreakGlass{Time: time.Now(), Session: s.auditInfo(), Reason: g.Reason, Granted: true,
		Rule: role + ": break_glass", SQLState: string(pgerr.SuccessfulCompletion)})
}

// recordBreakGlassRefused writes the audit record of a break-glass request
// the rules refused (no permission, or a reason too short).
func (s *Session) recordBreakGlassRefused(v accessVerdict, sql []byte) {
	if s.srv.auditor == nil || v.refusal == nil || !strings.Contains(strings.ToLower(string(sql)), "break_glass") {
		return
	}
	s.log.Warn("break-glass refused", zap.String("severity", "high"), zap.String("role", roleName(s.acc.role.Load())),
		zap.String("rule", v.rule))
	s.record(&audit.BreakGlass{Time: time.Now(), Session: s.auditInfo(), Granted: false, Rule: v.rule,
		SQLState: string(v.refusal.Code)})
}
