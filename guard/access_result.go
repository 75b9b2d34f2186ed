package guard

import (
	"errors"
	"fmt"
	"sync"

	"github.com/phiguard/phiguard/internal/pgerr"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// Column rules on results. The rewriter has already refused any statement
// that uses a restricted column other than by name in its output (an
// expression, a comparison, an ORDER BY), so what reaches the client of a
// restricted column is the column itself, and a RowDescription names it by
// table OID and attribute number. phiguard maps those through the
// session's Objects to schema.table.column and applies the role's rule:
//
//	masked     the (decrypted) value through the mask pattern, as text (OID 25)
//	pseudonym  psn_<hex> from the rule's HMAC key, as text (OID 25)
//	null       NULL, type kept
//	deny       the whole result is refused with 42501 (a safety net: the
//	           rewriter refuses such a statement before it runs)
//
// A binary-format field of a masked or pseudonym column is sent as text's
// binary form, which is its bytes.

// ruleSet is what the column rules of one result are read against.
type ruleSet struct {
	pol  *policy.Policy
	role *policy.Role
	objs *Objects
}

// columnRules returns the session's rule set, or nil when its role has no
// rules (the result passes untouched).
func (s *Session) columnRules() *ruleSet {
	role := s.restricted()
	if role == nil {
		return nil
	}
	return &ruleSet{pol: s.policy(), role: role, objs: s.acc.objs.Load()}
}

// unmappedRule stands for every table column while the session has no
// Objects to name them by: fail closed.
var unmappedRule = &policy.ColumnRule{Action: policy.ActionDeny, Name: "no catalog of database objects yet"}

// forField is the rule for a result field, nil for plaintext.
func (rs *ruleSet) forField(table uint32, attnum int16) *policy.ColumnRule {
	if rs == nil || table == 0 {
		return nil
	}
	if rs.objs == nil {
		return unmappedRule
	}
	schema, name, column, ok := rs.objs.column(table, attnum)
	if !ok {
		// A relation created after the objects were read, or a system
		// column: the rewriter refuses what it does not know.
		return nil
	}
	r := rs.pol.EffectiveColumnRule(rs.role, schema, name, column)
	if r == nil || r.Action == policy.ActionPlaintext {
		return nil
	}
	return r
}

// presentRuleField sets up a field with a column rule and changes its
// description: masks and pseudonyms are text.
func (s *Session) presentRuleField(rf *resultField, f *pgproto3.FieldDescription) error {
	switch rf.rule.Action {
	case policy.ActionPseudonym, policy.ActionMasked:
		f.DataTypeOID, f.DataTypeSize, f.TypeModifier = oidText, -1, -1
	}
	return nil
}

// refreshRules re-reads the column rules of a result described under an
// older policy (a cached prepared statement the client did not describe
// again). A new pattern or key applies at once; a rule whose action
// changed would change the type the client was told, so the result is
// refused with 0A000, as PostgreSQL refuses a cached plan whose result
// type changed.
func (s *Session) refreshRules(fields []*resultField) *pgerr.Error {
	var rs *ruleSet
	resolved := false
	for _, f := range fields {
		if f == nil || f.rule == nil {
			continue
		}
		if !resolved {
			rs, resolved = s.columnRules(), true
		}
		if rs != nil && f.rulePol == rs.pol {
			continue
		}
		var nr *policy.ColumnRule
		if rs != nil {
			nr = rs.forField(f.table, f.attnum)
		}
		if nr == nil || nr.Action != f.rule.Action {
			return pgerr.New(pgerr.FeatureNotSupported, "prepared under an older policy; prepare it again (a column rule of its result changed)")
		}
		f.rule, f.rulePol = nr, rs.pol
	}
	return nil
}

// fieldsRefusal is the refusal of a result that carries a denied column.
func fieldsRefusal(fields []*resultField) *pgerr.Error {
	for _, f := range fields {
		if f != nil && f.rule != nil && f.rule.Action == policy.ActionDeny {
			return denyError(f.rule)
		}
		if f != nil && f.computed != "" {
			return computedError(f.computed)
		}
		if f != nil && f.stale {
			return pgerr.New(pgerr.SerializationFailure,
				"the columns of a table with encrypted columns changed since this session read them (DDL in another session), so phiguard cannot tell which result columns to decrypt: run the statement again (a prepared statement: prepare it again)")
		}
	}
	return nil
}

func denyError(r *policy.ColumnRule) *pgerr.Error {
	what := "column " + r.Table.String() + "." + policy.QuoteIdentifier(r.Column)
	if r == unmappedRule {
		what = "a table column"
	}
	return pgerr.Newf(pgerr.InsufficientPrivilege, "permission denied for %s: the result would show it (rule %s)", what, r.Name)
}

// applyColumnRule returns what the client sees of one non-NULL value.
func (s *Session) applyColumnRule(f *resultField, v []byte) ([]byte, *pgerr.Error) {
	r := f.rule
	switch r.Action {
	case policy.ActionNull:
		return nil, nil
	case policy.ActionMasked, policy.ActionPseudonym:
	default:
		return nil, denyError(r)
	}
	canon, pe := s.canonicalForRule(f, v)
	if pe != nil || canon == nil {
		return nil, pe // canon nil: a shredded subject's cell reads NULL
	}
	if r.Action == policy.ActionMasked {
		return []byte(policy.ApplyMask(r.Mask, string(canon))), nil
	}
	return s.pseudonym(r, canon)
}

// pseudonym is the token of canon under the rule's key as the keys in
// use hold it now. The keyer is looked up for every value rather than
// kept with a statement's description: a statement described before the
// kill switch withdrew the keys (keys/keywatch), and executed again
// without a new Describe, must not go on pseudonymizing with the keyer
// derived then.
func (s *Session) pseudonym(r *policy.ColumnRule, canon []byte) ([]byte, *pgerr.Error) {
	psn, err := s.srv.protect.pseudonymizer(r.Key)
	if err != nil {
		what := fmt.Sprintf("the pseudonym key %q for column %s.%s", r.Key, r.Table, policy.QuoteIdentifier(r.Column))
		var we *keys.WithdrawnError
		if errors.As(err, &we) {
			return nil, pgerr.Newf(pgerr.KeyUnavailable, "%s is withdrawn: %s", what, withdrawalCause(we))
		}
		return nil, pgerr.Newf(pgerr.KeyUnavailable, "%s is not available", what)
	}
	return []byte(psn.Token(canon)), nil
}

// canonicalForRule is the text a mask or pseudonym is made of: the
// decrypted plaintext of a protected column, else the value's canonical
// text (PostgreSQL's output with DateStyle ISO), so that the same value
// gives the same pseudonym whatever the session's format or settings.
func (s *Session) canonicalForRule(f *resultField, v []byte) ([]byte, *pgerr.Error) {
	if f.col != nil {
		plain, _, pe := s.openCell(f.col, v)
		return plain, pe
	}
	lt, known := logicalTypeByOID(f.typ)
	if f.format == pgvalue.FormatBinary {
		if f.typ == oidText || f.typ == oidVarchar || f.typ == oidBpchar {
			return v, nil
		}
		if !known {
			return nil, pgerr.Newf(pgerr.FeatureNotSupported,
				"column %s.%s is shown %s to this role: request it in text format", f.rule.Table, policy.QuoteIdentifier(f.rule.Column), f.rule.Action)
		}
	}
	if !known {
		return v, nil
	}
	canon, err := pgvalue.Canonical(lt, f.format, v)
	if err != nil {
		if f.format == pgvalue.FormatText {
			return v, nil // a spelling pgvalue does not read: the backend's own text
		}
		return nil, pgerr.Newf(pgerr.FeatureNotSupported,
			"column %s.%s is shown %s to this role: request it in text format", f.rule.Table, policy.QuoteIdentifier(f.rule.Column), f.rule.Action)
	}
	return canon, nil
}

const (
	oidVarchar = 1043
	oidBpchar  = 1042
)

var (
	typesOnce sync.Once
	typesByID map[uint32]policy.LogicalType
)

// logicalTypeByOID finds the logical type pgvalue converts for a type OID.
func logicalTypeByOID(oid uint32) (policy.LogicalType, bool) {
	typesOnce.Do(func() {
		typesByID = map[uint32]policy.LogicalType{}
		for _, n := range policy.TypeNames() {
			if n == "char" {
				n = "bpchar" // the value as it is: char(1) would clip it
			}
			if t, err := policy.ParseType(n); err == nil {
				typesByID[t.OID] = t
			}
		}
	})
	t, ok := typesByID[oid]
	return t, ok
}
