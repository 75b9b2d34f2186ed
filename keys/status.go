package keys

import "time"

// KeyStatus describes one key id: its versions and which one Encrypt
// uses. It carries no key bytes, so it may be printed and logged.
type KeyStatus struct {
	ID           string          `json:"id"`
	WriteVersion uint32          `json:"write_version"`
	Versions     []VersionStatus `json:"versions"`
}

// VersionStatus describes one version of a key id.
type VersionStatus struct {
	Version uint32    `json:"version"`
	Created time.Time `json:"created"`
}
