package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/phiguard/phiguard/keys/keywatch"
	"github.com/phiguard/phiguard/proxy"
	"go.uber.org/zap"
)

// policyPollInterval is how often serve looks at the policy file's size
// and modification time.
const policyPollInterval = 2 * time.Second

// watchPolicy reloads the policy on SIGHUP and whenever the file's size or
// modification time changes, until ctx ends. A rejected file is logged by
// the server and the policy in force stays; the file is not read again
// until it changes again (or the next SIGHUP). SIGHUP also has the keys
// re-validated at once (keys/keywatch).
func watchPolicy(ctx context.Context, srv *proxy.Server, path string, keys *keywatch.Watcher, log *zap.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(policyPollInterval)
	defer tick.Stop()
	last := fileStamp(path)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP: reloading the policy and re-validating the keys", zap.String("policy", path))
			keys.Trigger()
			last = fileStamp(path)
			srv.ReloadPolicyFile(path)
		case <-tick.C:
			if st := fileStamp(path); st != last {
				last = st
				log.Info("policy file changed: reloading", zap.String("policy", path))
				srv.ReloadPolicyFile(path)
			}
		}
	}
}

type stamp struct {
	size int64
	mod  time.Time
	ok   bool
}

func fileStamp(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{size: fi.Size(), mod: fi.ModTime(), ok: true}
}
