package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/keys/keywatch"
	"github.com/phiguard/phiguard/sqlrewrite"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// protection is what serve protects with: the policy and keys, the audit
// trail, and the kill switch that keeps the keys in step with the key
// provider.
type protection struct {
	prot    *guard.Protection
	auditor *audit.Auditor // nil when audit.sink is none
	keys    *keywatch.Watcher
}

// loadProtection reads the policy file and loads every key it names from
// the configured provider. Any failure stops serve: phiguard never starts
// in front of a database it was told to protect without the means to.
func loadProtection(ctx context.Context, cfg config.Config, reg prometheus.Registerer, log *zap.Logger) (_ *protection, err error) {
	pol, err := sqlrewrite.LoadPolicy(cfg.PolicyFile)
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
	ids := append(keysconfig.KeyIDs(pol), auditKeyIDs(cfg)...)
	if missing := keysconfig.Missing(kr, ids); len(missing) > 0 {
		return nil, fmt.Errorf("the policy and audit name keys the provider does not hold: %s (run phiguard keys init)", strings.Join(missing, ", "))
	}
	if missing := keysconfig.MissingSearchVersions(kr, pol); len(missing) > 0 {
		return nil, fmt.Errorf("the policy names key versions the provider does not hold: %s", strings.Join(missing, ", "))
	}
	subjects, err := keysconfig.SubjectKeys(cfg.Keys, provider, kr, pol)
	if err != nil {
		return nil, err
	}
	auditor, err := openAuditor(cfg, kr, reg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && auditor != nil {
			// Release the chain's lock for whoever starts next.
			closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			auditor.Close(closeCtx)
		}
	}()
	if auditor != nil {
		for _, id := range ids {
			v, _ := kr.WriteVersion(id)
			if err = auditor.Record(&audit.KeyEvent{Action: "load", KeyID: id, Version: v}); err != nil {
				return nil, err
			}
		}
	}
	log.Info("protection loaded", zap.String("policy", cfg.PolicyFile), zap.String("policy_version", pol.Version()),
		zap.Int("tables", len(pol.Tables())), zap.Int("keys", len(ids)), zap.String("key_provider", cfg.Keys.Provider))
	prot := &guard.Protection{Policy: pol, Keyring: kr, Subjects: subjects, ShreddedMarker: cfg.Keys.Subjects.ShreddedMarker}
	w, err := watchKeys(cfg, provider, kr, ids, prot, auditor, reg, log)
	if err != nil {
		return nil, err
	}
	return &protection{prot: prot, auditor: auditor, keys: w}, nil
}

// watchKeys builds the kill switch (package keys/keywatch): it re-validates
// the keys with the provider on keys.*.recheck and swaps what it learns
// into prot: a fresh keyring (with subject keys built over it again), or
// a withdrawn one, after which provider forgets the keys it held too.
// Each change is audited as a key event per key id.
func watchKeys(cfg config.Config, provider keys.Provider, kr *keys.Keyring, ids []string, prot *guard.Protection,
	auditor *audit.Auditor, reg prometheus.Registerer, log *zap.Logger) (*keywatch.Watcher, error) {
	m, err := keywatch.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	apply := func(kr *keys.Keyring) {
		if kr.Withdrawal() != nil {
			prot.SwapKeys(kr, nil)
			keysconfig.Forget(provider)
			return
		}
		subjects, err := keysconfig.SubjectKeys(cfg.Keys, provider, kr, prot.Policy)
		if err != nil {
			log.Error("subject keys not rebuilt over the re-validated keyring: per-subject columns are refused", zap.Error(err))
		}
		prot.SwapKeys(kr, subjects)
	}
	event := func(ev keywatch.Event) {
		if auditor == nil {
			return
		}
		for i, id := range ev.KeyIDs {
			rec := &audit.KeyEvent{Action: ev.Action, KeyID: id, Error: ev.Reason}
			if i < len(ev.Versions) {
				rec.Version = ev.Versions[i]
			}
			if err := auditor.Record(rec); err != nil {
				log.Warn("audit record of a key event rejected", zap.String("action", ev.Action), zap.Error(err))
			}
		}
	}
	return keywatch.New(kr, keywatch.Options{
		Revalidate: keysconfig.Revalidator(cfg.Keys, provider),
		Required:   ids,
		Interval:   cfg.Keys.RecheckInterval(),
		Grace:      cfg.Keys.OfflineGracePeriod(),
		Timeout:    cfg.Keys.Vault.Timeout.Std(),
		Apply:      apply,
		Event:      event,
		Log:        log.Named("keys"),
		Metrics:    m,
	})
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
