package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// loadProtection reads the policy file and loads every key it names from
// the configured provider. Any failure stops serve: phiguard never starts
// in front of a database it was told to protect without the means to.
func loadProtection(ctx context.Context, cfg config.Config, reg prometheus.Registerer, log *zap.Logger) (*proxy.Protection, error) {
	pol, err := policy.Load(cfg.PolicyFile)
	if err != nil {
		return nil, err
	}
	if err := pol.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.PolicyFile, err)
	}
	provider, err := keysconfig.Provider(cfg.Keys, reg)
	if err != nil {
		return nil, err
	}
	if err := keysconfig.Reachable(ctx, provider); err != nil {
		return nil, err
	}
	kr, err := keysconfig.Load(ctx, provider)
	if err != nil {
		return nil, err
	}
	ids := keysconfig.KeyIDs(pol)
	if missing := keysconfig.Missing(kr, ids); len(missing) > 0 {
		return nil, fmt.Errorf("the policy names keys the provider does not hold: %s (run phiguard keys init)", strings.Join(missing, ", "))
	}
	log.Info("protection loaded", zap.String("policy", cfg.PolicyFile), zap.String("policy_version", pol.Version()),
		zap.Int("tables", len(pol.Tables())), zap.Int("keys", len(ids)), zap.String("key_provider", cfg.Keys.Provider))
	return &proxy.Protection{Policy: pol, Keyring: kr}, nil
}
