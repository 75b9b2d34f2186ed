package sqlrewrite

import (
	"bytes"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// sameStatements says whether text parses to tree, locations aside and
// with tree's ANDs and ORs nested as PostgreSQL's parser nests them, and
// returns text's parse when it does. Neither tree is changed: the parse
// keeps its locations, so that it serves as the analysis of text
// (access_stmt.go), and the walker's tree stays as the deparser would
// write it.
func sameStatements(text string, tree *pg_query.ParseResult) (*pg_query.ParseResult, bool) {
	got, err := pg_query.Parse(text)
	if err != nil || !sameNode(got.ProtoReflect(), tree.ProtoReflect()) {
		return nil, false
	}
	return got, true
}

// sameNode compares two messages field by field, skipping what the
// parser sets from the text's spelling and layout (ignoredField) and
// comparing boolean expressions by their flattened arguments (flatBool).
// A Node is a oneof of some 250 kinds: only the kind set is compared.
func sameNode(a, b protoreflect.Message) bool {
	d := a.Descriptor()
	if d != b.Descriptor() {
		return false
	}
	if x, ok := a.Interface().(*pg_query.BoolExpr); ok {
		y := b.Interface().(*pg_query.BoolExpr)
		return x.GetBoolop() == y.GetBoolop() && sameOptional(x.GetXpr(), y.GetXpr()) &&
			sameNodes(flatBool(x.GetBoolop(), x.GetArgs()), flatBool(y.GetBoolop(), y.GetArgs()))
	}
	if od := d.Oneofs(); od.Len() == 1 && od.Get(0).Fields().Len() == d.Fields().Len() {
		fa, fb := a.WhichOneof(od.Get(0)), b.WhichOneof(od.Get(0))
		return fa == fb && (fa == nil || sameValue(fa, a.Get(fa), b.Get(fa)))
	}
	fields := d.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if ignoredField(fd) {
			continue
		}
		has := a.Has(fd)
		if has != b.Has(fd) || has && !sameValue(fd, a.Get(fd), b.Get(fd)) {
			return false
		}
	}
	return true
}

// sameOptional compares two nodes either of which may be absent.
func sameOptional(a, b *pg_query.Node) bool {
	return (a == nil) == (b == nil) && (a == nil || sameNode(a.ProtoReflect(), b.ProtoReflect()))
}

// ignoredField is a field the parser fills from where a token stands in
// the text: a node's location, a statement's offset and length.
func ignoredField(fd protoreflect.FieldDescriptor) bool {
	switch fd.Name() {
	case "location", "stmt_location", "stmt_len":
		return fd.Kind() == protoreflect.Int32Kind
	}
	return false
}

// sameValue compares one field's values in two messages of one type.
func sameValue(fd protoreflect.FieldDescriptor, a, b protoreflect.Value) bool {
	switch {
	case fd.IsMap():
		return false // pg_query's tree has no maps; never call one equal
	case fd.IsList():
		la, lb := a.List(), b.List()
		if la.Len() != lb.Len() {
			return false
		}
		for i := 0; i < la.Len(); i++ {
			if !sameElement(fd, la.Get(i), lb.Get(i)) {
				return false
			}
		}
		return true
	}
	return sameElement(fd, a, b)
}

// sameElement compares one value of fd's kind.
func sameElement(fd protoreflect.FieldDescriptor, a, b protoreflect.Value) bool {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return sameNode(a.Message(), b.Message())
	case protoreflect.BytesKind:
		return bytes.Equal(a.Bytes(), b.Bytes())
	case protoreflect.StringKind:
		return a.String() == b.String()
	case protoreflect.BoolKind:
		return a.Bool() == b.Bool()
	case protoreflect.EnumKind:
		return a.Enum() == b.Enum()
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind, protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		return a.Int() == b.Int()
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return a.Uint() == b.Uint()
	}
	return a.Interface() == b.Interface() // floats: pg_query's tree has none
}

// sameNodes compares two lists of nodes.
func sameNodes(a, b []*pg_query.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameOptional(a[i], b[i]) {
			return false
		}
	}
	return true
}
