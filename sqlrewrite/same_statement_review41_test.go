package sqlrewrite

import (
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// rv41Canonical is the check sameStatements replaced (canonical and
// proto.Equal, before 4c580ba): locations cleared, ANDs and ORs flattened.
func rv41Canonical(m protoreflect.Message) {
	switch n := m.Interface().(type) {
	case *pg_query.RawStmt:
		n.StmtLocation, n.StmtLen = 0, 0
	case *pg_query.BoolExpr:
		n.Args = flatBool(n.GetBoolop(), n.GetArgs())
	}
	if fd := m.Descriptor().Fields().ByName("location"); fd != nil && fd.Kind() == protoreflect.Int32Kind {
		m.Clear(fd)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				rv41Canonical(v.List().Get(i).Message())
			}
		default:
			rv41Canonical(v.Message())
		}
		return true
	})
}

func rv41OldSame(a, b *pg_query.ParseResult) bool {
	ca, cb := proto.Clone(a).(*pg_query.ParseResult), proto.Clone(b).(*pg_query.ParseResult)
	rv41Canonical(ca.ProtoReflect())
	rv41Canonical(cb.ProtoReflect())
	return proto.Equal(ca, cb)
}

// rv41Mutate changes the i-th field (set or not) met in a walk of m, and
// says whether there was one; n counts the fields met.
func rv41Mutate(m protoreflect.Message, i int, n *int) bool {
	fields := m.Descriptor().Fields()
	for k := 0; k < fields.Len(); k++ {
		fd := fields.Get(k)
		if fd.ContainingOneof() != nil && !m.Has(fd) {
			continue // a Node's other kinds: some 250 each
		}
		if *n == i {
			*n++
			return rv41Change(m, fd)
		}
		*n++
		if !m.Has(fd) || fd.Message() == nil {
			continue
		}
		if fd.IsList() {
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				if rv41Mutate(l.Get(j).Message(), i, n) {
					return true
				}
			}
			continue
		}
		if rv41Mutate(m.Get(fd).Message(), i, n) {
			return true
		}
	}
	return false
}

func rv41Change(m protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	switch {
	case fd.IsList():
		l := m.Mutable(fd).List()
		if l.Len() > 0 {
			l.Truncate(l.Len() - 1)
		} else if fd.Message() != nil {
			l.Append(protoreflect.ValueOfMessage(l.NewElement().Message()))
		} else {
			return false
		}
	case fd.Message() != nil:
		if m.Has(fd) {
			m.Clear(fd)
		} else {
			m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
		}
	case fd.Kind() == protoreflect.BoolKind:
		m.Set(fd, protoreflect.ValueOfBool(!m.Get(fd).Bool()))
	case fd.Kind() == protoreflect.EnumKind:
		m.Set(fd, protoreflect.ValueOfEnum(m.Get(fd).Enum()+1))
	case fd.Kind() == protoreflect.StringKind:
		m.Set(fd, protoreflect.ValueOfString(m.Get(fd).String()+"x"))
	case fd.Kind() == protoreflect.Int32Kind:
		m.Set(fd, protoreflect.ValueOfInt32(int32(m.Get(fd).Int())+1))
	case fd.Kind() == protoreflect.Int64Kind:
		m.Set(fd, protoreflect.ValueOfInt64(m.Get(fd).Int()+1))
	case fd.Kind() == protoreflect.Uint32Kind:
		m.Set(fd, protoreflect.ValueOfUint32(uint32(m.Get(fd).Uint())+1))
	case fd.Kind() == protoreflect.Uint64Kind:
		m.Set(fd, protoreflect.ValueOfUint64(m.Get(fd).Uint()+1))
	default:
		return false
	}
	return true
}

// TestReview41SameNodeAgreesWithOldCheck: every golden statement's parse
// against each one-field change of it (a boolean flipped, an enum or
// integer moved, a string, list or message changed, an absent message or
// list element set) and against itself: sameNode says what the check it
// replaced said, both ways round.
func TestReview41SameNodeAgreesWithOldCheck(t *testing.T) {
	seen := map[string]bool{}
	tried, differ := 0, 0
	for _, path := range goldenFiles(t) {
		for _, c := range parseGolden(t, path).cases {
			if c.commentOnly() || seen[c.sql] || len(seen) >= 400 {
				continue
			}
			seen[c.sql] = true
			orig, err := pg_query.Parse(c.sql)
			if err != nil {
				continue
			}
			for i := 0; ; i++ {
				mut := proto.Clone(orig).(*pg_query.ParseResult)
				n := 0
				if !rv41Mutate(mut.ProtoReflect(), i, &n) {
					if n <= i {
						break
					}
					continue
				}
				tried++
				old := rv41OldSame(orig, mut)
				if !old {
					differ++
				}
				if got := sameNode(orig.ProtoReflect(), mut.ProtoReflect()); got != old {
					t.Errorf("%s:%d: change %d: sameNode says %v, the old check %v", c.file, c.line, i, got, old)
				}
				if got := sameNode(mut.ProtoReflect(), orig.ProtoReflect()); got != old {
					t.Errorf("%s:%d: change %d (reversed): sameNode says %v, the old check %v", c.file, c.line, i, got, old)
				}
			}
		}
	}
	t.Logf("%d statements, %d changes, %d of them differ", len(seen), tried, differ)
	if tried < 5000 {
		t.Errorf("only %d changes tried", tried)
	}
}
