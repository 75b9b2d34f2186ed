// Command layercheck enforces phiguard's import rules (DESIGN.md, Layout):
// which package may import which, so that the wire, the guard, the
// rewriter, the keys and the policy stay apart as the code grows. `make
// lint` runs it; it exits 1 and names every import that breaks a rule.
//
// A rule says that packages matching From must not import packages
// matching To (a path prefix, after the module path), unless the importer
// is listed in Except with the reason it is tolerated for now.
package main
