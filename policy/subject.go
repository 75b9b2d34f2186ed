package policy

// PerSubject reports whether the column's cells are sealed under a key of
// each row's data subject (crypto-shredding): randomized columns of a table
// that names a subject column. Deterministic columns stay under their
// column key, because equality search must find a value whichever subject
// it belongs to (docs/design/crypto-shredding.md).
func (c *ProtectedColumn) PerSubject() bool {
	return c.Mode == ModeRandomized && c.Table != nil && c.Table.SubjectColumn != ""
}

// SubjectQualifiedName is the table's subject column as schema.table.column,
// for messages; "" when it names none.
func (t *ProtectedTable) SubjectQualifiedName() string {
	if t.SubjectColumn == "" {
		return ""
	}
	return t.Name.String() + "." + t.SubjectColumn
}
