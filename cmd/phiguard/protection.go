package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// loadProtection reads the policy file and loads every key it names from
// the configured provider. Any failure stops serve: phiguard never starts
// in front of a database it was told to protect without the means to.
func loadProtection(ctx context.Context, cfg config.Config, reg prometheus.Registerer, log *zap.Logger) (*proxy.Protection, *audit.Auditor, error) {
	pol, err := policy.Load(cfg.PolicyFile)
	if err != nil {
		return nil, nil, err
	}
	if err := pol.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", cfg.PolicyFile, err)
	}
	provider, err := keysconfig.Provider(cfg.Keys, reg)
	if err != nil {
		return nil, nil, err
	}
	if err := keysconfig.Reachable(ctx, provider); err != nil {
		return nil, nil, err
	}
	kr, err := keysconfig.Load(ctx, provider)
	if err != nil {
		return nil, nil, err
	}
	ids := append(keysconfig.KeyIDs(pol), auditKeyIDs(cfg)...)
	if missing := keysconfig.Missing(kr, ids); len(missing) > 0 {
		return nil, nil, fmt.Errorf("the policy and audit name keys the provider does not hold: %s (run phiguard keys init)", strings.Join(missing, ", "))
	}
	auditor, err := openAuditor(cfg, kr, reg, log)
	if err != nil {
		return nil, nil, err
	}
	if auditor != nil {
		for _, id := range ids {
			v, _ := kr.WriteVersion(id)
			if err := auditor.Record(&audit.KeyEvent{Action: "load", KeyID: id, Version: v}); err != nil {
				return nil, nil, err
			}
		}
	}
	log.Info("protection loaded", zap.String("policy", cfg.PolicyFile), zap.String("policy_version", pol.Version()),
		zap.Int("tables", len(pol.Tables())), zap.Int("keys", len(ids)), zap.String("key_provider", cfg.Keys.Provider))
	return &proxy.Protection{Policy: pol, Keyring: kr}, auditor, nil
}

// openAuditor starts the audit trail, its HMAC chain keyed from the
// keyring's audit key; nil when the sink is none.
func openAuditor(cfg config.Config, kr *keys.Keyring, reg prometheus.Registerer, log *zap.Logger) (*audit.Auditor, error) {
	if cfg.Audit.Sink == config.AuditSinkNone {
		log.Warn("audit.sink is none: statements are not recorded")
		return nil, nil
	}
	dk, err := kr.DataKey(cfg.Audit.KeyID)
	if err != nil {
		return nil, err
	}
	key, err := audit.DeriveKey(dk)
	if err != nil {
		return nil, err
	}
	return audit.Open(cfg.Audit, key, log, reg)
}
