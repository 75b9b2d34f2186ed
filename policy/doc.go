// Package policy will own the DBA's YAML model of protected columns, roles,
// row filters and masks, its validation, and the per-session decisions built
// from it.
//
// The foundation release forwards every statement unchanged, so this package
// holds no rules yet. sqlrewrite depends on policy's types only.
package policy
