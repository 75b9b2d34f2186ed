package sqlrewrite

import "google.golang.org/protobuf/reflect/protoreflect"

// rangeFields calls f for every populated field of m in field-number
// order, as m.Range would but for its order: protobuf-go's Range order is
// deliberately unspecified and varies from one build to another (its
// internal/detrand), so a walker over it visits a statement's parts in an
// order that depends on the binary, and the first refusal it records, the
// one the client sees, named SortBy in one build and count() in another.
// It costs a Has per declared field, so it is for messages with few
// fields (the encryption planner's children, which stops at each Node);
// a walk through every Node (whose oneof declares some 250) keeps Range.
func rangeFields(m protoreflect.Message, f func(protoreflect.FieldDescriptor, protoreflect.Value) bool) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		if !f(fd, m.Get(fd)) {
			return
		}
	}
}
