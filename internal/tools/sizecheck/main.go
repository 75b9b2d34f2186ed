package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
)

const (
	maxFileLines = 600
	maxFuncLines = 80
)

func main() {
	var over []string
	for _, dir := range os.Args[1:] {
		o, err := check(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sizecheck:", err)
			os.Exit(2)
		}
		over = append(over, o...)
	}
	for _, o := range over {
		fmt.Println(o)
	}
	if len(over) > 0 {
		fmt.Printf("sizecheck: %d over the limits (files %d lines, functions %d)\n", len(over), maxFileLines, maxFuncLines)
		os.Exit(1)
	}
}

// check lists what in one package directory is over the limits.
func check(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var over []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			return nil, err
		}
		if n := fset.Position(af.End()).Line; n > maxFileLines {
			over = append(over, fmt.Sprintf("%s: %d lines", f, n))
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > maxFuncLines {
				over = append(over, fmt.Sprintf("%s: func %s: %d lines", fset.Position(fd.Pos()), fd.Name.Name, n))
			}
		}
	}
	return over, nil
}
