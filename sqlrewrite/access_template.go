package sqlrewrite

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// An application that inlines its values sends a new text for every
// value; rewriting each one (parse, walk, edit, check) costs a few hundred
// microseconds. But the rewriter's verdict does not depend on a literal's
// value in a DML statement (except a number used as a position in ORDER
// BY, GROUP BY or DISTINCT ON, which decides which column is sorted): so
// texts of one shape (shape.go) can share one rewrite, made once on a
// copy of the text whose literals are placeholders, with each text's own
// literals put back in. The first text of a shape is rewritten both ways
// and the two results must agree exactly, or the shape is never shared.

// placeholderPrefix starts every placeholder literal; the random part
// makes it a string no client text holds.
var placeholderPrefix = randomName("phiguardlit") + "_"

// randomName is prefix and 16 random hex digits.
func randomName(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("BUG: crypto/rand: " + err.Error())
	}
	return prefix + hex.EncodeToString(b[:])
}

// accessTemplate is a rewrite with holes where a text's literals go. The
// parts between the holes are kept end to end in one string, so that a
// template holds its SQL once and not a string header per literal.
type accessTemplate struct {
	shared bool    // false: this shape is rewritten text by text
	text   string  // the SQL between the holes, end to end
	ends   []int32 // part i is text[ends[i-1]:ends[i]]
	holes  []int32 // holes[i] is the literal that goes after part i
	acc    Access  // Changed, Refusal, Decisions, BreakGlass; SQL unset
}

// instantiate is the template's Access for one text's literals.
func (t *accessTemplate) instantiate(sql string, spans []literalSpan) *Access {
	acc := t.acc
	if !acc.Changed {
		acc.SQL = sql
		return &acc
	}
	var b strings.Builder
	n := len(t.text)
	for _, h := range t.holes {
		n += spans[h].end - spans[h].start
	}
	b.Grow(n)
	start := int32(0)
	for i, end := range t.ends {
		b.WriteString(t.text[start:end])
		start = end
		if i < len(t.holes) {
			sp := spans[t.holes[i]]
			b.WriteString(sql[sp.start:sp.end])
		}
	}
	acc.SQL = b.String()
	return &acc
}

// templatable says whether a's texts may share a rewrite: only DML, and
// no literal that a sort, grouping or DISTINCT ON reads as a position.
func templatable(a *Analysis) bool {
	if a == nil || a.Err != nil {
		return false
	}
	for _, st := range a.Statements {
		switch st.Kind {
		case KindSelect, KindInsert, KindUpdate, KindDelete:
		default:
			return false
		}
	}
	tree := a.syntax()
	if tree == nil {
		return false
	}
	ok := true
	walk(tree.ProtoReflect(), func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg_query.SortBy:
			ok = ok && n.GetNode().GetAConst() == nil
		case *pg_query.SelectStmt:
			for _, g := range append(groupingItems(n.GetGroupClause()), n.GetDistinctClause()...) {
				ok = ok && g.GetAConst() == nil
			}
		}
	})
	return ok
}

// makeTemplate rewrites a placeholder copy of sql and checks that, with
// sql's literals put back, it gives exactly want (sql's own rewrite).
func makeTemplate(sql string, spans []literalSpan, want *Access, a *Analysis, pol *policy.Policy, role *policy.Role, objs Objects, breakGlass bool) *accessTemplate {
	never := &accessTemplate{}
	if !templatable(a) || !verifyShape(sql, spans) {
		return never
	}
	var b strings.Builder
	last := 0
	for i, sp := range spans {
		b.WriteString(sql[last:sp.start])
		b.WriteString("'" + placeholderPrefix + strconv.Itoa(i) + "'")
		last = sp.end
	}
	b.WriteString(sql[last:])
	ph := b.String()
	got := AccessFor(ph, a, pol, role, objs, breakGlass)
	t := &accessTemplate{shared: true, acc: *got}
	t.acc.SQL, t.acc.written = "", nil
	if got.Changed {
		if !t.split(got.SQL, len(spans)) {
			return never
		}
	}
	if got.Refusal != nil && strings.Contains(got.Refusal.Error(), placeholderPrefix) {
		return never
	}
	if !sameAccess(t.instantiate(sql, spans), want) {
		return never
	}
	return t
}

// split cuts a rewritten placeholder text at its placeholders.
func (t *accessTemplate) split(s string, n int) bool {
	var b strings.Builder
	for {
		i := strings.Index(s, "'"+placeholderPrefix)
		if i < 0 {
			b.WriteString(s)
			t.ends = append(t.ends, int32(b.Len()))
			// Cached: keep no slack from the appends.
			t.text, t.ends, t.holes = strings.Clone(b.String()), slices.Clone(t.ends), slices.Clone(t.holes)
			return true
		}
		rest := s[i+1+len(placeholderPrefix):]
		j := strings.IndexByte(rest, '\'')
		if j < 0 {
			return false
		}
		k, err := strconv.Atoi(rest[:j])
		if err != nil || k < 0 || k >= n {
			return false
		}
		b.WriteString(s[:i])
		t.ends = append(t.ends, int32(b.Len()))
		t.holes = append(t.holes, int32(k))
		s = rest[j+1:]
	}
}

func sameAccess(a, b *Access) bool {
	if a.SQL != b.SQL || a.Changed != b.Changed || (a.Refusal == nil) != (b.Refusal == nil) ||
		(a.BreakGlass == nil) != (b.BreakGlass == nil) || !slices.Equal(a.Decisions, b.Decisions) {
		return false
	}
	return a.Refusal == nil || (a.Refusal.Error() == b.Refusal.Error() && a.Refusal.Code == b.Refusal.Code)
}
