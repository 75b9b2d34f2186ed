package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/phiguard/phiguard/admin"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
)

func runServe(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (default: built-in defaults)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard serve: %v\n", err)
		return 1
	}
	log, err := newLogger(cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard serve: %v\n", err)
		return 1
	}
	defer log.Sync()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, cfg, log, nil); err != nil {
		log.Error("phiguard stopped", zap.Error(err))
		return 1
	}
	return 0
}

// serve runs the proxy and admin listener until ctx is cancelled, then
// shuts down gracefully within cfg.ShutdownTimeout. When ready is not nil
// it receives the proxy's listen address once connections are accepted.
func serve(ctx context.Context, cfg config.Config, log *zap.Logger, ready chan<- net.Addr) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var opts []proxy.Option

	var prot *protection
	if cfg.PolicyFile != "" {
		var err error
		if prot, err = loadProtection(ctx, cfg, reg, log); err != nil {
			return err
		}
		opts = append(opts, proxy.WithProtection(prot.prot))
		if a := prot.auditor; a != nil {
			opts = append(opts, proxy.WithAuditor(a))
			defer func() {
				closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := a.Close(closeCtx); err != nil {
					log.Error("audit trail not closed cleanly", zap.Error(err))
				}
			}()
		}
	}
	srv, err := proxy.New(cfg, log, reg, opts...)
	if err != nil {
		return err
	}
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if prot != nil {
		watchCtx, stopWatch := context.WithCancel(ctx)
		var watched sync.WaitGroup
		watched.Go(func() { watchPolicy(watchCtx, srv, cfg.PolicyFile, prot.keys, log) })
		watched.Go(func() { prot.keys.Run(watchCtx) })
		defer func() { stopWatch(); watched.Wait() }()
	}

	var adminSrv *http.Server
	if cfg.Admin != "" {
		adminLn, err := net.Listen("tcp", cfg.Admin)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listener on %s: %w", cfg.Admin, err)
		}
		ready, err := admin.NewReadiness(readiness(srv, prot), reg, readinessReasons...)
		if err != nil {
			ln.Close()
			adminLn.Close()
			return err
		}
		adminSrv = admin.NewServer(cfg.Admin, admin.Handler(reg, ready.Check, log, cfg.AdminPprof))
		go func() {
			if err := adminSrv.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin listener: %w", err)
			}
		}()
	}
	log.Info("phiguard listening", zap.String("version", version), zap.Stringer("addr", ln.Addr()),
		zap.String("admin", cfg.Admin), zap.String("backend", net.JoinHostPort(cfg.Backend.Host, fmt.Sprint(cfg.Backend.Port))))
	if ready != nil {
		ready <- ln.Addr()
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", zap.Duration("timeout", cfg.ShutdownTimeout.Std()))
	case runErr = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Std())
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("sessions still open at the shutdown deadline were closed", zap.Error(err))
	}
	if adminSrv != nil {
		adminSrv.Shutdown(shutCtx)
	}
	log.Info("phiguard stopped")
	return runErr
}
