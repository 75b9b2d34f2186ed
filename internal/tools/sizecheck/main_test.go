package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckFindsALongFunction(t *testing.T) {
	dir := t.TempDir()
	body := "package x\n\nfunc long() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines) + "}\n\nfunc short() {}\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	over, err := check(dir)
	if err != nil || len(over) != 1 || !strings.Contains(over[0], "func long") {
		t.Fatalf("check: %v %v", over, err)
	}
}
