package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/phiguard/phiguard/backfill"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
)

// keysRetire removes a key version once no cell needs it. The provider
// cannot know; the database can, so the check scans every column of the
// policy that uses the key, and refuses while a single cell remains.
func keysRetire(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("retire", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (backend:, keys:, policy_file)")
	policyPath := fs.String("policy", "", "policy file (default: the configuration's policy_file)")
	keyID := fs.String("key", "", "the key id")
	version := fs.Uint("version", 0, "the version to remove")
	if code, ok := keysFlags(fs, args, stderr); !ok {
		return code
	}
	if *keyID == "" || *version == 0 {
		fmt.Fprintln(stderr, "phiguard keys retire: --key and --version are required")
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "phiguard keys retire: --config is required")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env, code := openBackfillEnv(ctx, "keys retire", *path, *policyPath, stderr)
	if env == nil {
		return code
	}
	defer env.conn.Close(context.Background())
	if *keyID == env.cfg.Audit.KeyID {
		fmt.Fprintf(stderr, "phiguard keys retire: %s is the audit chain's key; its old versions verify old audit files and are never retired\n", *keyID)
		return 1
	}
	if *keyID == keys.SubjectKeyID {
		// Its version 1 derives every subject's tag, and each later version
		// wraps the subject keys created while it was the write version;
		// phiguard does not re-wrap stored subject keys, so no version of
		// it is ever unused.
		fmt.Fprintf(stderr, "phiguard keys retire: %s is crypto-shredding's key: version 1 names every subject key and each version wraps the subject keys created under it; it is never retired\n", *keyID)
		return 1
	}
	r, ok := env.provider.(keys.Retirer)
	if !ok {
		fmt.Fprintf(stderr, "phiguard keys retire: %v cannot retire key versions\n", env.provider)
		return 1
	}
	v := uint32(*version)
	var have []uint32
	for _, st := range env.kr.Status() {
		if st.ID == *keyID {
			for _, vs := range st.Versions {
				have = append(have, vs.Version)
			}
		}
	}
	if err := keys.CheckRetire(*keyID, v, have); err != nil {
		fmt.Fprintf(stderr, "phiguard keys retire: %v\n", err)
		return 1
	}
	cs, err := backfill.KeyCensus(ctx, env.conn, env.pol, *keyID)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard keys retire: cannot check the database, so nothing was retired: %v\n", err)
		return 1
	}
	cols := make([]string, 0, len(cs))
	for c := range cs {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	for _, c := range cols {
		fmt.Fprintf(stdout, "%-32s %s\n", c, cs[c])
	}
	if err := backfill.CheckRetire(cs, *keyID, v); err != nil {
		fmt.Fprintf(stderr, "phiguard keys retire: %v\n", err)
		return 1
	}
	if err := backfill.CheckRetireTerms(env.pol, cs, *keyID, v); err != nil {
		fmt.Fprintf(stderr, "phiguard keys retire: %v\n", err)
		return 1
	}
	if err := r.Retire(ctx, *keyID, v); err != nil {
		fmt.Fprintf(stderr, "phiguard keys retire: %v\n", keysconfig.Explain(env.provider, err))
		return 1
	}
	fmt.Fprintf(stdout, "retired %s version %d: no cell in %d column(s) used it; running phiguard instances hold it in memory until they restart\n", *keyID, v, len(cs))
	return 0
}
