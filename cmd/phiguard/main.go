package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "run the proxy", runServe},
		{"check", "validate a configuration file and print every problem", runCheck},
		{"explain", "show what a role's access rules make of one SQL text", runExplain},
		{"keys", "create, rotate, retire and list data keys (init | rotate | retire | status | master-key)", runKeys},
		{"shred", "destroy a data subject's key: crypto-shredding (--subject ID --reason TEXT)", runShred},
		{"encrypt", "encrypt existing plaintext in place, online and resumable (--reencrypt: move cells to the new key version)", runEncrypt},
		{"search", "install or remove the functions, indexes and CHECK of database-side search terms (install | uninstall)", runSearch},
		{"decrypt", "turn a table's encrypted columns back into plaintext, online and resumable", runDecrypt},
		{"audit", "verify an audit log's HMAC chain, or report accesses by subject or user", runAudit},
		{"demo", "start a throwaway PostgreSQL with a demo EHR schema and phiguard in front of it", runDemo},
		{"version", "print the version", runVersion},
	}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "phiguard: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: phiguard <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'phiguard <command> -h' for a command's flags.")
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "phiguard %s\n", version)
	return 0
}
