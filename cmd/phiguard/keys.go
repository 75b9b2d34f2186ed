package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/keys/vault"
	"github.com/phiguard/phiguard/sqlrewrite"
)

const keysUsage = `usage: phiguard keys <command> [flags]

Manages the data keys of the provider the configuration's keys: section
names (a local keyring file, or Vault). No command prints key bytes.

  init --config FILE [--policy FILE] [--key ID]...
        create version 1 of every key id the policy names (policy_file, or
        --policy) and of each --key; ids that exist are left alone
  rotate --config FILE --key ID [--key ID]...
        add a version to each key id; it becomes the write version at once,
        and cells under older versions stay readable
  retire --config FILE --key ID --version V [--policy FILE]
        remove an old version for good, after checking, in the database the
        configuration's backend: names, that no column using the key still
        holds a cell of it (run encrypt --reencrypt first)
  status --config FILE [--policy FILE] [--json]
        list key ids, versions, the write version and creation times; with a
        policy, exit 1 if it names an id that does not exist
  master-key
        print a new random master key for the local provider

Exit status: 0 on success, 1 when the provider fails (unreachable, sealed,
permission denied, wrong master key ...), 2 on a usage error.
`

// keysTimeout bounds one `phiguard keys` command as a whole; keys/vault's
// timeout bounds each request within it.
const keysTimeout = 2 * time.Minute

func runKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	switch args[0] {
	case "init":
		return keysInit(args[1:], stdout, stderr)
	case "rotate":
		return keysRotate(args[1:], stdout, stderr)
	case "status":
		return keysStatus(args[1:], stdout, stderr)
	case "retire":
		return keysRetire(args[1:], stdout, stderr)
	case "master-key":
		return keysMasterKey(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, keysUsage)
		return 0
	}
	fmt.Fprintf(stderr, "phiguard keys: unknown command %q\n\n%s", args[0], keysUsage)
	return 2
}

// keyIDList is a repeatable --key flag.
type keyIDList []string

func (l *keyIDList) String() string { return strings.Join(*l, ",") }

func (l *keyIDList) Set(s string) error {
	if err := keys.ValidateKeyID(s); err != nil {
		return err
	}
	*l = append(*l, s)
	return nil
}

// keysFlags parses a subcommand's flags; ok false means exit with code.
func keysFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, keysUsage)
		fmt.Fprintf(stderr, "\nflags of keys %s:\n", fs.Name())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "phiguard keys %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// openProvider loads the configuration and builds its provider.
func openProvider(cmd, path string, stderr io.Writer) (config.Config, keys.Provider, int) {
	if path == "" {
		fmt.Fprintf(stderr, "phiguard keys %s: --config is required\n", cmd)
		return config.Config{}, nil, 2
	}
	cfg, err := loadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard keys %s: %s: %v\n", cmd, path, err)
		return cfg, nil, 1
	}
	p, err := keysconfig.Provider(cfg.Keys, nil)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard keys %s: %s: %v\n", cmd, path, err)
		return cfg, nil, 1
	}
	return cfg, p, 0
}

// policyKeyIDs returns the key ids of the policy at path, or of the
// configuration's policy_file when path is empty (nil, nil if neither).
func policyKeyIDs(cfg config.Config, path string) ([]string, string, error) {
	if path == "" {
		path = cfg.PolicyFile
	}
	if path == "" {
		return nil, "", nil
	}
	pol, err := sqlrewrite.LoadPolicy(path)
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		return nil, path, fmt.Errorf("%s: %w", path, err)
	}
	return append(keysconfig.KeyIDs(pol), auditKeyIDs(cfg)...), path, nil
}

// auditKeyIDs is the audit chain's key id, when serve will audit (it does
// whenever a policy is loaded and the audit sink is not none).
func auditKeyIDs(cfg config.Config) []string {
	if cfg.Audit.Sink == config.AuditSinkNone || cfg.Audit.KeyID == "" {
		return nil
	}
	return []string{cfg.Audit.KeyID}
}

func keysInit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (its keys: section)")
	policyPath := fs.String("policy", "", "policy file whose key ids to create (default: the configuration's policy_file)")
	createKEK := fs.Bool("create-transit-key", false, "vault: also create the transit key (KEK) if it does not exist")
	var extra keyIDList
	fs.Var(&extra, "key", "a key id to create as well (repeatable)")
	if code, ok := keysFlags(fs, args, stderr); !ok {
		return code
	}
	cfg, p, code := openProvider("init", *path, stderr)
	if p == nil {
		return code
	}
	ids, _, err := policyKeyIDs(cfg, *policyPath)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard keys init: %v\n", err)
		return 1
	}
	ids = append(ids, extra...)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		fmt.Fprintln(stderr, "phiguard keys init: no key ids: the configuration names no policy_file; give --policy or --key")
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), keysTimeout)
	defer cancel()
	if err := keysconfig.Reachable(ctx, p); err != nil {
		fmt.Fprintf(stderr, "phiguard keys init: %v\n", err)
		return 1
	}
	if *createKEK {
		vp, ok := p.(*vault.Provider)
		if !ok {
			fmt.Fprintln(stderr, "phiguard keys init: --create-transit-key needs keys.provider: vault")
			return 2
		}
		if err := vp.EnsureTransitKey(ctx); err != nil {
			fmt.Fprintf(stderr, "phiguard keys init: %v\n", keysconfig.Explain(p, err))
			return 1
		}
	}
	created, err := p.Init(ctx, ids)
	for _, id := range created {
		fmt.Fprintf(stdout, "created %s version 1\n", id)
	}
	if err != nil {
		fmt.Fprintf(stderr, "phiguard keys init: %v\n", keysconfig.Explain(p, err))
		return 1
	}
	for _, id := range ids {
		if !slices.Contains(created, id) {
			fmt.Fprintf(stdout, "exists  %s\n", id)
		}
	}
	fmt.Fprintf(stdout, "%d created, %d already present, in %v\n", len(created), len(ids)-len(created), p)
	return 0
}

func keysRotate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rotate", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (its keys: section)")
	var ids keyIDList
	fs.Var(&ids, "key", "the key id to rotate (repeatable)")
	if code, ok := keysFlags(fs, args, stderr); !ok {
		return code
	}
	if len(ids) == 0 {
		fmt.Fprintln(stderr, "phiguard keys rotate: --key is required")
		return 2
	}
	_, p, code := openProvider("rotate", *path, stderr)
	if p == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), keysTimeout)
	defer cancel()
	if err := keysconfig.Reachable(ctx, p); err != nil {
		fmt.Fprintf(stderr, "phiguard keys rotate: %v\n", err)
		return 1
	}
	for _, id := range ids {
		v, err := p.Rotate(ctx, id)
		if err != nil {
			fmt.Fprintf(stderr, "phiguard keys rotate: %s: %v\n", id, keysconfig.Explain(p, err))
			return 1
		}
		fmt.Fprintf(stdout, "rotated %s: version %d is the write version; older versions stay readable\n", id, v)
	}
	return 0
}

func keysStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (its keys: section)")
	policyPath := fs.String("policy", "", "policy file whose key ids must exist (default: the configuration's policy_file)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if code, ok := keysFlags(fs, args, stderr); !ok {
		return code
	}
	cfg, p, code := openProvider("status", *path, stderr)
	if p == nil {
		return code
	}
	want, polFile, err := policyKeyIDs(cfg, *policyPath)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard keys status: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), keysTimeout)
	defer cancel()
	if err := keysconfig.Reachable(ctx, p); err != nil {
		fmt.Fprintf(stderr, "phiguard keys status: %v\n", err)
		return 1
	}
	sts, err := p.Status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard keys status: %v\n", keysconfig.Explain(p, err))
		return 1
	}
	var missing []string
	for _, id := range want {
		if !slices.ContainsFunc(sts, func(s keys.KeyStatus) bool { return s.ID == id }) {
			missing = append(missing, id)
		}
	}

	if *asJSON {
		out := struct {
			Provider string           `json:"provider"`
			Keys     []keys.KeyStatus `json:"keys"`
			Missing  []string         `json:"missing,omitempty"`
		}{fmt.Sprint(p), sts, missing}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "phiguard keys status: %v\n", err)
			return 1
		}
	} else {
		fmt.Fprintf(stdout, "%v\n", p)
		var table strings.Builder
		tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY ID\tVERSION\tCREATED\t")
		for _, st := range sts {
			for _, v := range st.Versions {
				mark := ""
				if v.Version == st.WriteVersion {
					mark = "write"
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", st.ID, v.Version, v.Created.UTC().Format(time.RFC3339), mark)
			}
		}
		for _, id := range missing {
			fmt.Fprintf(tw, "%s\t-\t-\tmissing\n", id)
		}
		tw.Flush()
		for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
			fmt.Fprintln(stdout, strings.TrimRight(line, " "))
		}
		if len(sts) == 0 && len(missing) == 0 {
			fmt.Fprintln(stdout, "no keys yet (phiguard keys init creates them)")
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "phiguard keys status: %s names %d key id(s) that do not exist: %s (phiguard keys init creates them)\n",
			polFile, len(missing), strings.Join(missing, ", "))
		return 1
	}
	return 0
}

func keysMasterKey(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("master-key", flag.ContinueOnError)
	if code, ok := keysFlags(fs, args, stderr); !ok {
		return code
	}
	mk, err := local.GenerateMasterKey()
	if err != nil {
		fmt.Fprintf(stderr, "phiguard keys master-key: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, mk)
	fmt.Fprintf(stderr, "Keep this master key in the environment variable %s (or the one keys.local.master_key_env names), "+
		"or in a file of mode 0600 named by keys.local.master_key_file; never in the configuration file or beside the keyring file. "+
		"Whoever holds both can read every protected column; without it the keyring cannot be opened.\n", local.MasterKeyEnv)
	return 0
}
