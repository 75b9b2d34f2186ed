package guard

import (
	"slices"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Parameters of prepared statements: which ones a statement's Binds must
// encrypt (planned at Parse), and their encryption at each Bind.

// planParams records which parameters of a prepared statement its Binds
// must encrypt, and for a per-subject column where each row's subject
// comes from; the parameters are declared text, the type of a cell.
func planParams(info *stmtInfo, msg *pgproto3.Parse) *pgerr.Error {
	for _, v := range info.plan.Values {
		if v.Literal >= 0 {
			continue
		}
		if prev, ok := info.params[v.Param]; ok && prev.Key != v.Column.Key {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"parameter $%d is used for encrypted columns %s and %s, which have different keys; pass it twice",
				v.Param, prev.QualifiedName(), v.Column.QualifiedName())
		}
		if info.params == nil {
			info.params = map[int]*policy.ProtectedColumn{}
		}
		info.params[v.Param] = v.Column
		if info.compareOnly == nil {
			info.compareOnly = map[int]bool{}
		}
		if only, seen := info.compareOnly[v.Param]; !seen || only {
			info.compareOnly[v.Param] = v.Use == sqlrewrite.UseCompare
		}
		if info.explicit == nil {
			info.explicit = map[int]bool{}
		}
		if only, seen := info.explicit[v.Param]; !seen || only {
			info.explicit[v.Param] = v.Explicit
		}
		if v.Subject != nil {
			if pe := planSubject(info, msg, v); pe != nil {
				return pe
			}
		}
		if i := v.Param - 1; i < len(msg.ParameterOIDs) && msg.ParameterOIDs[i] != 0 {
			if msg.ParameterOIDs[i] != oidText {
				if info.declared == nil {
					info.declared = map[int]uint32{}
				}
				info.declared[v.Param] = msg.ParameterOIDs[i]
			}
			msg.ParameterOIDs[i] = oidText
		}
	}
	return nil
}

// planSubject records where the subject of a per-subject parameter's row
// comes from: a literal of the text, or another parameter.
func planSubject(info *stmtInfo, msg *pgproto3.Parse, v sqlrewrite.ValueSlot) *pgerr.Error {
	src := subjectSource{param: v.Subject.Param}
	if v.Subject.Literal >= 0 {
		lit, pe := literalSubject([]byte(msg.Query), sqlrewrite.LiteralSpans([]byte(msg.Query)), v.Subject, v.Column)
		if pe != nil {
			return pe
		}
		src = subjectSource{literal: lit}
	}
	if prev, ok := info.subjects[v.Param]; ok && (prev.param != src.param || string(prev.literal) != string(src.literal)) {
		return pgerr.Newf(pgerr.FeatureNotSupported,
			"parameter $%d is written into %s for rows of different subjects; pass it once per row",
			v.Param, v.Column.QualifiedName())
	}
	if info.subjects == nil {
		info.subjects = map[int]subjectSource{}
	}
	info.subjects[v.Param] = src
	return nil
}

// encryptParams seals a Bind's protected parameters (params and formats
// as the client sent them): the cell of each, nil for the others, in dst
// (reused from Bind to Bind).
func (s *Session) encryptParams(dst [][]byte, info *stmtInfo, params [][]byte, formats []int16) ([][]byte, *pgerr.Error) {
	encrypted := slices.Grow(dst[:0], len(params))[:len(params)]
	clear(encrypted)
	for n, col := range info.params {
		i := n - 1
		if i >= len(params) || params[i] == nil {
			continue // a missing parameter is the backend's error to report
		}
		var subject []byte
		if src, ok := info.subjects[n]; ok {
			subject = src.literal
			if subject == nil {
				var pe *pgerr.Error
				if subject, pe = bindSubject(params, formats, src.param, col); pe != nil {
					return nil, pe
				}
			}
		}
		format, value, pe := declaredValue(col, info.declared[n], formats[i], params[i])
		if pe != nil {
			return nil, pe
		}
		if info.explicit[n] {
			value = explicitCast(col, value)
		}
		if info.compareOnly[n] && s.comparedMatchesNothing(col, format, value) {
			encrypted[i] = []byte(noMatchCell)
			continue
		}
		cell, pe := s.encryptValue(col, format, value, subject)
		if pe != nil {
			return nil, pe
		}
		encrypted[i] = cell
	}
	return encrypted, nil
}

// bindRefusal is why a Bind of info (nil: a statement phiguard did not
// plan) is refused, if it is: an EXECUTE of a PREPARE dropped since its
// Parse, a policy reloaded since its Parse, the keys
// withdrawn or changed since, a default an encrypted column it leaves out
// was given since, an audit trail that cannot record it.
func (s *Session) bindRefusal(info *stmtInfo) *pgerr.Error {
	if info == nil {
		return nil
	}
	if pe := s.executeRefusal(info.analysis); pe != nil { // sql_prepared.go: dropped since the Parse
		return pe
	}
	if pe := s.recheckPrepared(info); pe != nil {
		return pe
	}
	if pe := s.sealedUnderWithdrawn(info.plan); pe != nil {
		return pe
	}
	if pe := s.recheckKeys(info); pe != nil {
		return pe
	}
	if info.plan.DefaultsUnguarded {
		// Read just before this Bind (bindReprepares): a default another
		// session set since the Parse; not read, refused.
		if pe := s.unreadCopyRefusal(); pe != nil { // catalog_fresh.go
			return pe
		}
		if pe := s.checkDefaults(info.plan); pe != nil {
			return pe
		}
	}
	if pe := s.namesRefusal(info.plan); pe != nil {
		// DDL since the Parse gave an inner table the name the plan took
		// for an outer encrypted column (catalog_unshadowed.go):
		// PostgreSQL analyses the statement again and binds it there.
		return pe
	}
	if pe := s.pathInSegmentBind(info); pe != nil { // catalog_path_follow.go
		return pe
	}
	if s.catalog.Load().writesThroughRules(s.withExecuted(info.analysis)) || s.pathBindCheck {
		// Read just before this Bind (bindReprepares): a view another
		// session replaced since the Parse (catalog_names.go), or the
		// search path changed since (catalog_path_follow.go).
		s.pathBindCheck = false
		if pe := s.viewWriteRefusal(s.withExecuted(info.analysis)); pe != nil {
			return pe
		}
		info.pathChanges = s.pathChanges // checked under this path (pathChangedSince)
	}
	if touchesPHI(info.plan, info.decisions) && s.srv.auditor != nil && s.srv.auditor.Healthy() != nil {
		return auditRefusal()
	}
	return nil
}

// comparedMatchesNothing reports whether a parameter compared with col
// cannot equal any of its values: too long for a varchar(n) or char(n)
// (matchesNothing), or a number beyond a numeric(p,s) column's scale or
// precision, which PostgreSQL compares exactly where a write would round
// it (numericMatchesNothing). A binary number is read without the
// column's modifier first, so that it is not rounded before the check.
func (s *Session) comparedMatchesNothing(col *policy.ProtectedColumn, format int16, value []byte) bool {
	if matchesNothing(col, value) {
		return true
	}
	if col.Type.OID != policy.OIDNumeric || col.Type.Modifier < 4 {
		return false
	}
	if format != 0 {
		bare := *col
		bare.Type.Modifier = -1
		text, err := s.canonicalValue(&bare, format, value)
		if err != nil {
			return false // encrypting it reports the error
		}
		value = text
	}
	return numericMatchesNothing(col.Type.Modifier, value)
}

// declaredParams gives, for a Parse's declared types, the type of
// parameter $n, 0 when it left it untyped.
func declaredParams(oids []uint32) func(int) uint32 {
	return func(n int) uint32 {
		if n < 1 || n > len(oids) {
			return 0
		}
		return oids[n-1]
	}
}
