package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/phiguard/phiguard/config"
)

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file to validate (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "phiguard check: --config is required")
		return 2
	}
	if _, err := loadConfig(*path); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK\n", *path)
	return 0
}

// loadConfig reads and validates a configuration; an empty path means the
// defaults. Every problem is in the returned error, one per line.
func loadConfig(path string) (config.Config, error) {
	cfg := config.Default()
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return cfg, err
		}
	}
	if err := cfg.Validate(); err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			return cfg, ps
		}
		return cfg, err
	}
	return cfg, nil
}
