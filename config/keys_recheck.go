package config

import "time"

// Defaults of the key providers' re-validation (the kill switch,
// docs/kill-switch.md).
const (
	DefaultKeysRecheck      = 30 * time.Second
	DefaultKeysOfflineGrace = 15 * time.Minute
)

// RecheckInterval is how often the serving proxy asks its key provider
// again whether it may still hold its keys: keys.vault.recheck or
// keys.local.recheck, default 30s.
func (k Keys) RecheckInterval() time.Duration {
	d := k.Local.Recheck
	if k.Provider == KeysProviderVault {
		d = k.Vault.Recheck
	}
	if d == 0 {
		return DefaultKeysRecheck
	}
	return d.Std()
}

// OfflineGracePeriod is how long keys unwrapped earlier stay in use while
// Vault cannot be reached or is sealed: keys.vault.offline_grace, default
// 15m; 0 withdraws them at the first failed recheck. The local provider
// has no outage: every failure to read its files withdraws the keys.
func (k Keys) OfflineGracePeriod() time.Duration {
	if k.Provider != KeysProviderVault {
		return 0
	}
	if k.Vault.OfflineGrace == nil {
		return DefaultKeysOfflineGrace
	}
	return k.Vault.OfflineGrace.Std()
}

func checkRecheck(add func(string, string, ...any), name string, d Duration) {
	if d < 0 || d != 0 && d.Std() < time.Second || d.Std() > time.Hour {
		add(name, "must be between 1s and 1h (default %s)", DefaultKeysRecheck)
	}
}

func checkOfflineGrace(add func(string, string, ...any), d *Duration) {
	if d != nil && (*d < 0 || d.Std() > 24*time.Hour) {
		add("keys.vault.offline_grace", "must be between 0 (withdraw the keys at once) and 24h (default %s)", DefaultKeysOfflineGrace)
	}
}
