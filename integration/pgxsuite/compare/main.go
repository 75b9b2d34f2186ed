package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	var (
		directPath   = flag.String("direct", "", "go test -json output of the run against PostgreSQL (required)")
		proxiedPath  = flag.String("proxied", "", "go test -json output of the run through phiguard")
		expectedPath = flag.String("expected", "", "file of expected differences, one test per line with a # reason")
		module       = flag.String("module", "github.com/jackc/pgx/v5", "module path trimmed from package names")
	)
	flag.Parse()
	if *directPath == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	failed, err := run(os.Stdout, *directPath, *proxiedPath, *expectedPath, *module)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// run does the work of main and reports whether the comparison failed.
func run(w io.Writer, directPath, proxiedPath, expectedPath, module string) (bool, error) {
	direct, err := parseFile(directPath, module)
	if err != nil {
		return false, err
	}
	if proxiedPath == "" {
		printDirectOnly(w, direct)
		return direct.count()[Fail] > 0, nil
	}
	proxied, err := parseFile(proxiedPath, module)
	if err != nil {
		return false, err
	}
	var expected []Expectation
	if expectedPath != "" {
		f, err := os.Open(expectedPath)
		if err != nil {
			return false, err
		}
		expected, err = ParseExpected(f)
		f.Close()
		if err != nil {
			return false, fmt.Errorf("%s: %w", expectedPath, err)
		}
	}
	rep := Compare(direct, proxied, expected)
	printReport(w, rep)
	return rep.Unexplained > 0, nil
}

func parseFile(path, module string) (*Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := Parse(f, module)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
